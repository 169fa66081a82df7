/* rkserve doctor: reports what decides whether the NPU will work on this
 * machine (SoC, kernel, RKNPU driver, vendor runtime libraries, clocks,
 * memory, models directory), each with a verdict and the fix. Every path
 * is read below a root ("/" normally, a fixture tree under --root), so the
 * checks can be tested without a board. */
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cli/commands.h"

enum verdict { V_OK, V_WARN, V_FAIL };
static const char *const VERDICT_NAME[] = {"ok", "warn", "fail"};

typedef struct {
    const char *root; /* "" for the real system, else a directory without trailing '/' */
    bool json;
    json_t *checks;
    int worst;
    char soc[32];      /* "rk3588", ... or "" when not a Rockchip SoC */
    char machine[32];  /* the root's CPU architecture, "" when unknown */
    int kernel_major, kernel_minor;
} doctor;

/* One finished check: printed at once (text) or collected (--json). */
static void report(doctor *d, const char *name, enum verdict v, const char *fix, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if ((int)v > d->worst) d->worst = (int)v;
    if (d->json) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "check", name, "verdict", VERDICT_NAME[v], "detail", detail);
        if (fix) json_object_set_new(o, "fix", json_string(fix));
        json_array_append_new(d->checks, o);
        return;
    }
    printf("%-4s  %-13s %s\n", VERDICT_NAME[v], name, detail);
    if (fix && v != V_OK) printf("%20sfix: %s\n", "", fix);
}

static void path_in_root(const doctor *d, const char *rel, char *out, size_t n)
{
    snprintf(out, n, "%s%s", d->root, rel);
}

/* Reads a small text file below the root. Returns its length (contents
 * NUL-terminated, trailing whitespace trimmed) or -1 with errno set. */
static int read_text(const doctor *d, const char *rel, char *buf, size_t n)
{
    char path[4096];
    path_in_root(d, rel, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t got = read(fd, buf, n - 1);
    int saved = errno;
    close(fd);
    if (got < 0) {
        errno = saved;
        return -1;
    }
    while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == ' ' || buf[got - 1] == '\0')) got--;
    buf[got] = '\0';
    return (int)got;
}

static bool exists(const doctor *d, const char *rel)
{
    char path[4096];
    struct stat st;
    path_in_root(d, rel, path, sizeof path);
    return stat(path, &st) == 0;
}

/* "v0.9.8", "RKNPU driver: v0.9.8", "6.1.84-rk" -> 900 + 8 style code
 * (major*10000 + minor*100 + patch); -1 when no version is found. */
static int parse_version(const char *s, char *text, size_t n)
{
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p)) continue;
        if (p > s && (isalnum((unsigned char)p[-1]) && p[-1] != 'v')) continue;
        int a, b, c = 0, used = 0;
        if (sscanf(p, "%d.%d%n", &a, &b, &used) != 2) continue;
        if (p[used] == '.' && isdigit((unsigned char)p[used + 1])) sscanf(p + used + 1, "%d", &c);
        if (text) snprintf(text, n, "%d.%d.%d", a, b, c);
        return a * 10000 + b * 100 + c;
    }
    return -1;
}

/* ---- SoC ---------------------------------------------------------------- */

static const char *const NPU_SOCS[] = {"rk3588s", "rk3588", "rk3576", "rk3562", "rv1126b"};

