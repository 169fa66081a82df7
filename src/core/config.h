/* Server options. Every option comes from a command-line flag, an RKSERVE_*
 * environment variable or a JSON config file; a flag beats the environment,
 * which beats the file, which beats the default. One table in config.c
 * names each option in all three places, so --help, the parser and the docs
 * cannot drift apart. */
#ifndef RK_CONFIG_H
#define RK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RK_KEEP_FOREVER INT64_MIN /* a keep-alive that never expires */

typedef struct {
    char *host;
    int port;
    char **model_dirs;
    int n_model_dirs;
    char *api_key;            /* NULL: no key required */
    int64_t keep_alive_ms;    /* RK_KEEP_FOREVER, 0 (unload when idle) or a duration */
    int max_queue;            /* waiting requests per model before 503 */
    int parallel;             /* sessions (KV slots) per model */
    int ctx;                  /* context length; 0: the model's, at most 4096 */
    int threads;              /* compute threads per model; 0: one per core */
    char *cors_origin;        /* NULL: no CORS headers */
    char *chat_template_file; /* Jinja template used for every model instead of its own */
    char *cache_dir;          /* prompt caches (default ~/.rkserve/cache) */
    char *rkllm_lib;          /* librkllmrt.so to load (NULL: $RKLLM_LIB, then the library path) */
    char *vision_presets_file; /* more vision presets (JSON), added to the shipped ones */
    char *image_dirs;         /* ':'-separated directories image paths may come from; NULL: none */
    bool allow_image_urls;    /* fetch http(s) image URLs */
    uint64_t max_image_bytes; /* encoded size of one image */
    uint64_t memory_budget;   /* bytes for loaded models; 0: three quarters of RAM */
    uint64_t max_body;        /* bytes of a request body */
    int max_connections;
    int timeout_s;            /* idle seconds before a connection is dropped */
    bool verbose;             /* one log line per request */
    char *config_file;
} rk_config;

void config_defaults(rk_config *c);
void config_free(rk_config *c);

/* Fills c from defaults, the config file (--config or RKSERVE_CONFIG), the
 * environment (envp, NULL-terminated "NAME=value" strings; NULL means
 * none) and argv (argv[0] is the command name). Returns 0, 1 when --help
 * was given (usage printed to stdout), or -1 with the reason in err. */
int config_load(rk_config *c, int argc, char **argv, char **envp, char *err, size_t errlen);

void config_usage(FILE *out);

/* Ollama duration strings: "5m", "1h30m", "250ms", "30s", a bare number of
 * seconds ("300", "2.5"); any negative value means forever
 * (RK_KEEP_FOREVER). Returns false when s is not a duration. */
bool config_parse_duration(const char *s, int64_t *ms);

/* Byte sizes: "512", "64K", "32M", "8G", "1.5G" (powers of 1024, an
 * optional trailing "B" or "iB"). */
bool config_parse_size(const char *s, uint64_t *bytes);

#endif
