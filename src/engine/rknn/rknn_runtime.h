/* librknnrt.so loaded at run time: the handful of calls a vision encoder
 * needs, resolved once per library. */
#ifndef RK_RKNN_RUNTIME_H
#define RK_RKNN_RUNTIME_H

#include <stddef.h>

#include "engine/rknn/rknn_abi.h"

typedef struct {
    void *dl;
    char path[512];
    rknn_init_fn init;
    rknn_destroy_fn destroy;
    rknn_query_fn query;
    rknn_set_core_mask_fn set_core_mask; /* NULL on runtimes for single-core SoCs */
    rknn_inputs_set_fn inputs_set;
    rknn_run_fn run;
    rknn_outputs_get_fn outputs_get;
    rknn_outputs_release_fn outputs_release;
} rknn_runtime;

/* Opens path, else $RKNN_LIB, else "librknnrt.so" from the library path.
 * NULL with a message that names the fix. */
rknn_runtime *rknn_runtime_open(const char *path, char *err, size_t errlen);
void rknn_runtime_close(rknn_runtime *rt);

/* "RKNN_ERR_MODEL_INVALID (-6)" style names for error codes. */
const char *rknn_error_name(int code);

#endif
