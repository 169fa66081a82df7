/* Model registry: finds the models a server can offer and the names users
 * call them by.
 *
 * Where it looks
 *   - Each models directory (default ~/.rkserve/models), recursively to a
 *     depth of 4 below it. Hidden files and directories are skipped;
 *     symlinked directories are followed once (a loop is not re-entered).
 *   - The Hugging Face hub cache: hf_hub_dir, else $HF_HUB_CACHE, else
 *     $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 *     ~/.cache/huggingface/hub ("" turns it off). In each
 *     models--OWNER--NAME the snapshot that refs/main names is used, else the
 *     newest one; its files are usually symlinks into blobs/.
 *   The same file reached twice (hard link, symlink, directory listed twice)
 *   is listed once, from the place found first (directories in the order
 *   given, then the hub cache).
 *
 * What it lists
 *   - *.gguf language models. A GGUF whose general.architecture is "clip" or
 *     whose file name starts with "mmproj" is a vision projector, not a model.
 *     A split GGUF (NAME-00001-of-00003.gguf) is listed once, from its first
 *     shard, with split set and a warning (the CPU engine loads only single
 *     files). An unreadable GGUF is listed with error set.
 *   - *.rkllm NPU models (a GGUF renamed .rkllm is read for its metadata).
 *   - Companions in the model's directory: mmproj*.gguf (or clip GGUFs) for
 *     a GGUF model, *.rknn for an .rkllm model. With several candidates the
 *     ones whose file name contains the model's base name are preferred;
 *     .rknn files that differ only by a number are shards, in numeric order;
 *     otherwise the first by name is used and a warning names the choice.
 *   - Sidecars: <stem>.json or <file>.json beside the model (stem: the file
 *     name without .gguf/.rkllm and without a split suffix), else a
 *     directory's model.json (any case: MODEL.json) when that directory
 *     holds exactly one model.
 *     Fields: name, aliases (string list), chat_template (text) or
 *     chat_template_file (path relative to the sidecar), vision {preset,
 *     mmproj | rknn: path or list of shard paths} (false or null: no vision),
 *     context (int), cpu_mask (int, "0xF0", or a list of CPU numbers),
 *     npu_cores (int), parameters (object), system (text). A sidecar that
 *     does not parse, or a field of the wrong type, becomes a warning on the
 *     model, which stays listed.
 *   - Copies: a *.json in a models directory with a "from" field (path of a
 *     model file, relative to the JSON's directory or absolute) is another
 *     name for that model: it gets the model's own settings, then the copy's
 *     fields on top. registry_copy writes these.
 *
 * Names (lower case; always unique)
 *   GGUF: base from general.basename, else general.name, else the file name;
 *   tag from general.size_label, else a size in that name ("0.6B", "135M",
 *   "8x7B"), else "latest": "qwen3:0.6b", "smollm2:135m".
 *   .rkllm: from the file name, split at '-' (and '_', '.'): tokens before
 *   the first size token form the base, the tag is size-quant:
 *   Qwen3-0.6B-w8a8-opt0-hybrid0-npu3-ctx4096-rk3588.rkllm -> qwen3:0.6b-w8a8
 *   with context 4096 (ctxNNNN or ctxNNk), NPU cores 3 (npuN) and target
 *   rk3588; optN / hybridN are ignored; tokens after the size are dropped.
 *   A sidecar "name" ("name" or "name:tag") wins over all of these.
 *   When derived names collide, every colliding one gets "-QUANT" appended
 *   ("qwen3:0.6b-q4_k_m"; quant from general.file_type, llama.cpp's
 *   LLAMA_FTYPE numbering, else the file name, else the most common weight
 *   type), then "-ctxN" (from the file name), then "-2", "-3"... in path
 *   order, with a warning. Base names keep [a-z0-9._-]; other runs become '-'.
 *
 * Resolution (case-insensitive), first rule that matches:
 *   1. the full name; "NAME" alone means "NAME:latest";
 *   2. an alias (sidecar aliases; for hub models "OWNER/NAME",
 *      "hf.co/OWNER/NAME" and "hf.co/OWNER/NAME:QUANT"; "huggingface.co/"
 *      counts as "hf.co/");
 *   3. the file name, with or without its extension (or split suffix);
 *   4. a base name alone ("qwen3", or "qwen3:latest" as some clients send
 *      it) when exactly one model has it;
 *   5. a name that is a prefix of exactly one model's name up to a '-' in its
 *      tag ("qwen3:0.6b" -> "qwen3:0.6b-w8a8").
 *   Several matches at the first matching rule are REGISTRY_AMBIGUOUS, and
 *   the message lists them. Resolution never builds a path from the name.
 *
 * Digest: SHA-256 (hex) of the model's path, total size and modification
 * time in nanoseconds: stable while the file is unchanged, cheap to compute,
 * not a hash of the contents. Copies share the digest of their model.
 *
 * Threads: entries are immutable and reference counted. A scan builds a new
 * list and swaps it in; readers holding a snapshot or an entry keep it
 * valid until they release it. Every function may be called from any thread.
 */