static void check_soc(doctor *d)
{
    char compat[4096], model[256] = "";
    int n = read_text(d, "/proc/device-tree/compatible", compat, sizeof compat);
    if (read_text(d, "/proc/device-tree/model", model, sizeof model) < 0) model[0] = '\0';
    if (n < 0) {
        report(d, "soc", V_FAIL, "the NPU engines need a Rockchip board; the CPU engine (GGUF models) works anywhere",
               "no device tree (/proc/device-tree/compatible): not a Rockchip board");
        return;
    }
    /* NUL-separated list, most specific first ("radxa,rock-5b", "rockchip,rk3588") */
    const char *other_rockchip = NULL;
    for (int i = 0; i < n; i += (int)strlen(compat + i) + 1) {
        const char *e = compat + i;
        if (strncmp(e, "rockchip,", 9) != 0) continue;
        for (size_t k = 0; k < sizeof NPU_SOCS / sizeof NPU_SOCS[0]; k++) {
            if (!strcmp(e + 9, NPU_SOCS[k])) {
                snprintf(d->soc, sizeof d->soc, "%s", NPU_SOCS[k]);
                char upper[32];
                size_t j = 0;
                for (; d->soc[j] && j + 1 < sizeof upper; j++) upper[j] = (char)toupper((unsigned char)d->soc[j]);
                upper[j] = '\0';
                report(d, "soc", V_OK, NULL, "Rockchip %s%s%s%s", upper, model[0] ? " (" : "", model, model[0] ? ")" : "");
                return;
            }
        }
        if (!other_rockchip) other_rockchip = e + 9;
    }
    if (other_rockchip) {
        snprintf(d->soc, sizeof d->soc, "%s", other_rockchip);
        report(d, "soc", V_FAIL, "RKLLM runs on RK3588/RK3588S, RK3576, RK3562 and RV1126B; use the CPU engine here",
               "Rockchip %s has no NPU that the RKLLM runtime supports", other_rockchip);
        return;
    }
    report(d, "soc", V_FAIL, "the NPU engines need a Rockchip board; the CPU engine (GGUF models) works anywhere",
           "not a Rockchip SoC (%s)", model[0] ? model : compat);
}

/* ---- kernel ------------------------------------------------------------- */

static void check_kernel(doctor *d)
{
    char rel[256];
    if (read_text(d, "/proc/sys/kernel/osrelease", rel, sizeof rel) < 0) {
        struct utsname u;
        if (d->root[0] || uname(&u) != 0) {
            report(d, "kernel", V_WARN, NULL, "kernel version unknown (no /proc/sys/kernel/osrelease)");
            return;
        }
        snprintf(rel, sizeof rel, "%s", u.release);
    }
    int v = parse_version(rel, NULL, 0);
    d->kernel_major = v / 10000;
    d->kernel_minor = v / 100 % 100;
    if (!d->soc[0] || v >= 60100) {
        report(d, "kernel", V_OK, NULL, "Linux %s", rel);
        return;
    }
    report(d, "kernel", V_WARN,
           "RKNPU driver 0.9.7+ needs kernel 6.1 and cannot be backported to the vendor 5.10 tree: flash a 6.1 image (e.g. Armbian vendor kernel)",
           "Linux %s: vendor kernels before 6.1 ship RKNPU drivers older than 0.9.7", rel);
}

/* ---- RKNPU driver -------------------------------------------------------- */

static void check_driver(doctor *d)
{
    static const char *const paths[] = {
        "/sys/kernel/debug/rknpu/version", "/sys/kernel/debug/rknpu/driver_version",
        "/proc/debug/rknpu/version",       "/proc/debug/rknpu/driver_version",
        "/sys/module/rknpu/version",
    };
    const char *upgrade =
        d->kernel_major && (d->kernel_major < 6 || (d->kernel_major == 6 && d->kernel_minor < 1))
            ? "this 5.x vendor kernel cannot take driver 0.9.7+: flash an image with kernel 6.1 (driver 0.9.8)"
            : "update the board image or kernel to one with RKNPU driver 0.9.8";
    bool denied = false;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char buf[256], ver[32];
        if (read_text(d, paths[i], buf, sizeof buf) < 0) {
            if (errno == EACCES || errno == EPERM) denied = true;
            continue;
        }
        int v = parse_version(buf, ver, sizeof ver);
        if (v < 0) continue;
        if (v < 907)
            report(d, "driver", V_FAIL, upgrade,
                   "RKNPU driver %s (%s): w8a8 matmul needs >= 0.9.7, models load but inference fails", ver, paths[i]);
        else if (v < 908)
            report(d, "driver", V_WARN, "0.9.8 is recommended (newer runtimes and multi-instance need it)",
                   "RKNPU driver %s (%s)", ver, paths[i]);
        else
            report(d, "driver", V_OK, NULL, "RKNPU driver %s (%s)", ver, paths[i]);
        return;
    }
    if (denied || (exists(d, "/sys/kernel/debug") && !exists(d, "/sys/kernel/debug/rknpu") && !d->root[0] && geteuid() != 0)) {
        report(d, "driver", V_WARN, "run 'sudo rkserve doctor' to read /sys/kernel/debug/rknpu/version",
               "RKNPU driver version not readable without root");
        return;
    }
    if (exists(d, "/sys/module/rocket"))
        report(d, "driver", V_FAIL, "the vendor runtime needs the RKNPU driver: use a vendor 6.1 kernel image",
               "mainline 'rocket' NPU driver found, no RKNPU driver");
    else
        report(d, "driver", V_FAIL, d->soc[0] ? upgrade : "the NPU engines need a Rockchip board with the RKNPU driver",
               "no RKNPU driver (none of /sys/kernel/debug/rknpu/version, /proc/debug/rknpu/version, /sys/module/rknpu/version)");
}

