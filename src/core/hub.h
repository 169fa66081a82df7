/* Pulling models from the Hugging Face hub (or any HTTP server) into a
 * models directory, the way `ollama pull` feels: one reference in, a model
 * the registry lists out.
 *
 * References
 *   hf.co/OWNER/REPO            the repository's best file for this board
 *   hf.co/OWNER/REPO:TAG        the model file whose name contains TAG
 *                               (case-insensitive; ":latest" means no tag)
 *   hf.co/OWNER/REPO/FILE       that file (FILE may contain '/')
 *   huggingface.co/... and https://huggingface.co/OWNER/REPO[/resolve|blob/REV/FILE]
 *                               the same
 *   https://HOST/PATH/NAME.gguf one file from anywhere (http:// too)
 *
 * Choice of file (repository references without FILE)
 *   Model files are *.rkllm and *.gguf other than mmproj*.gguf. A TAG keeps
 *   those whose name contains it, as a whole word first ("Q4_0" is not
 *   "Q4_0_4_4"), else anywhere. Then .rkllm files win when there are any:
 *   those naming this board's SoC (rk3588, rk3576, ...), else those naming
 *   none (not on a board: those naming none, else rk3588), w8a8 before
 *   w4a16 before the rest by name; a repository whose .rkllm files are all
 *   for other SoCs is an error unless a TAG or FILE picks one. Among GGUFs the first quantisation of
 *   Q4_K_M, Q4_0, Q8_0, Q4_K_S, Q5_K_M, Q5_0, Q6_K, Q3_K_M, IQ4_XS, Q2_K,
 *   F16, BF16, F32 present wins, else the first by name. A split GGUF
 *   (NAME-00001-of-00003.gguf) brings all its shards.
 *   Companions for vision: mmproj*.gguf in the GGUF's directory (F16, then
 *   Q8_0, BF16, F32, else the first by name), or the .rknn files beside an
 *   .rkllm (those naming the SoC, else those naming none; several that
 *   differ only by numbers are shards and all come along, else the first).
 *
 * Where files go: MODELS/hf.co/OWNER/REPO/NAME for the hub, MODELS/HOST/NAME
 * for other URLs, with NAME the file's last path component. Each download
 * goes to NAME.partial first (which the registry ignores), resumes from it,
 * is checked against the SHA-256 the hub publishes (tree listing lfs.oid,
 * else X-Linked-Etag/ETag), and is renamed into place only when complete.
 * The model gets a sidecar <stem>.json (merged with one already there):
 * aliases "hf.co/OWNER/REPO[:latest]" (no TAG given) and
 * "hf.co/OWNER/REPO:TAG", vision companions, and "_pull": {source, repo,
 * revision, file, sha256, size, pulled_at}.
 *
 * Environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (else
 * HUGGING_FACE_HUB_TOKEN, else the token file of $HF_HOME or
 * ~/.cache/huggingface) sent as "Authorization: Bearer", and
 * RKSERVE_DT_COMPATIBLE: the device-tree compatible file to read the SoC
 * from (default /proc/device-tree/compatible).
 */
#ifndef RK_HUB_H
#define RK_HUB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { HUB_REF_REPO, HUB_REF_URL } hub_ref_kind;

typedef struct {
    hub_ref_kind kind;
    char owner[128];
    char repo[128];
    char file[512];     /* "" when the file is to be chosen */
    char tag[64];       /* "" when none */
    char revision[128]; /* "main" unless the URL names one */
    char url[2048];     /* HUB_REF_URL: the file's URL */
    char host[256];     /* HUB_REF_URL: its host (with port) */
} hub_ref;

/* 0, or -1 with the reason. */
int hub_ref_parse(const char *ref, hub_ref *out, char *err, size_t errlen);

/* One file of a repository listing. */
typedef struct {
    char *path;
    uint64_t size;
    char sha256[65]; /* "" when the hub gave none (non-LFS files) */
} hub_file;

typedef struct {
    int model;        /* index of the model file (the first shard when split) */
    int n_parts;      /* model file plus further shards */
    int parts[64];
    int n_vision;
    int vision[16];
} hub_choice;

/* Picks from files[n] as described above. soc: "rk3588", or "" when not
 * known. 0, or -1 with the reason (404-like: nothing fits). */
int hub_choose(const hub_file *files, int n, const char *soc, const char *tag, const char *file,
               hub_choice *out, char *err, size_t errlen);

/* The board's SoC as .rkllm file names spell it ("rk3588" for an RK3588S
 * too), from the device tree; "" when not a Rockchip board. */
void hub_board_soc(char *out, size_t cap);
/* The same from the text of a compatible file (NUL-separated strings). */
void hub_soc_from_compatible(const char *data, size_t len, char *out, size_t cap);

/* A whole-word, case-insensitive occurrence of word in name: not preceded
 * by a letter or digit, not followed by one or by '_'. */
bool hub_name_has_word(const char *name, const char *word);

/* ---- the pull ------------------------------------------------------- */

typedef enum {
    HUB_EV_MANIFEST, /* listing the repository */
    HUB_EV_FILE,     /* bytes of one file: total (0 unknown), completed */
    HUB_EV_VERIFY,   /* checking SHA-256 digests */
    HUB_EV_WRITE,    /* writing the sidecar */
    HUB_EV_SUCCESS,
    HUB_EV_NOTE,     /* text: which file was chosen, a file already present */
} hub_event_kind;

typedef struct {
    hub_event_kind kind;
    const char *file;   /* HUB_EV_FILE: the file's name */
    const char *digest; /* HUB_EV_FILE: "sha256:HEX" when known, else NULL */
    uint64_t total, completed;
    const char *text;   /* HUB_EV_NOTE */
} hub_event;

/* Returns false to cancel the pull (the partial file stays for a resume). */
typedef bool (*hub_progress_fn)(void *ctx, const hub_event *ev);

typedef struct {
    const char *ref;
    const char *models_dir;
    const char *endpoint; /* NULL: $HF_ENDPOINT, else https://huggingface.co */
    const char *token;    /* NULL: from the environment (see above) */
    const char *soc;      /* NULL: hub_board_soc() */
    hub_progress_fn progress;
    void *ctx;
} hub_pull_opts;

typedef struct {
    char model_path[4096];
    char sidecar_path[4096];
} hub_pull_result;

/* Runs a pull. 0 on success; otherwise an HTTP status that classes the
 * failure (401 token needed, 403 token refused, 404 no such repository or
 * file, 400 bad reference, 409 the same file is being pulled already, 499
 * cancelled, 502 network or server failure or a digest mismatch, 507 disk
 * full, 500 anything else) with the reason in err. */
int hub_pull(const hub_pull_opts *o, hub_pull_result *res, char *err, size_t errlen);

/* The hub token from the environment, or NULL. malloc'd. */
char *hub_token_from_env(void);

/* Writes the model's sidecar <stem>.json beside model_path, merging with
 * one already there: aliases are added (no duplicates), "vision" is set to
 * {vision_key: files} when n_vision > 0 (names relative to the sidecar),
 * "_pull" is replaced by pull (reference stolen). Written to a temporary
 * file and renamed. A sidecar that is not a JSON object is left alone (-1,
 * err says so). path gets the sidecar's path. */
int hub_sidecar_write(const char *model_path, const char *const *aliases, int n_aliases, const char *vision_key,
                      const char *const *vision, int n_vision, json_t *pull, char *path, size_t pathlen,
                      char *err, size_t errlen);

#endif