#ifndef RK_REGISTRY_H
#define RK_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { REGISTRY_FORMAT_GGUF, REGISTRY_FORMAT_RKLLM } registry_format;

typedef enum {
    REGISTRY_VISION_NONE,
    REGISTRY_VISION_MMPROJ, /* vision[] holds GGUF projector file(s) */
    REGISTRY_VISION_RKNN,   /* vision[] holds .rknn encoder shard(s), in order */
} registry_vision_kind;

typedef enum {
    REGISTRY_CTX_UNKNOWN,
    REGISTRY_CTX_METADATA, /* {arch}.context_length */
    REGISTRY_CTX_FILENAME, /* ctxNNNN in the file name */
    REGISTRY_CTX_SIDECAR,
} registry_ctx_source;

typedef enum {
    REGISTRY_OK = 0,
    REGISTRY_NOT_FOUND,    /* no model by that name */
    REGISTRY_AMBIGUOUS,    /* several models match; err lists them */
    REGISTRY_INVALID_NAME, /* a name that may not be used (copy target) */
    REGISTRY_EXISTS,       /* copy target name already taken */
    REGISTRY_FORBIDDEN,    /* remove outside the models directories, e.g. hub cache */
    REGISTRY_IN_USE,       /* remove of a model that copies still point to */
    REGISTRY_IO_ERROR,
    REGISTRY_NO_MEMORY,
} registry_status;

/* Strings are NUL-terminated; optional ones are NULL when absent. */
typedef struct registry_entry {
    const char *name;      /* unique "base:tag" */
    const char *base;
    const char *tag;
    const char *path;      /* model file (first shard of a split GGUF) as found */
    const char *file_name; /* last component of path */
    registry_format format;
    bool gguf_content;     /* the file is GGUF (always for .gguf; a GGUF renamed .rkllm) */
    uint64_t size;         /* bytes, all shards together */
    int64_t mtime_sec;     /* modification time of the model file */
    int32_t mtime_nsec;
    char digest[65];       /* see "Digest" above */
    const char *arch;      /* general.architecture */
    const char *family;    /* arch, else the first word of the base name */
    const char *param_label; /* "0.6B": size_label, size in the name, else from tensor shapes */
    uint64_t n_params;     /* counted from tensor shapes (GGUF), 0 if unknown */
    const char *quant;     /* "Q4_K_M", "W8A8", "W4A16_G128" */
    const char *target;    /* NPU platform from an .rkllm file name, e.g. "rk3588" */
    int64_t context;       /* 0 when unknown */
    registry_ctx_source context_source;
    bool split;
    int n_shards;                  /* 1 unless split */
    const char *const *shards;     /* n_shards paths, in order (shards[0] == path) */
    registry_vision_kind vision_kind;
    int n_vision;
    const char *const *vision;     /* companion paths */
    const char *vision_preset;     /* sidecar vision.preset */
    /* sidecar */
    const char *sidecar;           /* the model file's own sidecar (a copy has it too) */
    int n_aliases;
    const char *const *aliases;    /* as written, lower case */
    const char *chat_template;     /* chat_template, or chat_template_file's contents */
    const char *system;
    const char *parameters_json;   /* "parameters" object as compact JSON text */
    uint32_t cpu_mask;             /* 0: not set */
    int npu_cores;                 /* 0: not set (sidecar, else npuN in the name) */
    /* where it came from */
    const char *models_dir;        /* the models directory or hub snapshot it was found under */
    const char *hf_repo;           /* "OWNER/NAME" for hub cache models */
    const char *hf_revision;
    const char *copy_file;         /* for a copy: the JSON that defines it */
    const char *error;             /* set when the file cannot be loaded as listed */
    int n_warnings;
    const char *const *warnings;
} registry_entry;