static void check_device(doctor *d)
{
    if (!d->soc[0]) return;
    char path[4096];
    if (exists(d, "/dev/rknpu")) {
        path_in_root(d, "/dev/rknpu", path, sizeof path);
        bool rw = access(path, R_OK | W_OK) == 0;
        report(d, "device", rw ? V_OK : V_WARN, "run as root or give the user access to /dev/rknpu",
               "/dev/rknpu%s", rw ? "" : " exists but this user cannot open it");
        return;
    }
    /* DRM builds: a render node whose driver is RKNPU */
    char dir[4096];
    path_in_root(d, "/sys/class/drm", dir, sizeof dir);
    DIR *dh = opendir(dir);
    struct dirent *e;
    while (dh && (e = readdir(dh))) {
        if (strncmp(e->d_name, "renderD", 7) != 0) continue;
        char link[4096], target[4096];
        if (snprintf(link, sizeof link, "%s/%s/device/driver", dir, e->d_name) >= (int)sizeof link) continue;
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = '\0';
        const char *base = strrchr(target, '/');
        base = base ? base + 1 : target;
        if (strcasecmp(base, "rknpu") != 0) continue;
        char node[300];
        snprintf(node, sizeof node, "/dev/dri/%s", e->d_name);
        path_in_root(d, node, path, sizeof path);
        bool rw = access(path, R_OK | W_OK) == 0;
        report(d, "device", rw ? V_OK : V_WARN, "add the user to the 'render' group (the service unit does this)",
               "%s (RKNPU render node)%s", node, rw ? "" : ": this user cannot open it");
        closedir(dh);
        return;
    }
    if (dh) closedir(dh);
    report(d, "device", V_WARN, "check that the RKNPU driver is enabled (CONFIG_ROCKCHIP_RKNPU) in the kernel",
           "no /dev/rknpu and no RKNPU render node under /dev/dri");
}

/* ---- runtime libraries ---------------------------------------------------- */

static int elf_machine_of(const char *machine)
{
    if (!strcmp(machine, "aarch64") || !strcmp(machine, "arm64")) return 183;
    if (!strcmp(machine, "x86_64") || !strcmp(machine, "amd64")) return 62;
    if (!strncmp(machine, "arm", 3)) return 40;
    if (machine[0] == 'i' && strstr(machine, "86")) return 3;
    if (!strncmp(machine, "riscv", 5)) return 243;
    return -1;
}

static const char *elf_machine_name(int m)
{
    switch (m) {
    case 183: return "aarch64";
    case 62: return "x86_64";
    case 40: return "arm";
    case 3: return "i386";
    case 243: return "riscv";
    default: return "another architecture";
    }
}

/* The version a vendor library carries as text, found by the marker that
 * precedes it ("librknnrt version: 2.3.2 (429f97ae6b@2025-04-09T09:09:27)"). */
static bool scan_version(const unsigned char *p, size_t n, const char *const *markers, char *out, size_t outn)
{
    for (; *markers; markers++) {
        size_t ml = strlen(*markers);
        const unsigned char *hit = p, *end = p + n;
        while ((hit = memmem(hit, (size_t)(end - hit), *markers, ml))) {
            const unsigned char *v = hit + ml;
            hit += ml;
            if (v >= end || !isdigit(*v)) continue; /* a printf format, not a version */
            size_t k = 0;
            while (v + k < end && k + 1 < outn && isprint(v[k]) && v[k] != ',') k++;
            memcpy(out, v, k);
            out[k] = '\0';
            return true;
        }
    }
    return false;
}

