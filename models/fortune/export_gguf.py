"""Writes the trained fortune model as a GGUF that llama.cpp-style engines
load as arch "llama" with a "gpt2" BPE vocabulary.

    /usr/bin/python3 models/fortune/export_gguf.py [--workdir W] [--out F]

Matrices go out as F16, norm weights as F32. A torch Linear weight
(out, in) is written with shape (in, out) — GGUF lists ne[0] first — and
its row-major bytes unchanged. Q/K need no permutation: the model was
trained with llama.cpp's adjacent-pair RoPE.
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import data  # noqa: E402
import gguf_writer as gw  # noqa: E402

CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

# our parameter name -> GGUF tensor name (per block: blk.N.<name>)
BLOCK_NAMES = {
    "attn_norm.weight": "attn_norm", "wq.weight": "attn_q", "wk.weight": "attn_k",
    "wv.weight": "attn_v", "wo.weight": "attn_output", "ffn_norm.weight": "ffn_norm",
    "w_gate.weight": "ffn_gate", "w_up.weight": "ffn_up", "w_down.weight": "ffn_down",
}


def size_label(n):
    return f"{n / 1e6:.0f}M" if n >= 9.5e6 else f"{n / 1e6:.1f}M"


def gguf_name(key):
    if key == "tok_embd.weight":
        return "token_embd.weight"
    if key == "norm.weight":
        return "output_norm.weight"
    if key == "output.weight":
        return "output.weight"
    _, n, rest = key.split(".", 2)  # blocks.N.<param>
    return f"blk.{n}.{BLOCK_NAMES[rest]}.weight"


def export(workdir, out):
    ck = torch.load(os.path.join(workdir, "final.pt"))
    cfg = ck["config"]
    with open(os.path.join(workdir, "tokenizer.json")) as f:
        tok = json.load(f)
    tokens, merges = tok["tokens"], tok["merges"]
    ids = {t: i for i, t in enumerate(tokens)}
    types = [3 if t in data.SPECIALS else 1 for t in tokens]
    assert len(tokens) == cfg["vocab_size"]

    w = gw.GGUFWriter()
    w.add("general.architecture", "llama")
    w.add("general.name", "Fortune Llama")
    w.add("general.basename", "fortune")
    w.add("general.size_label", size_label(ck["n_params"]))
    w.add("general.file_type", gw.u32(1))  # mostly F16
    w.add("llama.context_length", gw.u32(cfg["n_ctx"]))
    w.add("llama.embedding_length", gw.u32(cfg["n_embd"]))
    w.add("llama.block_count", gw.u32(cfg["n_layer"]))
    w.add("llama.feed_forward_length", gw.u32(cfg["n_ff"]))
    w.add("llama.attention.head_count", gw.u32(cfg["n_head"]))
    w.add("llama.attention.head_count_kv", gw.u32(cfg["n_head_kv"]))
    w.add("llama.rope.freq_base", gw.f32(cfg["rope_base"]))
    w.add("llama.attention.layer_norm_rms_epsilon", gw.f32(cfg["norm_eps"]))
    w.add("llama.rope.dimension_count", gw.u32(cfg["n_embd"] // cfg["n_head"]))
    w.add("llama.vocab_size", gw.u32(cfg["vocab_size"]))
    w.add("tokenizer.ggml.model", "gpt2")
    w.add("tokenizer.ggml.pre", "gpt-2")  # llama.cpp's name for this split; "gpt2" fails to load there
    w.add("tokenizer.ggml.tokens", gw.arr(gw.STRING, tokens))
    w.add("tokenizer.ggml.token_type", gw.arr(gw.INT32, types))
    w.add("tokenizer.ggml.merges", gw.arr(gw.STRING, [f"{a} {b}" for a, b in merges]))
    w.add("tokenizer.ggml.bos_token_id", gw.u32(ids[data.BOS]))
    w.add("tokenizer.ggml.eos_token_id", gw.u32(ids[data.BOS]))
    w.add("tokenizer.ggml.eot_token_id", gw.u32(ids[data.IM_END]))
    w.add("tokenizer.ggml.add_bos_token", gw.boolean(True))
    w.add("tokenizer.ggml.add_eos_token", gw.boolean(False))
    w.add("tokenizer.chat_template", CHAT_TEMPLATE)

    sd = ck["model"]
    order = ["tok_embd.weight"]
    for n in range(cfg["n_layer"]):
        order += [f"blocks.{n}.{k}" for k in BLOCK_NAMES]
    order += ["norm.weight", "output.weight"]
    assert sorted(order) == sorted(sd), "every trained tensor is written once"
    for key in order:
        t = sd[key].float().contiguous().numpy()
        if t.ndim == 1:
            w.add_tensor(gguf_name(key), t.shape, gw.F32, t.astype("<f4").tobytes())
        else:  # (rows, cols) row-major is ne = (cols, rows)
            w.add_tensor(gguf_name(key), t.shape[::-1], gw.F16, t.astype("<f2").tobytes())
    w.write(out)
    print(f"wrote {out}: {os.path.getsize(out)} bytes, {ck['n_params']} parameters")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", default=os.path.join(HERE, "work"))
    ap.add_argument("--out", default=os.path.join(HERE, "fortune-llama.gguf"))
    a = ap.parse_args()
    export(a.workdir, a.out)
