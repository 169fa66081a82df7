/* rkserve pull REF: downloads a model into the models directory (the one
 * `rkserve serve` uses, from the same flag, environment and config file),
 * then says what the registry calls it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/config.h"
#include "core/hub.h"
#include "core/registry.h"

extern char **environ;

typedef struct {
    bool tty, quiet;
    const char *file;  /* the file the bar is for */
    int last_decile;   /* plain output: the last 10% step printed */
    double t0;         /* monotonic seconds when the file started */
    uint64_t done0;    /* bytes present when it started (a resume) */
    bool bar_open;     /* a \r line waits for its newline */
} view;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void human(uint64_t n, char *out, size_t cap)
{
    if (n >= (1ull << 30)) snprintf(out, cap, "%.2f GiB", (double)n / (1 << 30));
    else if (n >= (1ull << 20)) snprintf(out, cap, "%.1f MiB", (double)n / (1 << 20));
    else if (n >= 1024) snprintf(out, cap, "%.1f KiB", (double)n / 1024);
    else snprintf(out, cap, "%" PRIu64 " B", n);
}

static void close_bar(view *v)
{
    if (v->bar_open) fputc('\n', stderr);
    v->bar_open = false;
}

static void show_file(view *v, const hub_event *ev)
{
    if (!v->file || strcmp(v->file, ev->file)) { /* a new file */
        close_bar(v);
        v->file = ev->file;
        v->last_decile = -1;
        v->t0 = now_s();
        v->done0 = ev->completed;
    }
    char done[32], total[32];
    human(ev->completed, done, sizeof done);
    human(ev->total, total, sizeof total);
    int pct = ev->total ? (int)(ev->completed * 100 / ev->total) : 0;
    if (v->tty) {
        double dt = now_s() - v->t0;
        char rate[32] = "";
        if (dt > 0.5 && ev->completed > v->done0) {
            human((uint64_t)((double)(ev->completed - v->done0) / dt), rate, sizeof rate);
            strcat(rate, "/s");
        }
        char bar[31];
        int fill = ev->total ? (int)(ev->completed * 30 / ev->total) : 0;
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : ' ';
        bar[30] = 0;
        if (ev->total)
            fprintf(stderr, "\rpulling %s %3d%% [%s] %s / %s %s\033[K", ev->file, pct, bar, done, total, rate);
        else
            fprintf(stderr, "\rpulling %s %s %s\033[K", ev->file, done, rate);
        v->bar_open = true;
        if (ev->total && ev->completed == ev->total) close_bar(v);
        return;
    }
    int decile = ev->total ? pct / 10 : 0;
    if (decile == v->last_decile && !(ev->total && ev->completed == ev->total && v->last_decile < 10)) return;
    v->last_decile = ev->completed == ev->total && ev->total ? 10 : decile;
    if (ev->total)
        fprintf(stderr, "pulling %s: %d%% (%s of %s)\n", ev->file, pct, done, total);
    else
        fprintf(stderr, "pulling %s: %s\n", ev->file, done);
}

static bool on_event(void *ctx, const hub_event *ev)
{
    view *v = ctx;
    if (v->quiet) return true;
    switch (ev->kind) {
    case HUB_EV_MANIFEST: fprintf(stderr, "pulling manifest\n"); break;
    case HUB_EV_NOTE:
        close_bar(v);
        fprintf(stderr, "%s\n", ev->text);
        break;
    case HUB_EV_FILE: show_file(v, ev); break;
    case HUB_EV_VERIFY:
        close_bar(v);
        fprintf(stderr, "verifying sha256 digest\n");
        break;
    case HUB_EV_WRITE: fprintf(stderr, "writing sidecar\n"); break;
    case HUB_EV_SUCCESS: fprintf(stderr, "success\n"); break;
    }
    return true;
}