static const char *const RKNN_MARKERS[] = {"librknnrt version: ", NULL};
static const char *const RKLLM_MARKERS[] = {"rkllm-runtime version: ", "RKLLM version: ", "rkllm version: ", NULL};

static void check_library(doctor *d, const char *name, const char *envvar, const char *symbol,
                          const char *const *markers, const char *role)
{
    static const char *const dirs[] = {"/usr/lib", "/usr/local/lib", "/usr/lib/aarch64-linux-gnu",
                                       "/usr/lib/arm-linux-gnueabihf", "/usr/lib64", "/lib", "/lib64",
                                       "/usr/lib/x86_64-linux-gnu"};
    char fix[512];
    snprintf(fix, sizeof fix,
             "install %s with scripts/install-runtime.sh (or set %s to its path); %s", name, envvar, role);
    char rel[4096] = "", path[4096];
    struct stat st;
    const char *env = getenv(envvar);
    if (env && *env) {
        /* under --root the environment names a path inside the fixture tree */
        snprintf(rel, sizeof rel, "%s", env);
        path_in_root(d, rel, path, sizeof path);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(rel + strlen(rel), sizeof rel - strlen(rel), "/%s", name);
            path_in_root(d, rel, path, sizeof path);
        }
        if (stat(path, &st) != 0) {
            report(d, name, V_FAIL, fix, "%s=%s: no such file", envvar, env);
            return;
        }
    } else {
        bool found = false;
        const char *ld = d->root[0] ? NULL : getenv("LD_LIBRARY_PATH");
        char ldcopy[4096];
        snprintf(ldcopy, sizeof ldcopy, "%s", ld ? ld : "");
        char *save = NULL;
        for (char *t = strtok_r(ldcopy, ":", &save); t && !found; t = strtok_r(NULL, ":", &save)) {
            snprintf(rel, sizeof rel, "%s/%s", t, name);
            found = stat(rel, &st) == 0;
        }
        for (size_t i = 0; i < sizeof dirs / sizeof dirs[0] && !found; i++) {
            snprintf(rel, sizeof rel, "%s/%s", dirs[i], name);
            path_in_root(d, rel, path, sizeof path);
            found = stat(path, &st) == 0;
        }
        if (!found) {
            report(d, name, d->soc[0] ? V_FAIL : V_WARN, fix, "not found (searched %s, /usr/lib, /usr/local/lib and the multiarch dirs)",
                   envvar);
            return;
        }
    }
    path_in_root(d, rel, path, sizeof path);

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < 20) {
        if (fd >= 0) close(fd);
        report(d, name, V_FAIL, fix, "%s: %s", rel, fd < 0 ? strerror(errno) : "too small to be a library");
        return;
    }
    unsigned char *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        report(d, name, V_FAIL, fix, "%s: %s", rel, strerror(errno));
        return;
    }
    size_t size = (size_t)st.st_size;
    char version[96];
    bool have_version = scan_version(map, size, markers, version, sizeof version);
    bool is_elf = memcmp(map, "\x7f" "ELF", 4) == 0;
    int machine = is_elf ? map[18] | map[19] << 8 : -1;
    munmap(map, size);

    if (!is_elf) {
        report(d, name, V_FAIL, fix, "%s is not an ELF shared library (a failed download?)", rel);
        return;
    }
    int want = d->machine[0] ? elf_machine_of(d->machine) : -1;
    if (want >= 0 && machine != want) {
        report(d, name, V_FAIL, fix, "%s is built for %s, this system is %s", rel, elf_machine_name(machine), d->machine);
        return;
    }
    if (!d->root[0]) {
        /* the real system: prove the dynamic loader accepts it (glibc, libstdc++) */
        void *h = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
        if (!h) {
            report(d, name, V_FAIL, fix, "%s does not load: %s", rel, dlerror());
            return;
        }
        bool has = dlsym(h, symbol) != NULL;
        dlclose(h);
        if (!has) {
            report(d, name, V_FAIL, fix, "%s does not export %s", rel, symbol);
            return;
        }
    }
    if (have_version)
        report(d, name, V_OK, NULL, "%s, version %s", rel, version);
    else
        report(d, name, V_WARN, "reinstall the library from the vendor release to know its version",
               "%s, version not recorded in the file", rel);
}

