"""Writes a GGUF vision projector ("mmproj") for SmolVLM / Idefics3 models the
way llama.cpp's converter lays one out and its clip loader reads it, from a
dict of tensors under Hugging Face Idefics3 names.

Both the synthetic-weight generator (synth_vision.py) and the trained model's
export follow this table; the CPU encoder (src/engine/cpu/vision_*.c) reads
exactly these names and keys.

Tensor names (N = layer; HF shapes are PyTorch's, GGUF ne is their reverse,
so the bytes are the PyTorch tensor's row-major bytes unchanged):

  HF name (model.vision_model. / model.connector. prefix)  GGUF name            GGUF ne
  embeddings.patch_embedding.weight   [D, 3, P, P]         v.patch_embd.weight     [P, P, 3, D]   F32
  embeddings.patch_embedding.bias     [D]                  v.patch_embd.bias       [D]            F32
  embeddings.position_embedding.weight [(S/P)^2, D]        v.position_embd.weight  [D, (S/P)^2]   F32
  encoder.layers.N.self_attn.q_proj.weight/bias            v.blk.N.attn_q.weight/bias    [D, D] / [D]
  encoder.layers.N.self_attn.k_proj.weight/bias            v.blk.N.attn_k.weight/bias
  encoder.layers.N.self_attn.v_proj.weight/bias            v.blk.N.attn_v.weight/bias
  encoder.layers.N.self_attn.out_proj.weight/bias          v.blk.N.attn_out.weight/bias
  encoder.layers.N.layer_norm1.weight/bias                 v.blk.N.ln1.weight/bias       [D]  F32
  encoder.layers.N.layer_norm2.weight/bias                 v.blk.N.ln2.weight/bias       [D]  F32
  encoder.layers.N.mlp.fc1.weight/bias   [F, D] / [F]      v.blk.N.ffn_up.weight/bias    [D, F] / [F]
  encoder.layers.N.mlp.fc2.weight/bias   [D, F] / [D]      v.blk.N.ffn_down.weight/bias  [F, D] / [D]
  post_layernorm.weight/bias                               v.post_ln.weight/bias         [D]  F32
  connector.modality_projection.proj.weight [E, D*s*s]     mm.model.fc.weight            [D*s*s, E] (no bias)

  fc1 is the first MLP matrix (D -> F, GELU after it) and is ffn_up; fc2 is ffn_down.
  Matrices (2-D weights other than the embeddings) take the file type (F32, F16
  or Q8_0 when the row length allows); embeddings, biases and norms stay F32, as
  the converter forces for ".embeddings." and for every 1-D tensor.

Metadata keys:

  general.architecture              "clip"
  general.type                      "mmproj"
  general.file_type                 u32 (0 F32, 1 F16, 7 Q8_0)
  general.name                      string (optional)
  clip.projector_type               "idefics3"
  clip.has_vision_encoder           bool true
  clip.use_gelu                     bool true (GELU, tanh approximation)
  clip.vision.image_size            u32 S
  clip.vision.preproc_image_size    u32 (processor's longest edge; S when unset)
  clip.vision.patch_size            u32 P
  clip.vision.embedding_length      u32 D
  clip.vision.feed_forward_length   u32 F
  clip.vision.block_count           u32 layers
  clip.vision.attention.head_count  u32 heads
  clip.vision.attention.layer_norm_epsilon  f32
  clip.vision.projection_dim        u32 E (the language model's n_embd)
  clip.vision.projector.scale_factor u32 s (pixel-shuffle factor)
  clip.vision.image_mean / image_std  array of 3 f32
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_writer as gw  # noqa: E402
import quants  # noqa: E402

VPREFIX = "model.vision_model."
CONNECTOR = "model.connector.modality_projection.proj.weight"

_LAYER_MAP = [
    ("self_attn.q_proj", "attn_q"),
    ("self_attn.k_proj", "attn_k"),
    ("self_attn.v_proj", "attn_v"),
    ("self_attn.out_proj", "attn_out"),
    ("layer_norm1", "ln1"),
    ("layer_norm2", "ln2"),
    ("mlp.fc1", "ffn_up"),
    ("mlp.fc2", "ffn_down"),
]

FILE_TYPE = {"F32": 0, "F16": 1, "Q8_0": 7}


def gguf_name(hf_name):
    """The GGUF tensor name for an HF Idefics3 vision/connector tensor name."""
    if hf_name == CONNECTOR:
        return "mm.model.fc.weight"
    if not hf_name.startswith(VPREFIX):
        raise KeyError(f"not a vision tensor: {hf_name}")
    rest = hf_name[len(VPREFIX):]
    fixed = {
        "embeddings.patch_embedding.weight": "v.patch_embd.weight",
        "embeddings.patch_embedding.bias": "v.patch_embd.bias",
        "embeddings.position_embedding.weight": "v.position_embd.weight",
        "post_layernorm.weight": "v.post_ln.weight",
        "post_layernorm.bias": "v.post_ln.bias",
    }
    if rest in fixed:
        return fixed[rest]
    pre = "encoder.layers."
    if rest.startswith(pre):
        idx, _, tail = rest[len(pre):].partition(".")
        stem, _, suffix = tail.rpartition(".")
        for hf, gg in _LAYER_MAP:
            if stem == hf and suffix in ("weight", "bias"):
                return f"v.blk.{int(idx)}.{gg}.{suffix}"
    raise KeyError(f"no GGUF name for {hf_name}")


def expected_names(n_layer):
    names = [VPREFIX + "embeddings.patch_embedding.weight", VPREFIX + "embeddings.patch_embedding.bias",
             VPREFIX + "embeddings.position_embedding.weight",
             VPREFIX + "post_layernorm.weight", VPREFIX + "post_layernorm.bias", CONNECTOR]
    for i in range(n_layer):
        for hf, _ in _LAYER_MAP:
            for suffix in ("weight", "bias"):
                names.append(f"{VPREFIX}encoder.layers.{i}.{hf}.{suffix}")
    return names


def _tensor_type(gname, arr, ftype):
    if arr.ndim < 2 or gname.startswith("v.patch_embd") or gname.startswith("v.position_embd"):
        return gw.F32
    if ftype == "F16":
        return gw.F16
    if ftype == "Q8_0":
        return gw.Q8_0 if arr.shape[-1] % 32 == 0 else gw.F16
    return gw.F32


def _check_shapes(t, hp):
    D, F, P, S = hp["hidden_size"], hp["intermediate_size"], hp["patch_size"], hp["image_size"]
    s, E = hp["scale_factor"], hp["projection_dim"]
    n_pos = (S // P) ** 2
    want = {
        VPREFIX + "embeddings.patch_embedding.weight": (D, 3, P, P),
        VPREFIX + "embeddings.patch_embedding.bias": (D,),
        VPREFIX + "embeddings.position_embedding.weight": (n_pos, D),
        VPREFIX + "post_layernorm.weight": (D,),
        VPREFIX + "post_layernorm.bias": (D,),
        CONNECTOR: (E, D * s * s),
    }
    per_layer = {"self_attn.q_proj": (D, D), "self_attn.k_proj": (D, D), "self_attn.v_proj": (D, D),
                 "self_attn.out_proj": (D, D), "layer_norm1": None, "layer_norm2": None,
                 "mlp.fc1": (F, D), "mlp.fc2": (D, F)}
    for i in range(hp["num_hidden_layers"]):
        for hf, shape in per_layer.items():
            base = f"{VPREFIX}encoder.layers.{i}.{hf}"
            if shape is None:
                want[base + ".weight"] = (D,)
                want[base + ".bias"] = (D,)
            else:
                want[base + ".weight"] = shape
                want[base + ".bias"] = (shape[0],)
    missing = [n for n in want if n not in t]
    if missing:
        raise KeyError(f"missing tensors: {missing[:4]}{'...' if len(missing) > 4 else ''}")
    for n, shape in want.items():
        if tuple(np.shape(t[n])) != shape:
            raise ValueError(f"{n}: shape {tuple(np.shape(t[n]))}, expected {shape}")
    if S % P or (S // P) % s:
        raise ValueError("image_size must be a multiple of patch_size * scale_factor")
    if D % hp["num_attention_heads"]:
        raise ValueError("hidden_size must divide by num_attention_heads")


def write_mmproj(path, tensors, hparams, ftype="F16", name=None):
    """tensors: HF name -> array-like (numpy or torch, any float dtype).
    hparams: image_size, patch_size, hidden_size, intermediate_size,
    num_attention_heads, num_hidden_layers, layer_norm_eps, scale_factor,
    image_mean, image_std, projection_dim; optional preproc_image_size."""
    if ftype not in FILE_TYPE:
        raise ValueError(f"ftype must be one of {sorted(FILE_TYPE)}")
    t = {}
    for k, v in tensors.items():
        if hasattr(v, "detach"):
            v = v.detach().cpu().double().numpy()
        t[k] = np.asarray(v)
    _check_shapes(t, hparams)
    hp = hparams
    w = gw.GGUFWriter()
    w.add("general.architecture", gw.string("clip"))
    w.add("general.type", gw.string("mmproj"))
    if name:
        w.add("general.name", gw.string(name))
    w.add("general.file_type", gw.u32(FILE_TYPE[ftype]))
    w.add("clip.projector_type", gw.string("idefics3"))
    w.add("clip.has_vision_encoder", gw.boolean(True))
    w.add("clip.use_gelu", gw.boolean(True))
    w.add("clip.vision.projection_dim", gw.u32(hp["projection_dim"]))
    w.add("clip.vision.image_size", gw.u32(hp["image_size"]))
    w.add("clip.vision.patch_size", gw.u32(hp["patch_size"]))
    w.add("clip.vision.embedding_length", gw.u32(hp["hidden_size"]))
    w.add("clip.vision.feed_forward_length", gw.u32(hp["intermediate_size"]))
    w.add("clip.vision.block_count", gw.u32(hp["num_hidden_layers"]))
    w.add("clip.vision.attention.head_count", gw.u32(hp["num_attention_heads"]))
    w.add("clip.vision.image_mean", gw.arr(gw.FLOAT32, [float(x) for x in hp["image_mean"]]))
    w.add("clip.vision.image_std", gw.arr(gw.FLOAT32, [float(x) for x in hp["image_std"]]))
    w.add("clip.vision.attention.layer_norm_epsilon", gw.f32(float(hp["layer_norm_eps"])))
    w.add("clip.vision.projector.scale_factor", gw.u32(hp["scale_factor"]))
    w.add("clip.vision.preproc_image_size", gw.u32(hp.get("preproc_image_size", hp["image_size"])))

    order = expected_names(hp["num_hidden_layers"])
    for hf in order:
        arr = t[hf]
        gname = gguf_name(hf)
        ttype = _tensor_type(gname, arr, ftype)
        rows = arr.reshape(-1, arr.shape[-1]) if arr.ndim > 1 else arr.reshape(1, -1)
        data = quants.quantize(rows.astype(np.float32), ttype)
        w.add_tensor(gname, tuple(reversed(arr.shape)), ttype, data)
    w.write(path)
    return path
