/* Prompt cache files: names, atomic metadata round trip, listing, state
 * file recognition and deletion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/prompt_cache.h"

static void test_names(void **state)
{
    (void)state;
    assert_true(prompt_cache_valid_name("system"));
    assert_true(prompt_cache_valid_name("a-b_c.1"));
    assert_false(prompt_cache_valid_name(""));
    assert_false(prompt_cache_valid_name(".hidden"));
    assert_false(prompt_cache_valid_name("../x"));
    assert_false(prompt_cache_valid_name("a/b"));
    char long_name[80];
    memset(long_name, 'a', 65);
    long_name[65] = 0;
    assert_false(prompt_cache_valid_name(long_name));
    char *d = prompt_cache_model_dir("/c", "qwen3:0.6b");
    assert_string_equal(d, "/c/qwen3_0.6b");
    free(d);
    d = prompt_cache_model_dir("/c", "..");
    assert_string_equal(d, "/c/_.");
    free(d);
    assert_true(prompt_cache_is_state_of("rules-0123456789abcdef.state", "rules"));
    assert_false(prompt_cache_is_state_of("a-b-0123456789abcdef.state", "a"));
    assert_false(prompt_cache_is_state_of("rules-0123456789abcdef.state.tmp", "rules"));
    assert_false(prompt_cache_is_state_of("rules-0123456789ABCDEF.state", "rules"));
}

static void touch(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_round_trip(void **state)
{
    (void)state;
    char base[] = "/tmp/rkcache-XXXXXX";
    assert_non_null(mkdtemp(base));
    char *dir = prompt_cache_model_dir(base, "m:1");
    char err[256];
    prompt_cache_meta m = {.version = 3, .created_at = 10, .updated_at = 20, .n_tokens = 42};
    snprintf(m.name, sizeof m.name, "b");
    m.content = "second";
    prompt_cache_hash(m.content, m.prompt_hash);
    snprintf(m.engine, sizeof m.engine, "cpu");
    assert_int_equal(prompt_cache_write(dir, &m, err, sizeof err), 0);
    snprintf(m.name, sizeof m.name, "a");
    m.content = "first \"quoted\"\nline";
    assert_int_equal(prompt_cache_write(dir, &m, err, sizeof err), 0);

    prompt_cache_meta got;
    assert_int_equal(prompt_cache_read(dir, "a", &got, err, sizeof err), 0);
    assert_string_equal(got.content, "first \"quoted\"\nline");
    assert_int_equal(got.version, 3);
    assert_int_equal(got.n_tokens, 42);
    assert_string_equal(got.engine, "cpu");
    assert_int_equal(strlen(got.prompt_hash), 64);
    prompt_cache_meta_clear(&got);
    assert_int_equal(prompt_cache_read(dir, "zzz", &got, err, sizeof err), 1);
    touch(dir, "bad.json", "{not json");
    assert_int_equal(prompt_cache_read(dir, "bad", &got, err, sizeof err), -1);

    prompt_cache_meta *list;
    int n = prompt_cache_list(dir, &list);
    assert_int_equal(n, 2); /* the unreadable one is left out */
    assert_string_equal(list[0].name, "a");
    assert_string_equal(list[1].name, "b");
    for (int i = 0; i < n; i++) prompt_cache_meta_clear(&list[i]);
    free(list);

    touch(dir, "a-0123456789abcdef.state", "12345");
    touch(dir, "a-b-0123456789abcdef.state", "1");
    assert_int_equal(prompt_cache_state_bytes(dir, "a"), 5);
    assert_int_equal(prompt_cache_delete(dir, "a"), 0);
    assert_int_equal(prompt_cache_delete(dir, "a"), 1);
    assert_int_equal(prompt_cache_state_bytes(dir, "a"), 0);
    char keep[512];
    snprintf(keep, sizeof keep, "%s/a-b-0123456789abcdef.state", dir);
    assert_int_equal(access(keep, F_OK), 0); /* another cache's state stays */

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    assert_int_equal(system(cmd), 0);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
