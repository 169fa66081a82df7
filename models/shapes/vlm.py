"""The tiny SmolVLM-architecture model: a SigLIP-style vision transformer,
the Idefics3 connector (pixel shuffle + bias-free linear) and a Llama
decoder.

Vision and connector parameters carry Hugging Face Idefics3 names
(model.vision_model.*, model.connector.modality_projection.proj.weight), so
the mmproj export is a mechanical rename. The decoder is the project's
fortune Llama (models/fortune/model.py: adjacent-pair RoPE as llama.cpp runs
arch "llama"), fed embeddings instead of ids where the prompt has <image>.
"""
import importlib.util
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "fortune_model", os.path.join(os.path.dirname(HERE), "fortune", "model.py"))
llama = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(llama)


def linear(x, w, b=None):
    """x @ w.T (+ b) through oneDNN when torch has it (see fortune/model.py)."""
    y = llama._MkldnnLinear.apply(x, w) if llama.Linear.fast else F.linear(x, w)
    return y + b if b is not None else y


class Dense(nn.Linear):
    def forward(self, x):
        return linear(x, self.weight, self.bias)


class VisionConfig:
    def __init__(self, image_size=64, patch_size=8, hidden=96, layers=3, heads=4, ff=384,
                 eps=1e-6, scale_factor=2, text_width=192):
        self.image_size, self.patch_size, self.hidden = image_size, patch_size, hidden
        self.layers, self.heads, self.ff, self.eps = layers, heads, ff, eps
        self.scale_factor, self.text_width = scale_factor, text_width

    @property
    def n_patches(self):
        return (self.image_size // self.patch_size) ** 2

    @property
    def n_tokens(self):
        return self.n_patches // self.scale_factor ** 2

    def to_dict(self):
        return dict(self.__dict__)


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.patch_embedding = nn.Conv2d(3, c.hidden, c.patch_size, stride=c.patch_size)
        self.position_embedding = nn.Embedding(c.n_patches, c.hidden)

    def forward(self, px):
        """px (B, 3, S, S) -> (B, patches, hidden), patches in row-major order.
        The stride-p convolution is a linear map of each flattened (c, y, x) patch."""
        B, p, g = px.shape[0], self.c.patch_size, self.c.image_size // self.c.patch_size
        patches = px.view(B, 3, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(B, g * g, 3 * p * p)
        w = self.patch_embedding.weight.view(self.c.hidden, -1)
        return linear(patches, w, self.patch_embedding.bias) + self.position_embedding.weight


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads = c.heads
        self.q_proj, self.k_proj = Dense(c.hidden, c.hidden), Dense(c.hidden, c.hidden)
        self.v_proj, self.out_proj = Dense(c.hidden, c.hidden), Dense(c.hidden, c.hidden)

    def forward(self, x):
        B, T, D = x.shape
        hd = D // self.heads
        q, k, v = (m(x).view(B, T, self.heads, hd).transpose(1, 2)
                   for m in (self.q_proj, self.k_proj, self.v_proj))
        att = ((q @ k.transpose(-1, -2)) / math.sqrt(hd)).softmax(-1)
        return self.out_proj((att @ v).transpose(1, 2).reshape(B, T, D))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1, self.fc2 = Dense(c.hidden, c.ff), Dense(c.ff, c.hidden)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class EncoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(c.hidden, eps=c.eps)
        self.self_attn = Attention(c)
        self.layer_norm2 = nn.LayerNorm(c.hidden, eps=c.eps)
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(c) for _ in range(c.layers))


class VisionModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)
        self.post_layernorm = nn.LayerNorm(c.hidden, eps=c.eps)

    def forward(self, px):
        x = self.embeddings(px)
        for layer in self.encoder.layers:
            x = layer(x)
        return self.post_layernorm(x)


def pixel_shuffle(x, s):
    """Idefics3's pixel shuffle: (B, H*W, D) -> (B, H*W/s^2, s^2*D). Output
    token (h2, w2), row-major, holds for i, j < s the patch (h2*s+i, w2*s+j)
    at feature offset (i*s + j)*D, the element order Hugging Face's
    view/permute sequence produces."""
    B, N, D = x.shape
    h = w = int(round(math.sqrt(N)))
    x = x.reshape(B, h // s, s, w // s, s, D).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(B, (h // s) * (w // s), s * s * D)


class SimpleMLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.proj = nn.Linear(c.hidden * c.scale_factor ** 2, c.text_width, bias=False)


class Connector(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.scale_factor = c.scale_factor
        self.modality_projection = SimpleMLP(c)

    def forward(self, x):
        return linear(pixel_shuffle(x, self.scale_factor), self.modality_projection.proj.weight)


class Idefics3Parts(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.vision_model = VisionModel(c)
        self.connector = Connector(c)


class ShapesVLM(nn.Module):
    """model.* holds the vision side under HF names; text is the Llama."""

    def __init__(self, vcfg, tcfg, image_id):
        super().__init__()
        self.vcfg, self.tcfg, self.image_id = vcfg, tcfg, image_id
        self.model = Idefics3Parts(vcfg)
        self.text = llama.Llama(tcfg)
        for m in self.model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.normal_(m.weight, std=0.02)

    def encode_images(self, px):
        """px (N, 3, S, S), normalised -> (N, n_tokens, text width)."""
        return self.model.connector(self.model.vision_model(px))

    def forward(self, ids, px=None, emb=None):
        """ids (B, T); px the prompt's images in order (row by row), or emb
        their encodings: these replace the <image> positions, n_tokens per image."""
        x = self.text.tok_embd(ids)
        if emb is None and px is not None and px.shape[0]:
            emb = self.encode_images(px)
        if emb is not None:
            emb = emb.reshape(-1, x.shape[-1])
            mask = (ids == self.image_id)
            assert int(mask.sum()) == emb.shape[0], "one embedding per <image> token"
            x = x.masked_scatter(mask[..., None], emb.to(x.dtype))
        return self.text_forward(x)

    def text_forward(self, x):
        t = self.text
        B, T, _ = x.shape
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        cos, sin = t.cos[:T][None, None], t.sin[:T][None, None]
        for b in t.blocks:
            x = b(x, cos, sin, mask)
        return t.output(t.norm(x))


def normalise(img):
    """A PIL RGB image -> (3, S, S) float tensor, SmolVLM's scaling: x/255, mean 0.5, std 0.5."""
    import numpy as np
    a = torch.from_numpy(np.asarray(img, dtype=np.float32).copy()).permute(2, 0, 1)
    return (a / 255.0 - 0.5) / 0.5
