"""Writes the seed corpus for fuzz_gguf: small valid GGUF files that between
them reach every metadata value type, string arrays, both accepted versions,
a custom alignment and several tensor types and ranks, so mutations start
from every branch of the reader. Run with /usr/bin/python3 (needs numpy)."""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "models"))

import gguf_writer as gw  # noqa: E402

OUT = os.path.join(HERE, "corpus", "fuzz_gguf")


def pattern(n, seed):
    return bytes((seed * 31 + i * 7 + 1) & 0xFF for i in range(n))


def minimal():
    w = gw.GGUFWriter()
    w.add("general.architecture", "llama")
    w.add_tensor("w", (4,), gw.F32, struct.pack("<4f", 1, 2, 3, 4))
    return w


def all_types():
    w = gw.GGUFWriter()
    w.add("u8", gw.Value(gw.UINT8, 200))
    w.add("i8", gw.Value(gw.INT8, -100))
    w.add("u16", gw.Value(gw.UINT16, 60000))
    w.add("i16", gw.Value(gw.INT16, -30000))
    w.add("u32", gw.u32(4000000000))
    w.add("i32", gw.i32(-5))
    w.add("f32", gw.f32(1.5))
    w.add("bool", gw.boolean(True))
    w.add("str", gw.string("h\u00e9llo"))
    w.add("u64", gw.u64(2**40 + 3))
    w.add("i64", gw.Value(gw.INT64, -(2**40)))
    w.add("f64", gw.Value(gw.FLOAT64, -2.5))
    for t, vals in [(gw.UINT8, [1, 255]), (gw.INT8, [-1, 5]), (gw.UINT16, [7]),
                    (gw.INT16, [-7]), (gw.UINT32, [1, 2, 3]), (gw.INT32, [-9]),
                    (gw.FLOAT32, [0.5, -1.0]), (gw.BOOL, [True, False]),
                    (gw.UINT64, [2**63]), (gw.INT64, [-(2**62)]), (gw.FLOAT64, [3.25]),
                    (gw.UINT32, [])]:
        w.add(f"arr.{t}.{len(vals)}", gw.arr(t, vals))
    w.add("tokenizer.ggml.tokens", gw.arr(gw.STRING, ["<s>", "", "\u2581the", "a b"]))
    return w


def tensors_aligned():
    w = gw.GGUFWriter(alignment=64)
    w.add("general.alignment", gw.u32(64))
    w.add_tensor("token_embd.weight", (8, 2), gw.F32, pattern(64, 1))
    w.add_tensor("blk.0.attn_q.weight", (32, 2), gw.Q8_0, pattern(68, 2))
    w.add_tensor("blk.0.attn_k.weight", (32, 1), gw.Q4_0, pattern(18, 3))
    w.add_tensor("output_norm.weight", (5,), gw.F16, pattern(10, 4))
    w.add_tensor("rope", (2, 1, 1, 2), gw.BF16, pattern(8, 5))
    return w


def k_quants_v2():
    w = gw.GGUFWriter(version=2)
    w.add("general.architecture", "qwen3")
    w.add("qwen3.block_count", gw.u32(1))
    w.add_tensor("blk.0.ffn_down.weight", (256, 1), gw.Q4_K, pattern(144, 6))
    w.add_tensor("blk.0.ffn_up.weight", (256, 1), gw.Q6_K, pattern(210, 7))
    return w


def empty():
    return gw.GGUFWriter()


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "minimal.gguf": minimal(),
        "all_types.gguf": all_types(),
        "tensors_aligned.gguf": tensors_aligned(),
        "k_quants_v2.gguf": k_quants_v2(),
        "empty.gguf": empty(),
    }
    for name, w in seeds.items():
        w.write(os.path.join(OUT, name))
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in seeds)
    print(f"wrote {len(seeds)} seeds, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