/* ---- clocks --------------------------------------------------------------- */

static void report_governor(doctor *d, const char *name, const char *dir_rel, const char *gov_file,
                            const char *cur_file, const char *max_file, double to_mhz)
{
    char rel[4096], gov[64], cur[64], max[64];
    snprintf(rel, sizeof rel, "%s/%s", dir_rel, gov_file);
    if (read_text(d, rel, gov, sizeof gov) < 0) return;
    snprintf(rel, sizeof rel, "%s/%s", dir_rel, cur_file);
    if (read_text(d, rel, cur, sizeof cur) < 0) snprintf(cur, sizeof cur, "?");
    snprintf(rel, sizeof rel, "%s/%s", dir_rel, max_file);
    if (read_text(d, rel, max, sizeof max) < 0) snprintf(max, sizeof max, "?");
    char cur_s[32] = "?", max_s[32] = "?";
    if (isdigit((unsigned char)cur[0])) snprintf(cur_s, sizeof cur_s, "%.0f", atof(cur) / to_mhz);
    if (isdigit((unsigned char)max[0])) snprintf(max_s, sizeof max_s, "%.0f", atof(max) / to_mhz);
    bool pinned = !strcmp(gov, "performance") || (!strcmp(gov, "userspace") && !strcmp(cur, max));
    report(d, name, pinned ? V_OK : V_WARN, "run 'sudo rkserve doctor --fix-freq' for steady token rates",
           "governor %s, %s of %s MHz (%s)", gov, cur_s, max_s, dir_rel);
}

static void check_devfreq(doctor *d, const char *label, const char *needle)
{
    char dir[4096];
    path_in_root(d, "/sys/class/devfreq", dir, sizeof dir);
    DIR *dh = opendir(dir);
    struct dirent *e;
    bool any = false;
    while (dh && (e = readdir(dh))) {
        if (e->d_name[0] == '.' || !strstr(e->d_name, needle)) continue;
        char rel[512];
        snprintf(rel, sizeof rel, "/sys/class/devfreq/%s", e->d_name);
        report_governor(d, label, rel, "governor", "cur_freq", "max_freq", 1e6);
        any = true;
    }
    if (dh) closedir(dh);
    if (!any && d->soc[0] && strcmp(label, "gpu") != 0)
        report(d, label, V_WARN, NULL, "no %s devfreq node under /sys/class/devfreq: frequency unknown", label);
}

static void check_cpufreq(doctor *d)
{
    char dir[4096];
    path_in_root(d, "/sys/devices/system/cpu/cpufreq", dir, sizeof dir);
    DIR *dh = opendir(dir);
    if (!dh) return;
    struct dirent *e;
    char names[16][64];
    int n = 0;
    while ((e = readdir(dh)) && n < 16)
        if (!strncmp(e->d_name, "policy", 6) && strlen(e->d_name) < sizeof names[0]) memcpy(names[n++], e->d_name, strlen(e->d_name) + 1);
    closedir(dh);
    /* policy0, policy4, policy6: numeric order is cluster order */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (atoi(names[j] + 6) < atoi(names[i] + 6)) {
                char t[64];
                memcpy(t, names[i], sizeof t);
                memcpy(names[i], names[j], sizeof t);
                memcpy(names[j], t, sizeof t);
            }
    for (int i = 0; i < n; i++) {
        char rel[512], label[32];
        if (snprintf(rel, sizeof rel, "/sys/devices/system/cpu/cpufreq/%s", names[i]) >= (int)sizeof rel) continue;
        snprintf(label, sizeof label, "cpu%d", atoi(names[i] + 6));
        report_governor(d, label, rel, "scaling_governor", "scaling_cur_freq", "cpuinfo_max_freq", 1e3);
    }
}

/* ---- memory and models ---------------------------------------------------- */

