#!/usr/bin/env python3
"""Independent PyTorch forward pass for llama / qwen2 / qwen3 GGUF models.

Written from the model definitions (Llama, Qwen2, Qwen3 as in their Hugging
Face implementations), not from rkserve's C code. Weights come from the GGUF
dequantised by models/quants.py, so the engine and this reference run on the
very same numbers; the math here is float64 unless asked otherwise.

llama-arch GGUFs store Q/K rows permuted by llama.cpp's converter so that
RoPE rotates adjacent pairs (2i, 2i+1). By default the reference undoes that
permutation and applies Hugging Face's rotate-half RoPE, i.e. it runs the
model as Hugging Face defines it; --rope-pairs instead rotates adjacent pairs
on the stored weights (the two must agree, which the self-test checks).

    reference.py MODEL.gguf --tokens 1,2,3 [--greedy N]   -> JSON like dump_logits
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_reader import GGUFFile  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models"))
import quants  # noqa: E402

ARCHS = ("llama", "qwen2", "qwen3")


class Model:
    def __init__(self, path, dtype=torch.float64, rope_pairs=False, act_quant=False, mistake=None):
        g = GGUFFile(path)
        self.g = g
        kv = g.kv
        arch = kv["general.architecture"]
        if arch not in ARCHS:
            raise ValueError(f"architecture {arch} not supported by the reference")
        self.arch = arch
        self.dtype = dtype
        self.rope_pairs = rope_pairs
        self.act_quant = act_quant
        self.mistake = mistake
        a = lambda k, d=None: kv.get(f"{arch}.{k}", d)  # noqa: E731
        self.n_layer = int(a("block_count"))
        self.n_embd = int(a("embedding_length"))
        self.n_head = int(a("attention.head_count"))
        self.n_head_kv = int(a("attention.head_count_kv", self.n_head))
        self.head_dim = int(a("attention.key_length", self.n_embd // self.n_head))
        self.n_rot = int(a("rope.dimension_count", self.head_dim))
        self.eps = float(a("attention.layer_norm_rms_epsilon"))
        self.rope_base = float(a("rope.freq_base", 10000.0))
        self.freq_scale = 1.0
        if a("rope.scaling.type", "none") == "linear":
            self.freq_scale = 1.0 / float(a("rope.scaling.factor", 1.0))
        self.rope_factors = None
        if g.has("rope_freqs.weight"):
            self.rope_factors = torch.tensor(g.tensor("rope_freqs.weight"), dtype=torch.float64)

        self.tok_embd = self._w("token_embd.weight")
        self.n_vocab = self.tok_embd.shape[0]
        self.out_norm = self._w("output_norm.weight")
        # tied models have no output.weight: the embedding doubles as the projection
        self.output = self._w("output.weight") if g.has("output.weight") else self.tok_embd
        self.output_qtype = g.tensor_type("output.weight" if g.has("output.weight") else "token_embd.weight")
        self.layers = []
        for i in range(self.n_layer):
            p = f"blk.{i}."
            L = {}
            for k in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                      "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"):
                L[k] = self._w(p + k + ".weight")
                L[k + ".type"] = g.tensor_type(p + k + ".weight")
            for k in ("attn_q", "attn_k", "attn_v"):
                L[k + ".bias"] = self._w(p + k + ".bias") if g.has(p + k + ".bias") else None
            for k in ("attn_q_norm", "attn_k_norm"):
                L[k] = self._w(p + k + ".weight") if g.has(p + k + ".weight") else None
            if arch == "llama" and not rope_pairs:
                L["attn_q"] = self._unpermute(L["attn_q"], self.n_head)
                L["attn_k"] = self._unpermute(L["attn_k"], self.n_head_kv)
                for k, nh in (("attn_q", self.n_head), ("attn_k", self.n_head_kv)):
                    if L[k + ".bias"] is not None:
                        L[k + ".bias"] = self._unpermute(L[k + ".bias"][:, None], nh)[:, 0]
            self.layers.append(L)

    def _w(self, name):
        return torch.tensor(self.g.tensor(name), dtype=self.dtype)

    def _unpermute(self, w, n_head):
        """Inverse of llama.cpp's converter permutation: per head, GGUF rows
        (2i, 2i+1) are Hugging Face rows (i, i + n_rot/2)."""
        rows, cols = w.shape
        hd = rows // n_head
        r = self.n_rot
        w = w.reshape(n_head, hd, cols)
        rot = w[:, :r].reshape(n_head, r // 2, 2, cols).transpose(1, 2).reshape(n_head, r, cols)
        return torch.cat([rot, w[:, r:]], dim=1).reshape(rows, cols)

    # ---- building blocks ----
    def rmsnorm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def linear(self, x, w, qtype):
        if self.act_quant and qtype not in (quants.F32,):
            x = simulate_act_rounding(x, qtype)
        return x @ w.T

    def rope_angles(self, n_pos):
        i = torch.arange(0, self.n_rot, 2, dtype=torch.float64)
        inv_freq = self.rope_base ** (-i / self.n_rot)
        if self.mistake != "rope-scaling":
            inv_freq = inv_freq * self.freq_scale
            if self.rope_factors is not None:
                inv_freq = inv_freq / self.rope_factors
        pos = torch.arange(n_pos, dtype=torch.float64)
        ang = pos[:, None] * inv_freq[None, :]                     # (T, n_rot/2)
        return torch.cos(ang).to(self.dtype), torch.sin(ang).to(self.dtype)

    def rope(self, x, cos, sin, adjacent):
        """x: (T, heads, head_dim). Rotates the first n_rot dims."""
        r = self.n_rot
        xr, rest = x[..., :r], x[..., r:]
        c, s = cos[:, None, :], sin[:, None, :]
        if adjacent:
            x0, x1 = xr[..., 0::2], xr[..., 1::2]
            y = torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).reshape(xr.shape)
        else:
            x0, x1 = xr[..., : r // 2], xr[..., r // 2:]
            y = torch.cat([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1)
        return torch.cat([y, rest], dim=-1)

    # ---- forward ----
    def forward(self, tokens):
        """Logits (T, n_vocab) for every position of the token list."""
        tokens = torch.tensor(tokens, dtype=torch.long)
        T = tokens.shape[0]
        hd, nh, nkv = self.head_dim, self.n_head, self.n_head_kv
        x = self.tok_embd[tokens]
        cos, sin = self.rope_angles(T)
        adjacent = self.arch == "llama" and self.rope_pairs
        if self.mistake == "rope":                    # the other RoPE convention
            adjacent = not adjacent
        mask = torch.full((T, T), float("-inf"), dtype=self.dtype).triu(1)
        group = nh // nkv
        for L in self.layers:
            h = self.rmsnorm(x, L["attn_norm"])
            q = self.linear(h, L["attn_q"], L["attn_q.type"])
            k = self.linear(h, L["attn_k"], L["attn_k.type"])
            v = self.linear(h, L["attn_v"], L["attn_v.type"])
            if self.mistake != "bias":
                if L["attn_q.bias"] is not None:
                    q = q + L["attn_q.bias"]
                if L["attn_k.bias"] is not None:
                    k = k + L["attn_k.bias"]
                if L["attn_v.bias"] is not None:
                    v = v + L["attn_v.bias"]
            q = q.reshape(T, nh, hd)
            k = k.reshape(T, nkv, hd)
            v = v.reshape(T, nkv, hd)
            if L["attn_q_norm"] is not None and self.mistake != "qk-norm":   # Qwen3: per head, before RoPE
                q = self.rmsnorm(q, L["attn_q_norm"])
            if L["attn_k_norm"] is not None and self.mistake != "qk-norm":
                k = self.rmsnorm(k, L["attn_k_norm"])
            q = self.rope(q, cos, sin, adjacent)
            k = self.rope(k, cos, sin, adjacent)
            # grouped-query attention: query head j reads kv head j // group
            if self.mistake == "gqa":                 # kv head j % n_kv instead of j // group
                k, v = k.repeat(1, group, 1), v.repeat(1, group, 1)
            else:
                k = k.repeat_interleave(group, dim=1)
                v = v.repeat_interleave(group, dim=1)
            scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd) + mask
            att = torch.softmax(scores, dim=-1)
            o = torch.einsum("hqk,khd->qhd", att, v).reshape(T, nh * hd)
            x = x + self.linear(o, L["attn_output"], L["attn_output.type"])
            h = self.rmsnorm(x, L["ffn_norm"])
            g = self.linear(h, L["ffn_gate"], L["ffn_gate.type"])
            u = self.linear(h, L["ffn_up"], L["ffn_up.type"])
            x = x + self.linear(torch.nn.functional.silu(g) * u, L["ffn_down"], L["ffn_down.type"])
        x = self.rmsnorm(x, self.out_norm)
        return self.linear(x, self.output, self.output_qtype)

    def greedy(self, tokens, n):
        seq = list(tokens)
        out = []
        for _ in range(n):
            nxt = int(torch.argmax(self.forward(seq)[-1]))
            out.append(nxt)
            seq.append(nxt)
        return out


def simulate_act_rounding(x, qtype):
    """Rounds activations the way a ggml-style engine feeds them to a matmul of
    this weight type (F16/BF16 copies, 8-bit blocks for quantised weights).
    Used only to estimate how far a correct engine may drift from the exact
    reference when choosing the documented tolerances."""
    a = x.detach().to(torch.float32).numpy()
    shape = a.shape
    a = a.reshape(-1, shape[-1])
    if qtype in (quants.Q2_K, quants.Q3_K, quants.Q4_K, quants.Q5_K, quants.Q6_K):
        r = _round_q8_k(a)
    else:
        act = {quants.F16: quants.F16, quants.BF16: quants.BF16}.get(qtype, quants.Q8_0)
        if not quants.fits(act, a.shape[1]):
            return x
        r = quants.dequantize(quants.quantize(a, act), act, a.shape[0], a.shape[1])
    return torch.tensor(r.reshape(shape), dtype=x.dtype)


def _round_q8_k(a):
    """ggml's Q8_K activation blocks: 256 values, float scale, the signed
    largest-magnitude value maps to -127."""
    v = a.reshape(-1, quants.QK_K)
    big = v[np.arange(v.shape[0]), np.abs(v).argmax(-1)]
    iscale = np.divide(np.float32(-127.0), big, out=np.zeros_like(big), where=big != 0)
    q = np.minimum(127, np.rint(v * iscale[:, None]))
    d = np.divide(np.float32(1.0), iscale, out=np.zeros_like(iscale), where=iscale != 0)
    return (q * d[:, None]).astype(np.float32).reshape(a.shape)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("--greedy", type=int, default=0)
    ap.add_argument("--float32", action="store_true", help="float32 math instead of float64")
    ap.add_argument("--rope-pairs", action="store_true", help="rotate adjacent pairs on the stored llama weights")
    ap.add_argument("--threads", type=int, help="ignored (accepted so this can stand in for dump_logits)")
    ap.add_argument("--act-rounding", action="store_true",
                    help="round matmul inputs like a ggml-style engine (for estimating tolerances)")
    ap.add_argument("--mistake", choices=["rope", "rope-scaling", "bias", "qk-norm", "gqa"],
                    help="commit a classic engine bug on purpose (to prove the comparison catches it)")
    args = ap.parse_args(argv)
    tokens = [int(t) for t in args.tokens.split(",") if t]
    m = Model(args.model, dtype=torch.float32 if args.float32 else torch.float64, rope_pairs=args.rope_pairs,
              act_quant=args.act_rounding, mistake=args.mistake)
    for t in tokens:
        if not 0 <= t < m.n_vocab:
            raise SystemExit(f"token {t} outside the vocabulary (n_vocab {m.n_vocab})")
    logits = m.forward(tokens)
    out = {"n_vocab": m.n_vocab, "logits": logits.to(torch.float64).tolist()}
    if args.greedy:
        out["greedy"] = m.greedy(tokens, args.greedy)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
