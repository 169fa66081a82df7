"""Writes the trained shapes model as a SmolVLM-style GGUF pair: the
language model as arch "llama" with a "gpt2" BPE vocabulary, SmolVLM's
special tokens and chat template, and the vision tower + connector as an
mmproj (models/mmproj_writer.py, llama.cpp's clip layout). The registry
pairs them because the projector's file name starts with "mmproj" and sits
in the same directory.

    /usr/bin/python3 models/shapes/export_gguf.py [--workdir W] [--outdir D]

Matrices go out as F16; norms, biases and the vision embeddings as F32.
"""
import argparse
import os
import shutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import data  # noqa: E402
import gguf_writer as gw  # noqa: E402
import mmproj_writer  # noqa: E402
import train  # noqa: E402

NAME = "shapes-vlm"
LLM_FILE = "shapes-vlm.gguf"
MMPROJ_FILE = "mmproj-shapes-vlm.gguf"

# text parameter name (under text.) -> GGUF tensor name (per block: blk.N.<name>)
BLOCK_NAMES = {
    "attn_norm.weight": "attn_norm", "wq.weight": "attn_q", "wk.weight": "attn_k",
    "wv.weight": "attn_v", "wo.weight": "attn_output", "ffn_norm.weight": "ffn_norm",
    "w_gate.weight": "ffn_gate", "w_up.weight": "ffn_up", "w_down.weight": "ffn_down",
}


def text_gguf_names(n_layer):
    """Our text parameter name -> GGUF name, in file order."""
    out = {"tok_embd.weight": "token_embd.weight"}
    for n in range(n_layer):
        for k, g in BLOCK_NAMES.items():
            out[f"blocks.{n}.{k}"] = f"blk.{n}.{g}.weight"
    out["norm.weight"] = "output_norm.weight"
    out["output.weight"] = "output.weight"
    return out


def vision_hparams(vcfg):
    return {"image_size": vcfg["image_size"], "patch_size": vcfg["patch_size"],
            "hidden_size": vcfg["hidden"], "intermediate_size": vcfg["ff"],
            "num_attention_heads": vcfg["heads"], "num_hidden_layers": vcfg["layers"],
            "layer_norm_eps": vcfg["eps"], "scale_factor": vcfg["scale_factor"],
            "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
            "projection_dim": vcfg["text_width"]}


def size_label(n):
    return f"{n / 1e6:.1f}M"


def write_llm(path, ck, tok):
    cfg = ck["text"]
    tokens = tok.tokens
    ids = tok.ids
    assert len(tokens) == cfg["vocab_size"]
    w = gw.GGUFWriter()
    w.add("general.architecture", "llama")
    w.add("general.name", NAME)
    w.add("general.basename", NAME)
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
    w.add("tokenizer.ggml.pre", "gpt-2")
    w.add("tokenizer.ggml.tokens", gw.arr(gw.STRING, tokens))
    # SmolVLM marks all its added tokens special, which llama.cpp writes as CONTROL (3)
    w.add("tokenizer.ggml.token_type",
          gw.arr(gw.INT32, [3 if t in data.SPECIALS else 1 for t in tokens]))
    w.add("tokenizer.ggml.merges", gw.arr(gw.STRING, [f"{a} {b}" for a, b in tok.inner.merges]))
    w.add("tokenizer.ggml.bos_token_id", gw.u32(ids[data.IM_START]))
    w.add("tokenizer.ggml.eos_token_id", gw.u32(ids[data.END_OF_UTTERANCE]))
    w.add("tokenizer.ggml.eot_token_id", gw.u32(ids[data.END_OF_UTTERANCE]))
    w.add("tokenizer.ggml.padding_token_id", gw.u32(ids[data.IM_END]))
    w.add("tokenizer.ggml.add_bos_token", gw.boolean(False))  # the template writes <|im_start|>
    w.add("tokenizer.ggml.add_eos_token", gw.boolean(False))
    w.add("tokenizer.chat_template", data.CHAT_TEMPLATE)
    sd = {k[len("text."):]: v for k, v in ck["model"].items() if k.startswith("text.")}
    names = text_gguf_names(cfg["n_layer"])
    assert sorted(names) == sorted(sd), "every trained text tensor is written once"
    for key, gname in names.items():
        t = sd[key].float().contiguous().numpy()
        if t.ndim == 1:
            w.add_tensor(gname, t.shape, gw.F32, t.astype("<f4").tobytes())
        else:  # (rows, cols) row-major is ne = (cols, rows)
            w.add_tensor(gname, t.shape[::-1], gw.F16, t.astype("<f2").tobytes())
    w.write(path)


def export(workdir, outdir):
    tok = train.load_tokenizer(workdir)
    ck = torch.load(os.path.join(workdir, "final.pt"))
    llm = os.path.join(outdir, LLM_FILE)
    write_llm(llm, ck, tok)
    vision = {k: v for k, v in ck["model"].items() if k.startswith("model.")}
    assert sorted(vision) == sorted(mmproj_writer.expected_names(ck["vision"]["layers"]))
    mm = os.path.join(outdir, MMPROJ_FILE)
    mmproj_writer.write_mmproj(mm, vision, vision_hparams(ck["vision"]), ftype="F16",
                               name=NAME + " vision")
    shutil.copyfile(os.path.join(workdir, "train.log"), os.path.join(outdir, "train.log"))
    for p in (llm, mm):
        print(f"wrote {p}: {os.path.getsize(p)} bytes")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", default=os.path.join(HERE, "work"))
    ap.add_argument("--outdir", default=HERE)
    a = ap.parse_args()
    export(a.workdir, a.outdir)
