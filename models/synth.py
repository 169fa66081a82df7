#!/usr/bin/env python3
"""Writes GGUF models with random weights in llama.cpp's exact naming, for the
engine's numerical tests (tiny shapes) and benchmarks (real model shapes).

Weights are scaled so activations stay O(1) through every layer and the final
logits have a spread of a few units: softmax is neither flat nor one-hot, so
greedy choices are well separated and comparisons are meaningful.

    synth.py --arch qwen3 --shape tiny --type Q8_0 --seed 1 --out m.gguf
"""
import argparse
import math
import os
import struct
import sys
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf_writer as gw  # noqa: E402
import quants  # noqa: E402

# head_dim None: n_embd / n_head. qwen3_head_dim: what qwen3 uses instead
# (Qwen3 decouples head_dim from n_embd / n_head; tests must cover that).
SHAPES = {
    # unit-test sizes: rows of 64/128 fit Q4_0/Q8_0 but not the 256-wide K-quants
    "tiny": dict(n_layer=2, n_embd=64, n_head=4, n_head_kv=2, n_ff=128, n_ctx=256,
                 n_vocab=512, rope_base=10000.0, eps=1e-5, tied=False, qwen3_head_dim=32),
    # smallest shape whose rows are multiples of 256, for Q4_K / Q6_K / mixed
    "tiny256": dict(n_layer=2, n_embd=256, n_head=4, n_head_kv=2, n_ff=512, n_ctx=256,
                    n_vocab=512, rope_base=10000.0, eps=1e-5, tied=False, qwen3_head_dim=128),
    # Qwen2.5-0.5B's widths with 2 layers: 896 is not a multiple of 256, so K-quant
    # mixes fall back to Q5_0 / Q5_1 / Q8_0 on most matrices, as in real files
    "w896": dict(n_layer=2, n_embd=896, n_head=14, n_head_kv=2, n_ff=4864, n_ctx=256,
                 n_vocab=1024, rope_base=1000000.0, eps=1e-6, tied=True, qwen3_head_dim=64),
    # SmolLM2-135M's width (576: not a multiple of 256, exercises fallbacks) with few layers
    "small": dict(n_layer=4, n_embd=576, n_head=9, n_head_kv=3, n_ff=1536, n_ctx=2048,
                  n_vocab=2048, rope_base=100000.0, eps=1e-5, tied=True, qwen3_head_dim=128),
    "smollm2-135m": dict(n_layer=30, n_embd=576, n_head=9, n_head_kv=3, n_ff=1536, n_ctx=8192,
                         n_vocab=49152, rope_base=100000.0, eps=1e-5, tied=True),
    "qwen3-0.6b": dict(n_layer=28, n_embd=1024, n_head=16, n_head_kv=8, n_ff=3072, n_ctx=40960,
                       n_vocab=151936, rope_base=1000000.0, eps=1e-6, tied=True,
                       qwen3_head_dim=128),
    "llama-1b": dict(n_layer=16, n_embd=2048, n_head=32, n_head_kv=8, n_ff=8192, n_ctx=131072,
                     n_vocab=128256, rope_base=500000.0, eps=1e-5, tied=True),
}

# general.file_type values (llama.cpp's LLAMA_FTYPE_*; a pure Q3_K / Q4_K / Q5_K
# file is labelled as the _S variant). "mixed" is a simple Q4_K/Q6_K mix;
# Q4_K_M / Q5_K_M follow llama.cpp's rules for those file types.
FILE_TYPE = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10,
             "Q3_K": 11, "Q4_K": 14, "mixed": 15, "Q4_K_M": 15, "Q5_K": 16, "Q5_K_M": 17, "Q6_K": 18,
             "BF16": 32}

LOGIT_STD = 2.5      # target spread of the final logits
BIAS_STD = 0.3
# Output rows of control tokens are shrunk so greedy runs of a random model do
# not fall into emitting end-of-sequence (which would end a continuation test).
QUIET = 0.25
TIED_GAIN = 10.0