static void check_memory(doctor *d)
{
    char buf[8192];
    if (read_text(d, "/proc/meminfo", buf, sizeof buf) < 0) {
        report(d, "memory", V_WARN, NULL, "/proc/meminfo not readable");
        return;
    }
    long long total = -1, avail = -1;
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (!strncmp(line, "MemTotal:", 9)) total = atoll(line + 9);
        if (!strncmp(line, "MemAvailable:", 13)) avail = atoll(line + 13);
    }
    if (total < 0) {
        report(d, "memory", V_WARN, NULL, "no MemTotal in /proc/meminfo");
        return;
    }
    double tg = (double)total / (1024.0 * 1024.0), ag = (double)(avail < 0 ? total : avail) / (1024.0 * 1024.0);
    if (ag < 1.0)
        report(d, "memory", V_WARN, "stop other services or pick a smaller model (a 1.5B w8a8 model needs about 2 GB)",
               "%.1f GiB total, only %.1f GiB available", tg, ag);
    else
        report(d, "memory", V_OK, NULL, "%.1f GiB total, %.1f GiB available", tg, ag);
}

static bool is_model_name(const char *n)
{
    size_t l = strlen(n);
    static const char *const ext[] = {".gguf", ".rkllm", ".rknn"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t el = strlen(ext[i]);
        if (l > el && !strcasecmp(n + l - el, ext[i])) return true;
    }
    return false;
}

static void check_models_dir(doctor *d, const char *dir_rel)
{
    char path[4096];
    path_in_root(d, dir_rel, path, sizeof path);
    DIR *dh = opendir(path);
    if (!dh) {
        char fix[4200];
        snprintf(fix, sizeof fix, "mkdir -p %s, then 'rkserve pull REF' or copy .rkllm/.gguf files there", dir_rel);
        report(d, "models", V_WARN, fix, "%s: %s", dir_rel, strerror(errno));
        return;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dh)))
        if (is_model_name(e->d_name)) n++;
    closedir(dh);
    if (n == 0)
        report(d, "models", V_WARN, "'rkserve pull REF' or copy .rkllm/.gguf files there", "%s: no models yet", dir_rel);
    else
        report(d, "models", V_OK, NULL, "%s: %d model file%s", dir_rel, n, n == 1 ? "" : "s");
}

static void check_models(doctor *d)
{
    const char *env = getenv("RKSERVE_MODELS");
    if (env && *env) {
        char copy[4096], *save = NULL;
        snprintf(copy, sizeof copy, "%s", env);
        for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save)) check_models_dir(d, t);
        return;
    }
    const char *home = getenv("HOME");
    if (!home || !*home) {
        report(d, "models", V_WARN, "set RKSERVE_MODELS or HOME", "no models directory: neither RKSERVE_MODELS nor HOME is set");
        return;
    }
    char rel[4096];
    snprintf(rel, sizeof rel, "%s/.rkserve/models", home);
    check_models_dir(d, rel);
}

/* ---- --fix-freq ----------------------------------------------------------- */

static int write_text(const doctor *d, const char *rel, const char *value)
{
    char path[4096];
    path_in_root(d, rel, path, sizeof path);
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t n = strlen(value);
    ssize_t w = write(fd, value, n);
    int saved = errno;
    if (close(fd) != 0 && w >= 0) return -1;
    errno = saved;
    return w == (ssize_t)n ? 0 : -1;
}

/* The highest number in a space-separated frequency list. */
static long long max_of_list(const char *s)
{
    long long best = -1;
    for (char *end; *s; s = end) {
        long long v = strtoll(s, &end, 10);
        if (end == s) {
            s++;
            end = (char *)s;
            continue;
        }
        if (v > best) best = v;
    }
    return best;
}

/* Pins one clock: the performance governor where offered; otherwise, as
 * the vendor's fix_freq scripts do, userspace at the highest frequency. */
