/* Loading librknnrt.so. Every handle keeps its own dlopen reference, so a
 * library stays mapped while any encoder built on it is alive. */
#include "engine/rknn/rknn_runtime.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#define FIX_HINT                                                                                              \
    "install Rockchip's librknnrt.so (rknn-toolkit2 2.x, scripts/install-runtime.sh) or point RKNN_LIB at it " \
    "(on a PC: the emulator, build/emulator/rknn/librknnrt.so)"

const char *rknn_error_name(int code)
{
    switch (code) {
    case 0: return "RKNN_SUCC (0)";
    case -1: return "RKNN_ERR_FAIL (-1)";
    case -2: return "RKNN_ERR_TIMEOUT (-2)";
    case -3: return "RKNN_ERR_DEVICE_UNAVAILABLE (-3)";
    case -4: return "RKNN_ERR_MALLOC_FAIL (-4)";
    case -5: return "RKNN_ERR_PARAM_INVALID (-5)";
    case -6: return "RKNN_ERR_MODEL_INVALID (-6)";
    case -7: return "RKNN_ERR_CTX_INVALID (-7)";
    case -8: return "RKNN_ERR_INPUT_INVALID (-8)";
    case -9: return "RKNN_ERR_OUTPUT_INVALID (-9)";
    case -10: return "RKNN_ERR_DEVICE_UNMATCH (-10): update the runtime and the NPU driver";
    case -13: return "RKNN_ERR_TARGET_PLATFORM_UNMATCH (-13): the model was converted for another SoC";
    default: return "an RKNN error";
    }
}

rknn_runtime *rknn_runtime_open(const char *path, char *err, size_t errlen)
{
    if (!path || !*path) path = getenv("RKNN_LIB");
    if (!path || !*path) path = "librknnrt.so";
    rknn_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rt->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!rt->dl) {
        snprintf(err, errlen, "cannot load the RKNN runtime %s (%s): %s", path, dlerror(), FIX_HINT);
        free(rt);
        return NULL;
    }
    snprintf(rt->path, sizeof rt->path, "%s", path);
    const char *missing = NULL;
#define SYM(field, name, type)                                \
    do {                                                      \
        rt->field = (type)dlsym(rt->dl, name);                \
        if (!rt->field && !missing) missing = name;           \
    } while (0)
    SYM(init, "rknn_init", rknn_init_fn);
    SYM(destroy, "rknn_destroy", rknn_destroy_fn);
    SYM(query, "rknn_query", rknn_query_fn);
    SYM(inputs_set, "rknn_inputs_set", rknn_inputs_set_fn);
    SYM(run, "rknn_run", rknn_run_fn);
    SYM(outputs_get, "rknn_outputs_get", rknn_outputs_get_fn);
    SYM(outputs_release, "rknn_outputs_release", rknn_outputs_release_fn);
#undef SYM
    rt->set_core_mask = (rknn_set_core_mask_fn)dlsym(rt->dl, "rknn_set_core_mask");
    if (missing) {
        snprintf(err, errlen, "the RKNN runtime %s lacks %s (not librknnrt, or an rknpu 1.x library): %s", path,
                 missing, FIX_HINT);
        rknn_runtime_close(rt);
        return NULL;
    }
    return rt;
}

void rknn_runtime_close(rknn_runtime *rt)
{
    if (!rt) return;
    if (rt->dl) dlclose(rt->dl);
    free(rt);
}
