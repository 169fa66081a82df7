/* Server options: defaults, the config file, RKSERVE_* variables and flags,
 * in that order of strength; duration and size syntax; refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"

static char *write_file(const char *text)
{
    char *path = strdup("/tmp/rkserve-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static int load(rk_config *c, char **argv, char **envp, char *err)
{
    int argc = 0;
    while (argv && argv[argc]) argc++;
    return config_load(c, argc, argv, envp, err, 512);
}

static void test_defaults(void **state)
{
    (void)state;
    rk_config c;
    char err[512];
    char *argv[] = {"serve", NULL};
    char *envp[] = {"HOME_IS_NOT_READ_HERE=1", NULL};
    assert_int_equal(load(&c, argv, envp, err), 0);
    assert_string_equal(c.host, "127.0.0.1");
    assert_int_equal(c.port, 8080);
    assert_int_equal(c.keep_alive_ms, 5 * 60 * 1000);
    assert_int_equal(c.parallel, 1);
    assert_int_equal(c.max_queue, 512);
    assert_int_equal(c.max_body, 32u << 20);
    assert_null(c.api_key);
    assert_null(c.cors_origin);
    config_free(&c);
}

static void test_precedence(void **state)
{
    (void)state;
    char *file = write_file("{\"port\": 1111, \"host\": \"0.0.0.0\", \"parallel\": 3, \"keep_alive\": \"1h\","
                            " \"models\": [\"/f1\", \"/f2\"], \"api_key\": \"from-file\", \"verbose\": true}");
    char cfgenv[128];
    snprintf(cfgenv, sizeof cfgenv, "RKSERVE_CONFIG=%s", file);
    rk_config c;
    char err[512];

    /* file only */
    char *argv0[] = {"serve", NULL};
    char *env0[] = {cfgenv, NULL};
    assert_int_equal(load(&c, argv0, env0, err), 0);
    assert_int_equal(c.port, 1111);
    assert_string_equal(c.host, "0.0.0.0");
    assert_int_equal(c.parallel, 3);
    assert_int_equal(c.keep_alive_ms, 3600 * 1000);
    assert_int_equal(c.n_model_dirs, 2);
    assert_string_equal(c.model_dirs[1], "/f2");
    assert_true(c.verbose);
    config_free(&c);

    /* the environment beats the file */
    char *env1[] = {cfgenv, "RKSERVE_PORT=2222", "RKSERVE_MODELS=/e1:/e2:/e3", NULL};
    assert_int_equal(load(&c, argv0, env1, err), 0);
    assert_int_equal(c.port, 2222);
    assert_int_equal(c.parallel, 3);
    assert_int_equal(c.n_model_dirs, 3);
    assert_string_equal(c.model_dirs[0], "/e1");
    config_free(&c);

    /* flags beat both; a repeated list flag accumulates */
    char *argv2[] = {"serve", "--port", "3333", "--models", "/a", "--models=/b", "--api-key=flag", NULL};
    assert_int_equal(load(&c, argv2, env1, err), 0);
    assert_int_equal(c.port, 3333);
    assert_int_equal(c.n_model_dirs, 2);
    assert_string_equal(c.model_dirs[0], "/a");
    assert_string_equal(c.model_dirs[1], "/b");
    assert_string_equal(c.api_key, "flag");
    assert_string_equal(c.config_file, file);
    config_free(&c);

    /* --config on the command line instead of the environment */
    char *argv3[] = {"serve", "--config", file, NULL};
    assert_int_equal(load(&c, argv3, NULL, err), 0);
    assert_int_equal(c.port, 1111);
    assert_string_equal(c.api_key, "from-file");
    config_free(&c);
    unlink(file);
    free(file);
}

static void test_host_with_port(void **state)
{
    (void)state;
    rk_config c;
    char err[512];
    char *env[] = {"RKSERVE_HOST=0.0.0.0:11434", NULL};
    char *argv0[] = {"serve", NULL};
    assert_int_equal(load(&c, argv0, env, err), 0);
    assert_string_equal(c.host, "0.0.0.0");
    assert_int_equal(c.port, 11434);
    config_free(&c);
    char *argv1[] = {"serve", "--port", "9000", NULL}; /* an explicit --port wins */
    assert_int_equal(load(&c, argv1, env, err), 0);
    assert_int_equal(c.port, 9000);
    config_free(&c);
    char *argv2[] = {"serve", "--host", "[::1]:7000", NULL};
    assert_int_equal(load(&c, argv2, NULL, err), 0);
    assert_string_equal(c.host, "::1");
    assert_int_equal(c.port, 7000);
    config_free(&c);
    char *argv3[] = {"serve", "--host", "::", NULL};
    assert_int_equal(load(&c, argv3, NULL, err), 0);
    assert_string_equal(c.host, "::");
    assert_int_equal(c.port, 8080);
    config_free(&c);
    char *argv4[] = {"serve", "--host", "http://localhost:81/", NULL};
    assert_int_equal(load(&c, argv4, NULL, err), 0);
    assert_string_equal(c.host, "localhost");
    assert_int_equal(c.port, 81);
    config_free(&c);
    char *argv5[] = {"serve", "--host", "localhost:http", NULL};
    assert_int_equal(load(&c, argv5, NULL, err), -1);
    config_free(&c);
}

