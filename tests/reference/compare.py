#!/usr/bin/env python3
"""Engine vs PyTorch reference on synthetic models.

For each case: write the synthetic GGUF into the build dir, run the engine's
logits dumper on a fixed prompt, run the reference on the same tokens, and
compare the logits at every prompt position (cosine and max |difference|
within per-type bounds). F32 cases also check greedy decoding: every token
the engine generates must be the reference's argmax given the tokens before
it, which makes the two greedy continuations identical.

    compare.py BUILD_DIR CASE [CASE ...] [--dumper PATH] [--threads N]
    compare.py BUILD_DIR --all
    compare.py --list
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cases  # noqa: E402

# Per-type bounds on the logits (std ~2.5), checked at every prompt position.
# (min cosine, max |engine - reference|). F32/F16/BF16 cases must hold
# cosine >= 0.9999 or better; quantised bounds cover an engine that rounds
# activations to 8-bit blocks as ggml does (measured with llama.cpp, see
# README.md), with a margin of about 3x.
BOUNDS = {
    "F32": (0.999999, 2e-4),
    "F16": (0.99999, 3e-2),
    "BF16": (0.9999, 1.2e-1),
    "Q8_0": (0.999, 0.6),
    "Q4_0": (0.999, 0.6),
    "Q4_1": (0.999, 0.6),
    "Q5_0": (0.999, 0.6),
    "Q5_1": (0.999, 0.6),
    "Q2_K": (0.998, 1.0),
    "Q3_K": (0.998, 1.0),
    "Q4_K": (0.998, 1.0),
    "Q5_K": (0.998, 1.0),
    "Q6_K": (0.998, 1.0),
    "mixed": (0.998, 1.0),
    "Q4_K_M": (0.998, 1.0),
    "Q5_K_M": (0.998, 1.0),
}
N_GREEDY = 16
MAX_TOP_PROB = 0.99     # a reference softmax above this is one-hot: the case would test nothing


def run_dumper(dumper, model, tokens, threads, greedy, batch=0):
    cmd = [dumper, model, "--tokens", ",".join(map(str, tokens)), "--threads", str(threads)]
    if greedy:
        cmd += ["--greedy", str(greedy)]
    if batch:
        cmd += ["--batch", str(batch)]
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-4000:]}")
    try:
        out = json.loads(p.stdout)
    except json.JSONDecodeError as e:
        raise RuntimeError(f"dumper output is not JSON ({e}): {p.stdout[:300]!r}")
    return out, time.time() - t0


def check_case(case, build_dir, dumper, threads, run=run_dumper):
    """Returns the list of problems found (empty: the case passes). `run`
    stands in for the dumper in the self-test."""
    import numpy as np
    import torch
    import reference

    out_dir = os.path.join(build_dir, "tests", "reference-models")
    os.makedirs(out_dir, exist_ok=True)
    model_path = case.make(out_dir)
    tokens = case.prompt()
    problems = []

    eng, secs = run(dumper, model_path, tokens, threads, N_GREEDY if case.greedy else 0, case.batch)
    ref_model = reference.Model(model_path)
    ref = ref_model.forward(tokens).numpy()
    V = ref_model.n_vocab

    if eng.get("n_vocab") != V:
        return [f"n_vocab: engine {eng.get('n_vocab')}, reference {V}"]
    got = np.asarray(eng.get("logits"), dtype=np.float64)
    if got.shape != ref.shape:
        return [f"logits shape: engine {got.shape}, reference {ref.shape}"]
    if not np.isfinite(got).all():
        return ["engine logits contain NaN/inf"]

    top = torch.softmax(torch.tensor(ref), dim=-1).max(dim=-1).values
    if float(top.max()) > MAX_TOP_PROB:
        problems.append(f"reference softmax is one-hot (max p {float(top.max()):.4f}): bad synthetic case")

    min_cos, max_abs = BOUNDS[case.ftype]
    cos = (got * ref).sum(-1) / (np.linalg.norm(got, axis=-1) * np.linalg.norm(ref, axis=-1))
    err = np.abs(got - ref).max(-1)
    T = len(tokens)
    shown = sorted({0, T // 2, T - 1, int(cos.argmin()), int(err.argmax())})
    for pos in shown:
        print(f"  pos {pos:3d}: cosine {cos[pos]:.8f}  max|diff| {err[pos]:.3e}  "
              f"argmax engine {int(got[pos].argmax())} reference {int(ref[pos].argmax())}")
    print(f"  all {T} positions: min cosine {cos.min():.8f} (bound {min_cos}), "
          f"max|diff| {err.max():.3e} (bound {max_abs:g}); engine {secs:.2f}s")
    if cos.min() < min_cos:
        problems.append(f"cosine {cos.min():.8f} < {min_cos} at position {int(cos.argmin())}")
    if err.max() > max_abs:
        problems.append(f"max|diff| {err.max():.3e} > {max_abs:g} at position {int(err.argmax())}")

    if case.greedy:
        gen = [int(t) for t in eng.get("greedy", [])]
        if not gen:
            problems.append("engine returned no greedy tokens")
        else:
            seq_logits = ref_model.forward(tokens + gen).numpy()
            ref_pick = seq_logits[T - 1:].argmax(-1)            # what the reference picks at each step
            eos = ref_model.g.kv.get("tokenizer.ggml.eos_token_id")
            for i, t in enumerate(gen):
                if t != int(ref_pick[i]):
                    row = seq_logits[T - 1 + i]
                    problems.append(f"greedy step {i}: engine {t} (ref logit {row[t]:.4f}), reference "
                                    f"{int(ref_pick[i])} (logit {row[ref_pick[i]]:.4f})")
                    break
            else:
                if len(gen) > N_GREEDY:
                    problems.append(f"engine generated {len(gen)} tokens, asked for {N_GREEDY}")
                elif len(gen) < N_GREEDY and gen[-1] != eos and int(ref_pick[len(gen)]) != eos:
                    problems.append(f"engine stopped after {len(gen)} tokens; reference continues with "
                                    f"{int(ref_pick[len(gen)])}, not end-of-sequence")
            print(f"  greedy: engine generated {len(gen)} tokens: {gen}")
    return problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build_dir", nargs="?")
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--list", action="store_true", help="print the case names, one a line")
    ap.add_argument("--dumper", help="default: BUILD_DIR/tests/dump_logits")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.list:
        print("\n".join(c.name for c in cases.CASES))
        return 0
    if not args.build_dir:
        ap.error("BUILD_DIR is required")
    todo = cases.CASES if args.all else []
    for n in args.cases:
        if n not in cases.BY_NAME:
            ap.error(f"unknown case {n}; see --list")
        todo.append(cases.BY_NAME[n])
    if not todo:
        ap.error("name a case or use --all")
    dumper = args.dumper or os.path.join(args.build_dir, "tests", "dump_logits")
    if not os.access(dumper, os.X_OK):
        print(f"FAIL: engine logits dumper not found at {dumper}")
        return 1
    failed = 0
    for c in todo:
        print(f"{c.name}: {c.arch} {c.shape} {c.ftype} {' '.join(c.extra)}"
              f"{f' prompt in chunks of {c.batch}' if c.batch else ''}".rstrip())
        try:
            problems = check_case(c, args.build_dir, dumper, args.threads)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            problems = [str(e)]
        for p in problems:
            print(f"  FAIL: {p}")
        print(f"{'ok' if not problems else 'FAIL'} {c.name}")
        failed += bool(problems)
    print(f"{len(todo) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
