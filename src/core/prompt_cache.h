/* Named prompt caches on disk (POST/GET/DELETE /v1/cache/{model}, and
 * cache_prompts on chat requests). A cache is a text that conversations
 * start with (placed in the system message), plus the engine's saved
 * session state after that text was prefilled, so using it skips the
 * prefill: seed 002 measured TTFT 1775 ms -> 75 ms on the NPU.
 *
 * Layout: DIR/MODEL/NAME.json holds the metadata and the text;
 * DIR/MODEL/NAME-KEY.state the engine's state file, KEY hashing the prefix
 * it holds, the model file and the engine (the scheduler names and builds
 * it; the engine's own header identifies the model and carries a checksum,
 * so a corrupt state is refused and rebuilt). Both are written to a temporary name
 * and renamed, so a reader never sees half a file. The cache named
 * "system" goes first in every conversation that uses caches. */
#ifndef RK_PROMPT_CACHE_H
#define RK_PROMPT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROMPT_CACHE_SYSTEM "system"

typedef struct {
    char name[65];
    char *content;            /* the cached text (malloc'd) */
    int64_t version;          /* 1, then +1 at each overwrite */
    int64_t created_at;       /* Unix seconds */
    int64_t updated_at;
    char prompt_hash[65];     /* SHA-256 (hex) of the content */
    char engine[16];          /* engine that built the state */
    char model_digest[65];    /* the registry digest of the model it was built for */
    int64_t n_tokens;         /* tokens of the prefix the state holds (0: no state yet) */
} prompt_cache_meta;

/* Names: 1..64 of [A-Za-z0-9_.-], not starting with '.'. */
bool prompt_cache_valid_name(const char *name);

/* DIR/MODEL with the model name made a safe directory name (':' and '/'
 * become '_'). malloc'd, NULL when out of memory. */
char *prompt_cache_model_dir(const char *cache_dir, const char *model);
/* Creates the directory and its parents. 0, or -1 with errno. */
int prompt_cache_make_dir(const char *dir);

/* 0 with *out filled, 1 when there is no such cache, -1 with err (a
 * metadata file that cannot be read or parsed). */
int prompt_cache_read(const char *model_dir, const char *name, prompt_cache_meta *out, char *err, size_t errlen);
/* Writes the metadata atomically, creating the directories. 0 or -1. */
int prompt_cache_write(const char *model_dir, const prompt_cache_meta *m, char *err, size_t errlen);
/* Every cache of a model, sorted by name; *out malloc'd (free each with
 * prompt_cache_meta_clear, then the array). Returns the count (0 when the
 * directory does not exist) or -1. */
int prompt_cache_list(const char *model_dir, prompt_cache_meta **out);
/* Removes the metadata and state. 0, 1 when there was none, -1 on error. */
int prompt_cache_delete(const char *model_dir, const char *name);
void prompt_cache_meta_clear(prompt_cache_meta *m);

/* The state file of a cache for a key text (what the state depends on):
 * DIR/NAME-<16 hex of its SHA-256>.state, malloc'd. */
char *prompt_cache_state_path(const char *model_dir, const char *name, const char *key_text);
/* Removes the cache's state files but keep (a path, or NULL for all). */
void prompt_cache_remove_states(const char *model_dir, const char *name, const char *keep);
/* Whether a file name is a state of the cache: NAME-<16 hex>.state. */
bool prompt_cache_is_state_of(const char *file, const char *name);
/* Bytes of the cache's state file(s) in the directory (0: none). */
uint64_t prompt_cache_state_bytes(const char *model_dir, const char *name);

/* SHA-256 hex of a text. */
void prompt_cache_hash(const char *text, char out[65]);

#endif