static void test_refusals(void **state)
{
    (void)state;
    rk_config c;
    char err[512];
    char *bad_port[] = {"serve", "--port", "70000", NULL};
    assert_int_equal(load(&c, bad_port, NULL, err), -1);
    assert_non_null(strstr(err, "--port"));
    config_free(&c);
    char *unknown[] = {"serve", "--prot", "1", NULL};
    assert_int_equal(load(&c, unknown, NULL, err), -1);
    assert_non_null(strstr(err, "--prot"));
    config_free(&c);
    char *missing[] = {"serve", "--port", NULL};
    assert_int_equal(load(&c, missing, NULL, err), -1);
    config_free(&c);
    char *stray[] = {"serve", "extra", NULL};
    assert_int_equal(load(&c, stray, NULL, err), -1);
    config_free(&c);
    char *env_bad[] = {"RKSERVE_KEEP_ALIVE=soon", NULL};
    char *argv0[] = {"serve", NULL};
    assert_int_equal(load(&c, argv0, env_bad, err), -1);
    assert_non_null(strstr(err, "RKSERVE_KEEP_ALIVE"));
    config_free(&c);

    char *f1 = write_file("{\"port\": 1, \"nonsense\": 2}");
    char *argv1[] = {"serve", "--config", f1, NULL};
    assert_int_equal(load(&c, argv1, NULL, err), -1);
    assert_non_null(strstr(err, "nonsense"));
    config_free(&c);
    char *f2 = write_file("{\"port\": 1,\n \"host\": }");
    char *argv2[] = {"serve", "--config", f2, NULL};
    assert_int_equal(load(&c, argv2, NULL, err), -1);
    assert_non_null(strstr(err, ":2:")); /* line 2 */
    config_free(&c);
    char *argv4[] = {"serve", "--config", "/nonexistent/rkserve.json", NULL};
    assert_int_equal(load(&c, argv4, NULL, err), -1);
    config_free(&c);
    unlink(f1);
    unlink(f2);
    free(f1);
    free(f2);
}

static void test_help(void **state)
{
    (void)state;
    rk_config c;
    char err[512];
    char *argv[] = {"serve", "--help", NULL};
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w");
    int rc = load(&c, argv, NULL, err);
    fclose(stdout);
    stdout = saved;
    assert_int_equal(rc, 1);
    config_free(&c);
    /* the usage names every option with its variable */
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    config_usage(m);
    fclose(m);
    const char *names[] = {"--host", "RKSERVE_HOST", "--port", "--models", "RKSERVE_MODELS", "--api-key", "--keep-alive",
                           "--max-queue", "--parallel", "--ctx", "--threads", "--config", "--cors", "--chat-template",
                           "--memory-budget", "RKSERVE_MEMORY_BUDGET", "--max-body", "--timeout"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) assert_non_null(strstr(buf, names[i]));
    free(buf);
}

static void test_durations(void **state)
{
    (void)state;
    struct {
        const char *s;
        int64_t ms;
    } ok[] = {{"5m", 300000},    {"1h", 3600000},   {"30s", 30000}, {"250ms", 250},  {"1h30m", 5400000},
              {"300", 300000},   {"2.5", 2500},     {"0", 0},       {"0s", 0},       {"-1", RK_KEEP_FOREVER},
              {"-5m", RK_KEEP_FOREVER}, {" 10 ", 10000}, {"1.5h", 5400000}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t ms = 12345;
        assert_true(config_parse_duration(ok[i].s, &ms));
        assert_int_equal(ms, ok[i].ms);
    }
    const char *bad[] = {"", "m", "5x", "5 m", "1h30", "abc", "--1", "1e400"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms;
        assert_false(config_parse_duration(bad[i], &ms));
    }
}

static void test_sizes(void **state)
{
    (void)state;
    struct {
        const char *s;
        uint64_t b;
    } ok[] = {{"512", 512}, {"64K", 65536}, {"32M", 32u << 20}, {"8G", 8ull << 30}, {"1.5G", 3ull << 29},
              {"2MiB", 2u << 20}, {"10kb", 10240}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t b = 0;
        assert_true(config_parse_size(ok[i].s, &b));
        assert_int_equal(b, ok[i].b);
    }
    const char *bad[] = {"", "G", "-1", "5Q", "1e30G", "12 34"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t b;
        assert_false(config_parse_size(bad[i], &b));
    }
    rk_config c;
    char err[512];
    char *argv[] = {"serve", "--memory-budget", "auto", "--max-body", "1K", NULL};
    assert_int_equal(load(&c, argv, NULL, err), 0);
    assert_int_equal(c.memory_budget, 0);
    assert_int_equal(c.max_body, 1024);
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),  cmocka_unit_test(test_precedence), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_help),      cmocka_unit_test(test_durations),  cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_host_with_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
