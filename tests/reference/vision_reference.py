"""Float64 reference of the SmolVLM / Idefics3 image path, written from the
Hugging Face model definitions (SiglipVisionTransformer as Idefics3 uses it,
Idefics3Connector), never from rkserve's C code:

  pixels (3, S, S) -> Conv2d(3, D, P, stride P) -> + position embeddings
  -> per layer: x + out_proj(attn(LN1(x))), then x + fc2(gelu_tanh(fc1(LN2(x))))
  -> post LayerNorm -> Idefics3 pixel_shuffle(scale) -> proj (no bias)

and of a language model whose prompt holds those embeddings at given
positions (reference.Model with its input rows replaced).

Position ids are 0..N-1: for a full-size image Idefics3's bucketed ids
reduce to that.
"""
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gguf_reader import GGUFFile  # noqa: E402
import reference  # noqa: E402


class Vision:
    def __init__(self, path):
        g = GGUFFile(path)
        kv = g.kv
        assert kv["general.architecture"] == "clip" and kv["clip.projector_type"] == "idefics3"
        self.S = int(kv["clip.vision.image_size"])
        self.P = int(kv["clip.vision.patch_size"])
        self.D = int(kv["clip.vision.embedding_length"])
        self.H = int(kv["clip.vision.attention.head_count"])
        self.n_layer = int(kv["clip.vision.block_count"])
        self.scale = int(kv["clip.vision.projector.scale_factor"])
        self.eps = float(kv["clip.vision.attention.layer_norm_epsilon"])
        self.n_embd = int(kv["clip.vision.projection_dim"])
        w = lambda n: torch.tensor(g.tensor(n), dtype=torch.float64)  # noqa: E731
        self.patch_w, self.patch_b = w("v.patch_embd.weight"), w("v.patch_embd.bias")
        self.pos = w("v.position_embd.weight")
        self.post_w, self.post_b = w("v.post_ln.weight"), w("v.post_ln.bias")
        self.proj = w("mm.model.fc.weight")
        self.layers = []
        for i in range(self.n_layer):
            p = f"v.blk.{i}."
            self.layers.append({k: w(p + k) for k in (
                "ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias",
                "attn_q.weight", "attn_q.bias", "attn_k.weight", "attn_k.bias",
                "attn_v.weight", "attn_v.bias", "attn_out.weight", "attn_out.bias",
                "ffn_up.weight", "ffn_up.bias", "ffn_down.weight", "ffn_down.bias")})

    def pixel_shuffle(self, x):
        """Idefics3Connector.pixel_shuffle, step by step."""
        s = self.scale
        bsz, seq, dim = x.size()
        h = w = int(seq ** 0.5)
        x = x.view(bsz, h, w, dim)
        x = x.view(bsz, h, w // s, dim * s)
        x = x.permute(0, 2, 1, 3)
        x = x.reshape(bsz, w // s, h // s, dim * s * s)
        x = x.permute(0, 2, 1, 3)
        return x.reshape(bsz, seq // (s * s), dim * s * s)

    def encode(self, pixels):
        """pixels: (3, S, S) normalised -> (n_tokens, n_embd)."""
        F = torch.nn.functional
        x = torch.as_tensor(pixels, dtype=torch.float64)[None]
        x = F.conv2d(x, self.patch_w, self.patch_b, stride=self.P)        # (1, D, n, n)
        x = x.flatten(2).transpose(1, 2)                                   # (1, N, D)
        x = x + self.pos[None]
        N, D, H = x.shape[1], self.D, self.H
        hd = D // H
        for L in self.layers:
            r = x
            h = F.layer_norm(x, (D,), L["ln1.weight"], L["ln1.bias"], self.eps)
            q = (h @ L["attn_q.weight"].T + L["attn_q.bias"]).view(1, N, H, hd).transpose(1, 2)
            k = (h @ L["attn_k.weight"].T + L["attn_k.bias"]).view(1, N, H, hd).transpose(1, 2)
            v = (h @ L["attn_v.weight"].T + L["attn_v.bias"]).view(1, N, H, hd).transpose(1, 2)
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1) @ v
            a = a.transpose(1, 2).reshape(1, N, D)
            x = r + a @ L["attn_out.weight"].T + L["attn_out.bias"]
            r = x
            h = F.layer_norm(x, (D,), L["ln2.weight"], L["ln2.bias"], self.eps)
            h = F.gelu(h @ L["ffn_up.weight"].T + L["ffn_up.bias"], approximate="tanh")
            x = r + h @ L["ffn_down.weight"].T + L["ffn_down.bias"]
        x = F.layer_norm(x, (D,), self.post_w, self.post_b, self.eps)
        x = self.pixel_shuffle(x)
        return (x @ self.proj.T)[0]


def llm_logits(model, tokens, spans):
    """Logits (T, n_vocab) of reference.Model for tokens whose positions
    spans = [(pos, embd (n, n_embd))] take the given input rows instead."""
    extra = [torch.as_tensor(e, dtype=model.dtype) for _, e in spans]
    ids = list(tokens)
    base = model.tok_embd.shape[0]
    for (pos, e), start in zip(spans, _starts(base, extra)):
        for t in range(e.shape[0]):
            ids[pos + t] = start + t
    saved = model.tok_embd
    model.tok_embd = torch.cat([saved] + extra, dim=0)
    try:
        return model.forward(ids)
    finally:
        model.tok_embd = saved


def llm_greedy(model, tokens, spans, n):
    seq, out = list(tokens), []
    for _ in range(n):
        nxt = int(torch.argmax(llm_logits(model, seq, spans)[-1]))
        out.append(nxt)
        seq.append(nxt)
    return out


def _starts(base, extra):
    s = base
    for e in extra:
        yield s
        s += e.shape[0]


def load_llm(path):
    return reference.Model(path)
