"""The Llama architecture exactly as llama.cpp evaluates arch "llama".

RoPE rotates adjacent pairs (x[2i], x[2i+1]) — llama.cpp's "normal" mode —
so attn_q/attn_k go into the GGUF without the row permutation that HF's
rotate-half checkpoints need.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class _MkldnnLinear(torch.autograd.Function):
    """y = x @ w.T through oneDNN. Debian's torch links a generic BLAS that
    runs matmuls at a few GFLOP/s; oneDNN's GEMM is tens of times faster."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        shape = x.shape
        x2 = x.reshape(-1, shape[-1]).contiguous()
        y = torch._C._nn.mkldnn_linear(x2.to_mkldnn(), w.contiguous().to_mkldnn(), None)
        return y.to_dense().view(*shape[:-1], w.shape[0])

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        x2 = x.reshape(-1, x.shape[-1])
        g2 = gy.reshape(-1, gy.shape[-1])
        gx = torch._C._nn.mkldnn_linear(g2.contiguous().to_mkldnn(),
                                        w.t().contiguous().to_mkldnn(), None).to_dense()
        gw = torch._C._nn.mkldnn_linear(g2.t().contiguous().to_mkldnn(),
                                        x2.t().contiguous().to_mkldnn(), None).to_dense()
        return gx.view(x.shape), gw


class Linear(nn.Linear):
    """Bias-free linear layer; uses oneDNN when torch has it."""

    fast = torch.backends.mkldnn.is_available()

    def __init__(self, n_in, n_out):
        super().__init__(n_in, n_out, bias=False)

    def forward(self, x):
        if Linear.fast:
            return _MkldnnLinear.apply(x, self.weight)
        return F.linear(x, self.weight)


class Config:
    def __init__(self, vocab_size, n_embd=256, n_layer=4, n_head=8, n_head_kv=4,
                 n_ff=768, n_ctx=256, rope_base=10000.0, norm_eps=1e-5):
        self.vocab_size, self.n_embd, self.n_layer = vocab_size, n_embd, n_layer
        self.n_head, self.n_head_kv, self.n_ff, self.n_ctx = n_head, n_head_kv, n_ff, n_ctx
        self.rope_base, self.norm_eps = rope_base, norm_eps
        self.head_dim = n_embd // n_head

    def to_dict(self):
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d):
        d = {k: v for k, v in d.items() if k != "head_dim"}
        return cls(**d)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(cfg, n_pos):
    """cos/sin of pos * base^(-2i/d) for each pair i, shaped (n_pos, d/2)."""
    d = cfg.head_dim
    inv = cfg.rope_base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    ang = torch.arange(n_pos, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    """x: (B, H, T, D); rotates (x[2i], x[2i+1]) by the angle of pair i."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    y0 = x0 * cos - x1 * sin
    y1 = x0 * sin + x1 * cos
    return torch.stack((y0, y1), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, hd = cfg.n_embd, cfg.head_dim
        self.cfg = cfg
        self.attn_norm = RMSNorm(d, cfg.norm_eps)
        self.wq = Linear(d, cfg.n_head * hd)
        self.wk = Linear(d, cfg.n_head_kv * hd)
        self.wv = Linear(d, cfg.n_head_kv * hd)
        self.wo = Linear(cfg.n_head * hd, d)
        self.ffn_norm = RMSNorm(d, cfg.norm_eps)
        self.w_gate = Linear(d, cfg.n_ff)
        self.w_up = Linear(d, cfg.n_ff)
        self.w_down = Linear(cfg.n_ff, d)

    def forward(self, x, cos, sin, mask):
        """cos/sin: (B, 1, T, D/2) for each token's position; mask: True where
        attention is not allowed, broadcastable to (B, H, T, T)."""
        cfg = self.cfg
        B, T, _ = x.shape
        h = self.attn_norm(x)
        q = self.wq(h).view(B, T, cfg.n_head, cfg.head_dim).transpose(1, 2)
        k = self.wk(h).view(B, T, cfg.n_head_kv, cfg.head_dim).transpose(1, 2)
        v = self.wv(h).view(B, T, cfg.n_head_kv, cfg.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        rep = cfg.n_head // cfg.n_head_kv
        k = k.repeat_interleave(rep, dim=1)  # head h uses kv head h // rep
        v = v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(cfg.head_dim)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, cfg.n_head * cfg.head_dim)
        x = x + self.wo(o)
        h = self.ffn_norm(x)
        return x + self.w_down(F.silu(self.w_gate(h)) * self.w_up(h))


class Llama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.tok_embd = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.output = Linear(cfg.n_embd, cfg.vocab_size)
        cos, sin = rope_tables(cfg, cfg.n_ctx)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.apply(self._init)
        for b in self.blocks:  # scale residual projections by depth (GPT-2 practice)
            nn.init.normal_(b.wo.weight, std=0.02 / math.sqrt(2 * cfg.n_layer))
            nn.init.normal_(b.w_down.weight, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids, pos=None, seg=None):
        """ids (B, T). For packed rows, pos gives each token's position in its
        own sequence and seg which sequence it belongs to: tokens attend only
        within their sequence, so packing changes nothing but speed."""
        B, T = ids.shape
        x = self.tok_embd(ids)
        causal = torch.ones(T, T, dtype=torch.bool).triu(1)
        if pos is None:
            pos = torch.arange(T).expand(B, T)
            mask = causal
        else:
            mask = causal | (seg[:, :, None] != seg[:, None, :])
            mask = mask[:, None]
        cos, sin = self.cos[pos][:, None], self.sin[pos][:, None]
        for b in self.blocks:
            x = b(x, cos, sin, mask)
        return self.output(self.norm(x))

    @torch.no_grad()
    def greedy(self, ids, n):
        """Greedy continuation of one token list; returns the n new ids."""
        ids = list(ids)
        out = []
        for _ in range(n):
            ctx = ids[-self.cfg.n_ctx:]
            logits = self(torch.tensor([ctx]))[0, -1]
            t = int(logits.argmax())
            out.append(t)
            ids.append(t)
        return out