/* The registry's view of the new file: its name and aliases. */
static void print_name(const char *models_dir, const char *model_path)
{
    struct stat want;
    if (stat(model_path, &want) != 0) return;
    registry *reg = registry_new(&models_dir, 1, "");
    char err[256];
    bool found = false;
    if (!reg || registry_scan(reg, err, sizeof err) < 0) {
        registry_free(reg);
        fprintf(stderr, "model file %s\n", model_path);
        return;
    }
    registry_snapshot *s = registry_snapshot_get(reg);
    for (int i = 0; i < registry_snapshot_count(s); i++) {
        const registry_entry *e = registry_snapshot_at(s, i);
        struct stat st;
        if (e->copy_file || stat(e->path, &st) != 0 || st.st_ino != want.st_ino || st.st_dev != want.st_dev) continue;
        found = true;
        printf("%s\n", e->name);
        fprintf(stderr, "model %s in %s", e->name, e->path);
        for (int a = 0; a < e->n_aliases; a++) fprintf(stderr, "%s%s", a ? ", " : "\n  also called: ", e->aliases[a]);
        fprintf(stderr, "\n");
        if (e->error) fprintf(stderr, "  note: %s\n", e->error);
        for (int w = 0; w < e->n_warnings; w++) fprintf(stderr, "  warning: %s\n", e->warnings[w]);
        break;
    }
    registry_snapshot_release(s);
    registry_free(reg);
    if (!found) fprintf(stderr, "model file %s (not listed as a model; see rkserve list)\n", model_path);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rkserve pull [--models DIR] [--quiet] REF\n\n"
            "Downloads a model into the models directory (--models, else RKSERVE_MODELS, else the config\n"
            "file's models, else ~/.rkserve/models). REF is one of:\n"
            "  hf.co/OWNER/REPO          the repository's .rkllm for this board's SoC, else a GGUF\n"
            "                            (Q4_K_M, else Q4_0, Q8_0, ...)\n"
            "  hf.co/OWNER/REPO:TAG      the model file whose name contains TAG, e.g. :Q8_0 or :w8a8\n"
            "  hf.co/OWNER/REPO/FILE     that file\n"
            "  https://URL/NAME.gguf     one file from any server\n"
            "Vision models bring their mmproj or .rknn companion. Interrupted downloads resume.\n\n"
            "environment: HF_TOKEN (gated and private repositories), HF_ENDPOINT (hub mirror),\n"
            "RKSERVE_DT_COMPATIBLE (device-tree compatible file naming the SoC).\n"
            "Prints the model's name on stdout when done.\n");
}

int cmd_pull(int argc, char **argv)
{
    const char *models = NULL, *ref = NULL;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--models") && i + 1 < argc) {
            models = argv[++i];
        } else if (!strncmp(a, "--models=", 9)) {
            models = a + 9;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "rkserve pull: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (!ref) {
            ref = a;
        } else {
            fprintf(stderr, "rkserve pull: one reference at a time ('%s' is extra)\n", a);
            return 2;
        }
    }
    if (!ref) {
        usage(stderr);
        return 2;
    }
    /* the models directory exactly as `serve` finds it */
    rk_config cfg;
    char err[4096];
    char *cargv[] = {"pull", "--models", (char *)models, NULL};
    if (config_load(&cfg, models ? 3 : 1, cargv, environ, err, sizeof err) != 0) {
        fprintf(stderr, "rkserve pull: %s\n", err);
        config_free(&cfg);
        return 2;
    }
    if (cfg.n_model_dirs < 1) {
        fprintf(stderr, "rkserve pull: no models directory (set --models or RKSERVE_MODELS)\n");
        config_free(&cfg);
        return 2;
    }
    view v = {.tty = isatty(2), .quiet = quiet};
    hub_pull_opts o = {.ref = ref, .models_dir = cfg.model_dirs[0], .progress = on_event, .ctx = &v};
    hub_pull_result res;
    int rc = hub_pull(&o, &res, err, sizeof err);
    close_bar(&v);
    if (rc) {
        fprintf(stderr, "rkserve pull: %s\n", err);
        config_free(&cfg);
        return 1;
    }
    print_name(cfg.model_dirs[0], res.model_path);
    config_free(&cfg);
    return 0;
}
