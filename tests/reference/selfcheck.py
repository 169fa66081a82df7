#!/usr/bin/env python3
"""Checks the test machinery itself, without the engine:

- synth.py output: llama.cpp's key names and types, tensor shapes in GGUF
  order, per-architecture tensors, type assignment (mixed, fallbacks),
  a consistent byte-level vocabulary, --vocab-from, determinism by seed;
- reference.py: float32 agrees with float64, the Hugging Face rotate-half path
  agrees with rotating adjacent pairs on llama's stored weights, every test
  case has a non-degenerate softmax;
- compare.py: passes a correct stand-in engine (the reference in float32,
  and one rounding activations like ggml) and fails stand-ins that make the
  classic mistakes (wrong RoPE convention, missing biases, missing Qwen3 q/k
  norms, wrong GQA head mapping, ignored RoPE scaling).

    selfcheck.py OUT_DIR
"""
import contextlib
import io
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "models"))
import cases  # noqa: E402
import compare  # noqa: E402
import quants  # noqa: E402
import reference  # noqa: E402
import synth  # noqa: E402
from gguf_reader import GGUFFile  # noqa: E402

failures = []
passes = [0]


def check(cond, msg):
    if cond:
        passes[0] += 1
    else:
        failures.append(msg)
    print(f"{'ok  ' if cond else 'FAIL'} {msg}")


def make(out_dir, name, *args):
    path = os.path.join(out_dir, name)
    synth.main(list(args) + ["--out", path, "--quiet"])
    return path


STRING, UINT32, FLOAT32, BOOL, INT32, ARRAY = 8, 4, 6, 7, 5, 9