typedef struct registry registry;
typedef struct registry_snapshot registry_snapshot;

/* dirs: models directories (n_dirs 0: ~/.rkserve/models); a leading "~/" is
 * expanded, relative paths are made absolute. hf_hub_dir: NULL to take it
 * from the environment, "" for none. Does not scan. NULL when out of memory. */
registry *registry_new(const char *const *dirs, int n_dirs, const char *hf_hub_dir);
void registry_free(registry *r);
int registry_n_dirs(const registry *r);
const char *registry_dir(const registry *r, int i);
const char *registry_hf_hub_dir(const registry *r); /* NULL when none */

/* Rescans everything and swaps the new list in. Returns the number of
 * models, or -1 (with a message) when out of memory; missing or unreadable
 * directories are snapshot warnings, not errors. */
int registry_scan(registry *r, char *err, size_t errlen);
int registry_count(registry *r);

/* The current list, sorted by name, held until released. */
registry_snapshot *registry_snapshot_get(registry *r);
void registry_snapshot_release(registry_snapshot *s);
int registry_snapshot_count(const registry_snapshot *s);
const registry_entry *registry_snapshot_at(const registry_snapshot *s, int i);
/* Scan-wide notes: missing directories, broken copies, renamed collisions. */
int registry_snapshot_n_warnings(const registry_snapshot *s);
const char *registry_snapshot_warning(const registry_snapshot *s, int i);
/* Resolution within a snapshot; *out is valid while s is held. */
registry_status registry_snapshot_resolve(const registry_snapshot *s, const char *name,
                                          const registry_entry **out, char *err, size_t errlen);

/* Resolution in the current list; *out is retained: release it. */
registry_status registry_resolve(registry *r, const char *name, const registry_entry **out,
                                 char *err, size_t errlen);
const registry_entry *registry_entry_retain(const registry_entry *e);
void registry_entry_release(const registry_entry *e);

/* Ollama's DELETE /api/delete. A copy: deletes its JSON only. A model:
 * refused for hub cache models (the hub tools own that cache) and for files
 * whose directory is not inside a models directory (a symlinked directory
 * pointing elsewhere), and while copies point to it; otherwise deletes the
 * file and its shards, its own sidecar, and the companions and model.json
 * that no other model uses. Rescans on success. */
registry_status registry_remove(registry *r, const char *name, char *err, size_t errlen);

/* Ollama's POST /api/copy: no bytes are copied. Writes a copy JSON
 * {"name": DST, "from": PATH} named BASE@TAG.json into the first models
 * directory (created if needed; PATH relative when the model lies below
 * it), carrying the fields of the source when it is itself a copy. DST must
 * pass registry_name_valid and not resolve by name or alias already.
 * Rescans on success. */
registry_status registry_copy(registry *r, const char *src, const char *dst, char *err,
                              size_t errlen);

/* A name that may become a file name: 1-128 bytes of [A-Za-z0-9._-] with at
 * most one ':', base and tag non-empty, not starting with '.' or '-', no
 * "..", no NUL within len. */
bool registry_name_valid(const char *name, size_t len);

const char *registry_format_name(registry_format f);     /* "gguf", "rkllm" */
const char *registry_status_name(registry_status s);

#endif
