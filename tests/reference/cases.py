"""The synthetic models the numerical tests run, shared by compare.py (engine
vs reference) and crosscheck_llamacpp.py (reference vs llama.cpp).

Bounds are on logits (the synthetic models' logits have a standard deviation
of about 2.5); see README.md for how they were measured.
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "models"))
import synth  # noqa: E402


class Case:
    def __init__(self, name, arch, shape, ftype, extra=(), greedy=False, n_prompt=32, batch=0):
        self.name, self.arch, self.shape, self.ftype = name, arch, shape, ftype
        self.extra = list(extra)
        self.greedy = greedy
        self.n_prompt = n_prompt
        self.batch = batch        # >0: the engine takes the prompt in chunks of this many tokens

    def synth_args(self, out, seed=7):
        return ["--arch", self.arch, "--shape", self.shape, "--type", self.ftype,
                "--seed", str(seed), "--out", out, "--quiet"] + self.extra

    def make(self, out_dir):
        path = os.path.join(out_dir, f"synth-{self.name}.gguf")
        synth.main(self.synth_args(path))
        return path

    def prompt(self):
        n_vocab = synth.SHAPES[self.shape]["n_vocab"]
        rng = np.random.default_rng(sum(map(ord, self.name)))
        # stay clear of the special tokens at the end of the synthetic vocabulary
        return [int(t) for t in rng.integers(0, n_vocab - 8, self.n_prompt)]


CASES = [
    Case("llama-f32", "llama", "tiny", "F32", ["--untied"], greedy=True),
    Case("llama-f16", "llama", "tiny", "F16", ["--untied"]),
    Case("llama-bf16", "llama", "tiny", "BF16", ["--untied"]),
    Case("llama-q8_0", "llama", "tiny", "Q8_0", ["--untied"]),
    Case("llama-q4_0", "llama", "tiny", "Q4_0", ["--untied"]),
    Case("llama-q4_k", "llama", "tiny256", "Q4_K", ["--untied"]),
    Case("llama-q6_k", "llama", "tiny256", "Q6_K", ["--untied"]),
    Case("llama-mixed", "llama", "tiny256", "mixed", ["--untied"]),
    Case("llama-q4_1", "llama", "tiny", "Q4_1", ["--untied"]),
    Case("llama-q5_0", "llama", "tiny", "Q5_0", ["--untied"]),
    Case("llama-q5_1", "llama", "tiny", "Q5_1", ["--untied"]),
    Case("llama-q5_k", "llama", "tiny256", "Q5_K", ["--untied"]),
    Case("llama-q3_k", "llama", "tiny256", "Q3_K", ["--untied"]),
    Case("llama-q2_k", "llama", "tiny256", "Q2_K", ["--untied"]),
    Case("llama-rope-linear", "llama", "tiny", "F32", ["--untied", "--rope-scaling", "linear",
                                                      "--rope-factor", "4"], greedy=True, n_prompt=48),
    Case("llama-rope-llama3", "llama", "tiny", "F32", ["--untied", "--rope-scaling", "llama3"],
         greedy=True, n_prompt=48, batch=7),
    Case("qwen2-f32", "qwen2", "tiny", "F32", ["--tied"], greedy=True),
    Case("qwen2-f32-1by1", "qwen2", "tiny", "F32", ["--tied"], batch=1),
    Case("qwen2-q8_0", "qwen2", "tiny", "Q8_0", ["--tied"]),
    Case("qwen3-f32", "qwen3", "tiny", "F32", ["--tied"], greedy=True),
    Case("qwen3-f16", "qwen3", "tiny", "F16", ["--tied"]),
    Case("qwen3-q4_k", "qwen3", "tiny256", "Q4_K", ["--tied"]),
    Case("qwen3-mixed", "qwen3", "tiny256", "mixed", ["--tied"], batch=5),
    # the one not-tiny case: SmolLM2's 576 width (K-quant fallbacks), 4 layers, 64 tokens
    Case("llama-small-mixed", "llama", "small", "mixed", [], n_prompt=64),
    # Qwen2.5-0.5B's 896 width: llama.cpp's Q4_K_M / Q5_K_M mixes with their
    # Q5_0 / Q5_1 / Q8_0 fallbacks on the rows that are not multiples of 256
    Case("qwen2-w896-q4_k_m", "qwen2", "w896", "Q4_K_M", ["--tied"]),
    Case("qwen3-w896-q5_k_m", "qwen3", "w896", "Q5_K_M", ["--tied"], batch=5),
]

BY_NAME = {c.name: c for c in CASES}