def test_metadata(out_dir):
    for arch in ("llama", "qwen2", "qwen3"):
        path = make(out_dir, f"meta-{arch}.gguf", "--arch", arch, "--shape", "tiny", "--type", "F32", "--seed", "3")
        g = GGUFFile(path)
        s = synth.SHAPES["tiny"]
        want = {"general.architecture": STRING, "general.name": STRING, "general.basename": STRING,
                "general.size_label": STRING, "general.file_type": UINT32,
                f"{arch}.context_length": UINT32, f"{arch}.embedding_length": UINT32,
                f"{arch}.block_count": UINT32, f"{arch}.feed_forward_length": UINT32,
                f"{arch}.attention.head_count": UINT32, f"{arch}.attention.head_count_kv": UINT32,
                f"{arch}.rope.freq_base": FLOAT32, f"{arch}.attention.layer_norm_rms_epsilon": FLOAT32,
                "tokenizer.ggml.model": STRING, "tokenizer.ggml.pre": STRING,
                "tokenizer.ggml.tokens": ARRAY, "tokenizer.ggml.token_type": ARRAY,
                "tokenizer.ggml.merges": ARRAY, "tokenizer.ggml.eos_token_id": UINT32,
                "tokenizer.ggml.add_bos_token": BOOL}
        bad = [k for k, t in want.items() if g.kv_types.get(k, (None,))[0] != t]
        check(not bad, f"{arch}: keys present with llama.cpp's types {bad if bad else ''}")
        check(g.kv["general.architecture"] == arch and g.kv[f"{arch}.block_count"] == s["n_layer"],
              f"{arch}: architecture and block_count values")
        hd = s["qwen3_head_dim"] if arch == "qwen3" else s["n_embd"] // s["n_head"]
        ne_q = g.tensors["blk.0.attn_q.weight"][0]
        check(ne_q == [s["n_embd"], s["n_head"] * hd], f"{arch}: attn_q GGUF shape is (in, out) = {ne_q}")
        check(g.tensors["blk.1.ffn_down.weight"][0] == [s["n_ff"], s["n_embd"]], f"{arch}: ffn_down shape (n_ff, n_embd)")
        check(g.tensors["token_embd.weight"][0] == [s["n_embd"], s["n_vocab"]], f"{arch}: token_embd shape (n_embd, n_vocab)")
        biases = [n for n in g.tensors if n.endswith(".bias")]
        check((len(biases) == 3 * s["n_layer"]) == (arch == "qwen2"), f"{arch}: q/k/v biases only on qwen2")
        qn = g.tensors.get("blk.0.attn_q_norm.weight")
        check((qn is not None and qn[0] == [hd]) == (arch == "qwen3"), f"{arch}: per-head q/k norms only on qwen3")
        if arch == "qwen3":
            check(g.kv.get("qwen3.attention.key_length") == hd and hd != s["n_embd"] // s["n_head"],
                  "qwen3: key_length stored and differs from n_embd / n_head")
        ones = [n for n, (ne, t, _) in g.tensors.items() if len(ne) == 1 and t != quants.F32]
        check(not ones, "1-D tensors are F32")

    q = GGUFFile(make(out_dir, "meta-q.gguf", "--arch", "llama", "--shape", "tiny", "--type", "Q4_K", "--untied"))
    types = {quants.NAMES[t] for n, (ne, t, _) in q.tensors.items() if len(ne) == 2}
    check(types == {"Q4_0"}, f"Q4_K on 64-wide rows falls back to Q4_0 ({types})")
    m = GGUFFile(make(out_dir, "meta-mixed.gguf", "--arch", "llama", "--shape", "tiny256", "--type", "mixed", "--tied"))
    tt = {n: quants.NAMES[t] for n, (ne, t, _) in m.tensors.items()}
    check(tt["token_embd.weight"] == "Q6_K" and tt["blk.0.ffn_down.weight"] == "Q6_K"
          and tt["blk.0.attn_q.weight"] == "Q4_K" and "output.weight" not in m.tensors,
          "mixed + tied: token_embd and ffn_down Q6_K, attention Q4_K, no output.weight")
    check(m.kv["general.file_type"] == 15, "mixed is file type 15 (Q4_K_M)")
    u = GGUFFile(make(out_dir, "meta-u.gguf", "--arch", "llama", "--shape", "tiny256", "--type", "mixed", "--untied"))
    check(quants.NAMES[u.tensors["output.weight"][1]] == "Q6_K" and quants.NAMES[u.tensors["token_embd.weight"][1]] == "Q4_K",
          "mixed + untied: output Q6_K, token_embd Q4_K")

    lin = GGUFFile(make(out_dir, "meta-lin.gguf", "--arch", "llama", "--shape", "tiny", "--type", "F32",
                        "--rope-scaling", "linear", "--rope-factor", "4"))
    check(lin.kv.get("llama.rope.scaling.type") == "linear" and lin.kv.get("llama.rope.scaling.factor") == 4.0,
          "linear rope scaling keys")
    l3 = GGUFFile(make(out_dir, "meta-l3.gguf", "--arch", "llama", "--shape", "tiny", "--type", "F32",
                       "--rope-scaling", "llama3"))
    f = l3.tensor("rope_freqs.weight")
    hd = 64 // 4
    check(f.shape == (hd // 2,) and f[0] == 1.0 and f[-1] == 8.0 and len(set(f.tolist())) >= 4,
          f"llama3 rope_freqs: n_rot/2 factors from 1 to 8 with a smooth middle {np.round(f, 3).tolist()}")


def test_vocab(out_dir):
    g = GGUFFile(os.path.join(out_dir, "meta-llama.gguf"))
    toks = g.kv["tokenizer.ggml.tokens"]
    merges = g.kv["tokenizer.ggml.merges"]
    index = set(toks)
    check(len(index) == len(toks) == 512, "synthetic vocabulary: 512 distinct tokens")
    ok = all(len(m.split(" ")) == 2 and all(p in index for p in m.split(" ")) and m.replace(" ", "") in index
             for m in merges)
    check(ok and len(merges) == 512 - 256 - 3, "every merge joins two tokens into a token")
    b2u = synth.bytes_to_unicode()
    check(toks[:256] == [b2u[b] for b in range(256)], "ids 0..255 are the byte tokens")
    check(list(g.kv["tokenizer.ggml.token_type"][-3:]) == [3, 3, 3], "special tokens are control tokens")
    other = make(out_dir, "vocab-from.gguf", "--arch", "qwen3", "--shape", "tiny", "--type", "F32",
                 "--vocab-from", os.path.join(out_dir, "meta-llama.gguf"))
    o = GGUFFile(other)
    check(o.kv["tokenizer.ggml.tokens"] == toks and o.kv["tokenizer.ggml.merges"] == merges
          and o.tensors["token_embd.weight"][0][1] == len(toks), "--vocab-from copies the tokenizer and sets n_vocab")


def test_determinism(out_dir):
    a = make(out_dir, "det-a.gguf", "--arch", "qwen3", "--shape", "tiny", "--type", "Q8_0", "--seed", "5")
    b = make(out_dir, "det-b.gguf", "--arch", "qwen3", "--shape", "tiny", "--type", "Q8_0", "--seed", "5")
    c = make(out_dir, "det-c.gguf", "--arch", "qwen3", "--shape", "tiny", "--type", "Q8_0", "--seed", "6")
    ra, rb, rc = (open(p, "rb").read() for p in (a, b, c))
    check(ra == rb and ra != rc, "same seed -> identical file, other seed -> different weights")


def test_reference(out_dir):
    for c in cases.CASES:
        if c.shape != "tiny":
            continue
        path = c.make(out_dir)
        toks = c.prompt()
        m64 = reference.Model(path)
        l64 = m64.forward(toks)
        l32 = reference.Model(path, dtype=torch.float32).forward(toks).double()
        e = float((l32 - l64).abs().max())
        check(e < 1e-4, f"{c.name}: float32 reference within {e:.1e} of float64")
        if c.arch == "llama" and c.ftype == "F32":
            lp = reference.Model(path, rope_pairs=True).forward(toks)
            e = float((lp - l64).abs().max())
            check(e < 1e-9, f"{c.name}: adjacent-pair RoPE on stored weights == HF rotate-half after un-permuting ({e:.1e})")
    for c in cases.CASES:
        path = c.make(out_dir)
        p = torch.softmax(reference.Model(path).forward(c.prompt()), -1).max(-1).values
        check(0.02 < float(p.min()) and float(p.max()) < compare.MAX_TOP_PROB,
              f"{c.name}: softmax neither flat nor one-hot (top p {float(p.min()):.3f}..{float(p.max()):.3f})")


def stand_in(**model_kw):
    """A run_dumper replacement: the reference (in float32) plays the engine."""
    def run(dumper, model, tokens, threads, greedy, batch=0):
        m = reference.Model(model, dtype=torch.float32, **model_kw)
        out = {"n_vocab": m.n_vocab, "logits": m.forward(tokens).double().numpy().tolist()}
        if greedy:
            out["greedy"] = m.greedy(tokens, greedy)
        return out, 0.0
    return run


def test_compare(out_dir):
    build = os.path.join(out_dir, "build")

    def problems(case, run):
        with contextlib.redirect_stdout(io.StringIO()):
            return compare.check_case(cases.BY_NAME[case], build, "stand-in", 1, run=run)

    for case in ("llama-f32", "qwen3-f32", "llama-rope-llama3"):
        p = problems(case, stand_in())
        check(not p, f"compare {case}: a correct float32 engine passes (logits and greedy) {p if p else ''}")
    for case in ("llama-q4_0", "qwen3-q4_k", "llama-bf16", "qwen3-mixed"):
        p = problems(case, stand_in(act_quant=True))
        check(not p, f"compare {case}: an engine rounding activations like ggml passes {p if p else ''}")
    for case, mistake in (("llama-f32", "rope"), ("qwen3-f32", "rope"), ("qwen2-f32", "bias"),
                          ("qwen3-f32", "qk-norm"), ("llama-f32", "gqa"), ("llama-rope-linear", "rope-scaling"),
                          ("llama-rope-llama3", "rope-scaling"), ("llama-q4_0", "rope")):
        p = problems(case, stand_in(mistake=mistake))
        check(bool(p), f"compare {case}: an engine with the '{mistake}' mistake fails ({p[0] if p else 'passed!'})")


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "selfcheck-out"
    os.makedirs(out, exist_ok=True)
    test_metadata(out)
    test_vocab(out)
    test_determinism(out)
    test_reference(out)
    test_compare(out)
    print(f"{passes[0]} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)