static int pin(const doctor *d, const char *dir_rel, const char *gov_file, const char *avail_gov_file,
               const char *avail_freq_file, const char *set_file)
{
    char rel[4096], gov[64], avail[512], freqs[1024];
    snprintf(rel, sizeof rel, "%s/%s", dir_rel, gov_file);
    if (read_text(d, rel, gov, sizeof gov) < 0) return 0;
    snprintf(rel, sizeof rel, "%s/%s", dir_rel, avail_gov_file);
    bool has_perf = read_text(d, rel, avail, sizeof avail) < 0 || strstr(avail, "performance");
    if (has_perf) {
        if (!strcmp(gov, "performance")) {
            printf("unchanged %s/%s: already performance\n", dir_rel, gov_file);
            return 0;
        }
        snprintf(rel, sizeof rel, "%s/%s", dir_rel, gov_file);
        if (write_text(d, rel, "performance\n") != 0) {
            printf("FAILED    %s: %s\n", rel, strerror(errno));
            return -1;
        }
        printf("changed   %s: %s -> performance\n", rel, gov);
        return 0;
    }
    snprintf(rel, sizeof rel, "%s/%s", dir_rel, avail_freq_file);
    long long top = read_text(d, rel, freqs, sizeof freqs) < 0 ? -1 : max_of_list(freqs);
    if (top < 0) {
        printf("FAILED    %s: no performance governor and no frequency list\n", dir_rel);
        return -1;
    }
    char val[32], set_rel[4096], now[64];
    snprintf(val, sizeof val, "%lld\n", top);
    snprintf(set_rel, sizeof set_rel, "%s/%s", dir_rel, set_file);
    if (!strcmp(gov, "userspace") && read_text(d, set_rel, now, sizeof now) > 0 && atoll(now) == top) {
        printf("unchanged %s/%s: already userspace at %lld\n", dir_rel, gov_file, top);
        return 0;
    }
    snprintf(rel, sizeof rel, "%s/%s", dir_rel, gov_file);
    if (strcmp(gov, "userspace") != 0 && write_text(d, rel, "userspace\n") != 0) {
        printf("FAILED    %s: %s\n", rel, strerror(errno));
        return -1;
    }
    if (write_text(d, set_rel, val) != 0) {
        printf("FAILED    %s: %s\n", set_rel, strerror(errno));
        return -1;
    }
    printf("changed   %s: %s -> userspace at %lld\n", rel, gov, top);
    return 0;
}

static int fix_freq(doctor *d)
{
    if (!d->root[0] && geteuid() != 0) {
        fprintf(stderr, "rkserve doctor --fix-freq: writing governors needs root (sudo rkserve doctor --fix-freq)\n");
        return 1;
    }
    int failed = 0;
    char dir[4096];
    struct dirent *e;
    DIR *dh;

    path_in_root(d, "/sys/devices/system/cpu/cpufreq", dir, sizeof dir);
    if ((dh = opendir(dir))) {
        while ((e = readdir(dh))) {
            if (strncmp(e->d_name, "policy", 6) != 0) continue;
            char rel[512];
            snprintf(rel, sizeof rel, "/sys/devices/system/cpu/cpufreq/%s", e->d_name);
            failed |= pin(d, rel, "scaling_governor", "scaling_available_governors", "scaling_available_frequencies",
                          "scaling_setspeed") != 0;
        }
        closedir(dh);
    }
    path_in_root(d, "/sys/class/devfreq", dir, sizeof dir);
    if ((dh = opendir(dir))) {
        while ((e = readdir(dh))) {
            if (!strstr(e->d_name, "npu") && !strstr(e->d_name, "gpu") && strcmp(e->d_name, "dmc") != 0) continue;
            char rel[512];
            snprintf(rel, sizeof rel, "/sys/class/devfreq/%s", e->d_name);
            failed |= pin(d, rel, "governor", "available_governors", "available_frequencies", "userspace/set_freq") != 0;
        }
        closedir(dh);
    }
    /* the vendor scripts also keep cores out of their deepest idle state,
     * whose wake-up latency shows as token-time jitter */
    path_in_root(d, "/sys/devices/system/cpu", dir, sizeof dir);
    if ((dh = opendir(dir))) {
        while ((e = readdir(dh))) {
            if (strncmp(e->d_name, "cpu", 3) != 0 || !isdigit((unsigned char)e->d_name[3])) continue;
            char rel[512], cur[16];
            snprintf(rel, sizeof rel, "/sys/devices/system/cpu/%s/cpuidle/state1/disable", e->d_name);
            if (read_text(d, rel, cur, sizeof cur) < 0) continue;
            if (!strcmp(cur, "1")) {
                printf("unchanged %s: already 1\n", rel);
            } else if (write_text(d, rel, "1\n") != 0) {
                printf("FAILED    %s: %s\n", rel, strerror(errno));
                failed = 1;
            } else {
                printf("changed   %s: %s -> 1\n", rel, cur);
            }
        }
        closedir(dh);
    }
    printf("%s (until reboot; the kernel restores its defaults at boot)\n",
           failed ? "some clocks could not be pinned" : "clocks pinned");
    return failed;
}