def bytes_to_unicode():
    """GPT-2's byte -> printable character map used by byte-level BPE vocabularies."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def synthetic_vocab(n_vocab, seed):
    """Byte tokens (ids 0..255 = bytes 0..255), then BPE merges of mostly
    letters, spaces and digits, then the special tokens at the end."""
    if n_vocab < 256 + len(SPECIALS):
        raise SystemExit(f"n_vocab {n_vocab} too small for a byte-level vocabulary")
    b2u = bytes_to_unicode()
    tokens = [b2u[b] for b in range(256)]
    seen = set(tokens)
    merges = []
    wordish = [b2u[b] for b in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,"]
    # pools hold tokens of at most 6 characters, so joins stay short and
    # almost never repeat: one draw per merge on average
    left_pool = list(wordish)                                  # may start with the space marker
    right_pool = [t for t in wordish if t != b2u[32]]
    rng = np.random.default_rng([seed, 0x70C])
    n_merge = n_vocab - 256 - len(SPECIALS)
    draws = iter(())
    while len(merges) < n_merge:
        try:
            ra, rb = next(draws)
        except StopIteration:
            draws = iter(rng.random((4096, 2)).tolist())
            continue
        a = left_pool[int(ra * len(left_pool))]
        b = right_pool[int(rb * len(right_pool))]
        t = a + b
        if t in seen:
            continue
        seen.add(t)
        tokens.append(t)
        merges.append(f"{a} {b}")
        if len(t) <= 6:
            left_pool.append(t)
            if not t.startswith(b2u[32]):
                right_pool.append(t)
    tokens += SPECIALS
    types = [1] * (len(tokens) - len(SPECIALS)) + [3] * len(SPECIALS)
    return tokens, types, merges


def copy_vocab(path):
    """tokenizer.* keys of another GGUF, with their stored types."""
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
    from gguf_reader import GGUFFile
    src = GGUFFile(path)
    kv = []
    for key, (vtype, etype) in src.kv_types.items():
        if not key.startswith("tokenizer."):
            continue
        val = src.kv[key]
        if vtype == gw.ARRAY:
            kv.append((key, gw.arr(etype, list(val))))
        else:
            kv.append((key, gw.Value(vtype, val)))
    tokens = src.kv.get("tokenizer.ggml.tokens")
    if tokens is None:
        raise SystemExit(f"{path}: no tokenizer.ggml.tokens")
    return kv, len(tokens)


def llama3_rope_factors(n_rot, base, factor, low, high, orig_ctx):
    """Per-pair frequency divisors as llama.cpp stores Llama 3.1 models (rope_freqs.weight)."""
    out = []
    for i in range(0, n_rot, 2):
        freq = 1.0 / base ** (i / n_rot)
        wavelen = 2 * math.pi / freq
        if wavelen < orig_ctx / high:
            out.append(1.0)
        elif wavelen > orig_ctx / low:
            out.append(factor)
        else:
            smooth = (orig_ctx / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def size_label(n_params):
    if n_params >= 1e9:
        return f"{n_params / 1e9:.1f}B"
    return f"{max(1, round(n_params / 1e6))}M"


class Plan:
    """Tensor list: (name, numpy shape, ggml type, generator of float32 data)."""

    def __init__(self, seed):
        self.seed = seed
        self.items = []

    def rng(self, name):
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])

    def normal(self, name, shape, std, mean=0.0, ttype=quants.F32, quiet_rows=()):
        def make():
            x = self.rng(name).standard_normal(shape, dtype=np.float32)
            x *= np.float32(std)
            if mean:
                x += np.float32(mean)
            if len(quiet_rows):
                x[list(quiet_rows)] *= np.float32(QUIET)
            return x
        self.items.append((name, tuple(shape), ttype, make))

    def const(self, name, values):
        v = np.asarray(values, dtype=np.float32)
        self.items.append((name, v.shape, quants.F32, lambda: v))


def use_more_bits(layer, n_layer):
    """llama.cpp's choice of the layers whose attn_v / ffn_down get Q6_K in
    Q4_K_M and Q5_K_M files: the first and last eighth and every third between."""
    return layer < n_layer // 8 or layer >= 7 * n_layer // 8 or (layer - n_layer // 8) % 3 == 2


# where rows do not fit a type's block: synth's own chain for single-type
# files, llama.cpp's for the _M mixes (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0).
# llama.cpp sends Q2_K / Q3_K to IQ4_NL, which rkserve does not read; Q4_0 here.
FALLBACK = {quants.Q4_K: quants.Q4_0, quants.Q6_K: quants.Q8_0, quants.Q5_K: quants.Q5_1,
            quants.Q3_K: quants.Q4_0, quants.Q2_K: quants.Q4_0}
FALLBACK_M = {quants.Q4_K: quants.Q5_0, quants.Q5_K: quants.Q5_1, quants.Q6_K: quants.Q8_0}
K_M_BASE = {"Q4_K_M": quants.Q4_K, "Q5_K_M": quants.Q5_K}


def matrix_type(name, ne0, ftype, tied, layer=0, n_layer=1):
    """ggml type of a 2-D weight, with fallbacks where rows do not fit a block."""
    fallback = FALLBACK
    is_output = name == "output.weight" or (tied and name == "token_embd.weight")
    if ftype == "mixed":
        want = quants.Q6_K if is_output or "ffn_down" in name else quants.Q4_K
    elif ftype in K_M_BASE:
        more = name in ("attn_v", "ffn_down") and use_more_bits(layer, n_layer)
        want = quants.Q6_K if is_output or more else K_M_BASE[ftype]
        fallback = FALLBACK_M
    else:
        want = quants.BY_NAME[ftype]
    while not quants.fits(want, ne0):
        want = fallback.get(want, quants.F16)
    return want


def build(args):
    if args.shape not in SHAPES:
        raise SystemExit(f"unknown shape {args.shape}; known: {', '.join(SHAPES)}")
    s = dict(SHAPES[args.shape])
    arch = args.arch
    tied = s["tied"] if args.tied is None else args.tied
    n_embd, n_head, n_head_kv, n_ff = s["n_embd"], s["n_head"], s["n_head_kv"], s["n_ff"]
    head_dim = n_embd // n_head
    if arch == "qwen3":
        head_dim = s.get("qwen3_head_dim", head_dim)

    kv = []
    if args.vocab_from:
        vocab_kv, n_vocab = copy_vocab(args.vocab_from)
    else:
        n_vocab = s["n_vocab"]
        tokens, types, merges = synthetic_vocab(n_vocab, args.seed)
        eos = tokens.index("<|endoftext|>")
        pre = {"llama": "llama-bpe", "qwen2": "qwen2", "qwen3": "qwen2"}[arch]
        if args.shape == "smollm2-135m":
            pre = "smollm"
        vocab_kv = [
            ("tokenizer.ggml.model", gw.string("gpt2")),
            ("tokenizer.ggml.pre", gw.string(pre)),
            ("tokenizer.ggml.tokens", gw.arr(gw.STRING, tokens)),
            ("tokenizer.ggml.token_type", gw.arr(gw.INT32, types)),
            ("tokenizer.ggml.merges", gw.arr(gw.STRING, merges)),
            ("tokenizer.ggml.bos_token_id", gw.u32(eos)),
            ("tokenizer.ggml.eos_token_id", gw.u32(eos)),
            ("tokenizer.ggml.padding_token_id", gw.u32(eos)),
            ("tokenizer.ggml.add_bos_token", gw.boolean(False)),
        ]

    plan = Plan(args.seed)
    mt = lambda name, ne0, layer=0: matrix_type(name, ne0, args.type, tied, layer, s["n_layer"])  # noqa: E731
    q_dim, kv_dim = n_head * head_dim, n_head_kv * head_dim
    embd_std = LOGIT_STD / math.sqrt(n_embd) if tied else 1.0
    # A tied model's residual stream still holds the input embedding at the
    # output, which favours repeating the last token; louder layer outputs
    # keep greedy continuations varied.
    gain = TIED_GAIN if tied else 1.0

    quiet = range(n_vocab - len(SPECIALS), n_vocab) if not args.vocab_from else ()
    plan.normal("token_embd.weight", (n_vocab, n_embd), embd_std, ttype=mt("token_embd.weight", n_embd),
                quiet_rows=quiet if tied else ())
    for i in range(s["n_layer"]):
        p = f"blk.{i}."
        plan.normal(p + "attn_norm.weight", (n_embd,), 0.1, mean=1.0)
        plan.normal(p + "attn_q.weight", (q_dim, n_embd), 1 / math.sqrt(n_embd), ttype=mt("attn_q", n_embd, i))
        plan.normal(p + "attn_k.weight", (kv_dim, n_embd), 1 / math.sqrt(n_embd), ttype=mt("attn_k", n_embd, i))
        plan.normal(p + "attn_v.weight", (kv_dim, n_embd), 1 / math.sqrt(n_embd), ttype=mt("attn_v", n_embd, i))
        if arch == "qwen2":
            plan.normal(p + "attn_q.bias", (q_dim,), BIAS_STD)
            plan.normal(p + "attn_k.bias", (kv_dim,), BIAS_STD)
            plan.normal(p + "attn_v.bias", (kv_dim,), BIAS_STD)
        if arch == "qwen3":
            plan.normal(p + "attn_q_norm.weight", (head_dim,), 0.1, mean=1.0)
            plan.normal(p + "attn_k_norm.weight", (head_dim,), 0.1, mean=1.0)
        plan.normal(p + "attn_output.weight", (n_embd, q_dim), gain / math.sqrt(q_dim),
                    ttype=mt("attn_output", q_dim, i))
        plan.normal(p + "ffn_norm.weight", (n_embd,), 0.1, mean=1.0)
        plan.normal(p + "ffn_gate.weight", (n_ff, n_embd), 1 / math.sqrt(n_embd), ttype=mt("ffn_gate", n_embd, i))
        plan.normal(p + "ffn_up.weight", (n_ff, n_embd), 1 / math.sqrt(n_embd), ttype=mt("ffn_up", n_embd, i))
        plan.normal(p + "ffn_down.weight", (n_embd, n_ff), gain / math.sqrt(n_ff), ttype=mt("ffn_down", n_ff, i))
    plan.normal("output_norm.weight", (n_embd,), 0.1, mean=1.0)
    if not tied:
        plan.normal("output.weight", (n_vocab, n_embd), LOGIT_STD / math.sqrt(n_embd),
                    ttype=mt("output.weight", n_embd), quiet_rows=quiet)
    if args.rope_scaling == "llama3":
        plan.const("rope_freqs.weight", llama3_rope_factors(
            head_dim, s["rope_base"], args.rope_factor, 1.0, 4.0, args.rope_orig_ctx))

    n_params = sum(int(np.prod(shape)) for _, shape, _, _ in plan.items)
    name = f"synthetic-{arch}-{args.shape}"
    kv += [
        ("general.architecture", gw.string(arch)),
        ("general.name", gw.string(name)),
        ("general.basename", gw.string(f"synthetic-{arch}")),
        ("general.size_label", gw.string(size_label(n_params))),
        ("general.file_type", gw.u32(FILE_TYPE[args.type])),
    ]
    if args.type not in ("F32", "F16", "BF16"):
        kv.append(("general.quantization_version", gw.u32(2)))
    kv += [
        (f"{arch}.context_length", gw.u32(s["n_ctx"])),
        (f"{arch}.embedding_length", gw.u32(n_embd)),
        (f"{arch}.block_count", gw.u32(s["n_layer"])),
        (f"{arch}.feed_forward_length", gw.u32(n_ff)),
        (f"{arch}.attention.head_count", gw.u32(n_head)),
        (f"{arch}.attention.head_count_kv", gw.u32(n_head_kv)),
        (f"{arch}.rope.freq_base", gw.f32(s["rope_base"])),
        (f"{arch}.attention.layer_norm_rms_epsilon", gw.f32(s["eps"])),
    ]
    # real llama files carry rope.dimension_count; qwen3 files carry key/value_length
    if arch == "llama":
        kv.append((f"{arch}.rope.dimension_count", gw.u32(head_dim)))
    if arch == "qwen3" or head_dim != n_embd // n_head:
        kv.append((f"{arch}.attention.key_length", gw.u32(head_dim)))
        kv.append((f"{arch}.attention.value_length", gw.u32(head_dim)))
    if args.rope_scaling == "linear":
        kv.append((f"{arch}.rope.scaling.type", gw.string("linear")))
        kv.append((f"{arch}.rope.scaling.factor", gw.f32(args.rope_factor)))
    kv += vocab_kv
    return kv, plan, n_params


def write_gguf(path, kv, plan, alignment=32):
    """Streams tensors one at a time so multi-GB F32 models need one tensor of RAM."""
    infos, offset, sizes = [], 0, []
    for name, shape, ttype, _ in plan.items:
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        nbytes = rows * quants.row_bytes(ttype, shape[-1])
        ne = list(reversed(shape))                 # GGUF lists ne[0] (contiguous) first
        infos.append(gw._pack_str(name) + struct.pack("<I", len(ne))
                     + b"".join(struct.pack("<Q", d) for d in ne) + struct.pack("<IQ", ttype, offset))
        sizes.append(nbytes)
        offset += nbytes + (-nbytes) % alignment
    head = [gw.GGUF_MAGIC, struct.pack("<IQQ", 3, len(plan.items), len(kv))]
    for key, val in kv:
        head.append(gw._pack_str(key) + struct.pack("<I", val.vtype) + gw._pack_value(val))
    head += infos
    header = b"".join(head)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(header + b"\0" * ((-len(header)) % alignment))
        for (name, shape, ttype, make), nbytes in zip(plan.items, sizes):
            x = make()
            data = quants.quantize(x.reshape(-1, shape[-1]), ttype)
            assert len(data) == nbytes, name
            f.write(data)
            f.write(b"\0" * ((-nbytes) % alignment))
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", required=True, choices=["llama", "qwen2", "qwen3"])
    ap.add_argument("--shape", required=True, help=", ".join(SHAPES))
    ap.add_argument("--type", required=True, choices=list(FILE_TYPE))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab-from", help="copy the tokenizer of this GGUF (sets n_vocab)")
    tie = ap.add_mutually_exclusive_group()
    tie.add_argument("--tied", dest="tied", action="store_true", default=None,
                     help="share token_embd with the output projection")
    tie.add_argument("--untied", dest="tied", action="store_false", help="separate output.weight")
    ap.add_argument("--rope-scaling", choices=["none", "linear", "llama3"], default="none")
    ap.add_argument("--rope-factor", type=float, default=None,
                    help="linear: position divisor (default 4); llama3: factor (default 8)")
    ap.add_argument("--rope-orig-ctx", type=int, default=64,
                    help="llama3: original context length of the frequency split (small so tests see it)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.rope_factor is None:
        args.rope_factor = 8.0 if args.rope_scaling == "llama3" else 4.0
    kv, plan, n_params = build(args)
    write_gguf(args.out, kv, plan)
    if not args.quiet:
        counts = {}
        for _, _, t, _ in plan.items:
            counts[quants.NAMES[t]] = counts.get(quants.NAMES[t], 0) + 1
        print(f"{args.out}: {args.arch} {args.shape} {args.type}, {n_params / 1e6:.2f}M params, "
              f"tensors by type {counts}")


if __name__ == "__main__":
    main()
