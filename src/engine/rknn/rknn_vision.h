/* The NPU vision encoder: one .rknn file, or a JSON manifest naming an
 * ordered list of .rknn shards run as a pipeline (seed 001's split SigLIP),
 * behind the vision_ops interface. Manifest:
 *
 *   {"shards": ["enc_00.rknn", {"file": "enc_01.rknn", "core": 1,
 *               "input_scale": 10, "output_descale": 10}, ...],
 *    "cores": 3,                  round-robin width for shards without "core"
 *    "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
 *    "projector": "idefics3", "n_tokens": 64, "n_embd": 576, "image_size": 512}
 *
 * Files are relative to the manifest. Without mean/std the first shard is
 * taken to expect raw 0-255 pixels (the normalisation compiled into the
 * model by rknn-toolkit2's mean_values/std_values); the sizes are read from
 * the models and, when the manifest gives them too, must agree. */
#ifndef RK_RKNN_VISION_H
#define RK_RKNN_VISION_H

#include "engine/vision.h"

extern const vision_ops rknn_vision_ops;

/* The NPU core mask shard i was given (RKNN_ABI_CORE_*), -1 when none was
 * set or i is out of range; for tests and `rkserve show`. */
int rknn_vision_shard_core_mask(const vision_model *v, int i);
int rknn_vision_n_shards(const vision_model *v);

#endif