/* ---- command -------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rkserve doctor [--root DIR] [--json] [--fix-freq]\n\n"
            "Checks what decides whether the NPU works here: SoC, kernel, RKNPU driver,\n"
            "librkllmrt.so / librknnrt.so (RKLLM_LIB, RKNN_LIB or the library dirs),\n"
            "CPU/NPU/DDR clocks, memory and the models directory (RKSERVE_MODELS or\n"
            "~/.rkserve/models). Each line says ok, warn or fail, with the fix.\n"
            "Exit status: 0 when nothing fails, 1 otherwise.\n\n"
            "  --root DIR   read DIR as if it were / (a saved board tree; tests)\n"
            "  --json       print the checks as a JSON object\n"
            "  --fix-freq   pin CPU, NPU, GPU and DDR clocks at their highest frequency\n"
            "               (performance governors, as the vendor's fix_freq scripts do);\n"
            "               needs root, lasts until reboot\n");
}

int cmd_doctor(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"root", required_argument, NULL, 'r'}, {"json", no_argument, NULL, 'j'},
        {"fix-freq", no_argument, NULL, 'f'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    doctor d = {.root = ""};
    char root[4096] = "";
    bool fix = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': {
            size_t n = strlen(optarg);
            while (n > 1 && optarg[n - 1] == '/') n--;
            if (n >= sizeof root) n = sizeof root - 1;
            memcpy(root, optarg, n);
            root[n] = '\0';
            if (!strcmp(root, "/")) root[0] = '\0';
            break;
        }
        case 'j': d.json = true; break;
        case 'f': fix = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rkserve doctor: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    d.root = root;
    if (root[0]) {
        struct stat st;
        if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "rkserve doctor: --root %s: not a directory\n", root);
            return 2;
        }
    }
    if (fix) return fix_freq(&d);

    if (read_text(&d, "/proc/sys/kernel/arch", d.machine, sizeof d.machine) < 0 && !root[0]) {
        struct utsname u;
        if (uname(&u) == 0 && strlen(u.machine) < sizeof d.machine) memcpy(d.machine, u.machine, strlen(u.machine) + 1);
    }
    d.checks = json_array();
    if (!d.json) printf("rkserve %s doctor%s%s\n", RKSERVE_VERSION, root[0] ? " --root " : "", root);
    check_soc(&d);
    check_kernel(&d);
    check_driver(&d);
    check_device(&d);
    check_library(&d, "librkllmrt.so", "RKLLM_LIB", "rkllm_init", RKLLM_MARKERS, "it runs .rkllm language models");
    check_library(&d, "librknnrt.so", "RKNN_LIB", "rknn_init", RKNN_MARKERS, "it runs .rknn vision encoders");
    check_devfreq(&d, "npu", "npu");
    check_devfreq(&d, "ddr", "dmc");
    check_devfreq(&d, "gpu", "gpu");
    check_cpufreq(&d);
    check_memory(&d);
    check_models(&d);
    if (d.json) {
        json_t *o = json_pack("{s:s, s:o, s:b}", "verdict", VERDICT_NAME[d.worst], "checks", d.checks, "npu_ready",
                              d.worst != V_FAIL);
        char *s = json_dumps(o, JSON_INDENT(2));
        if (s) puts(s);
        free(s);
        json_decref(o);
    } else {
        json_decref(d.checks);
        printf("%s\n", d.worst == V_FAIL ? "result: the NPU will not work until the failures above are fixed"
                       : d.worst == V_WARN ? "result: the NPU should work; see the warnings above"
                                           : "result: everything the NPU needs is in place");
    }
    return d.worst == V_FAIL ? 1 : 0;
}
