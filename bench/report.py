#!/usr/bin/env python3
"""Turns the JSON results of bench/run.sh into markdown tables.

usage: report.py RESULTS_DIR

RESULTS_DIR holds membw.*.json (bandwidth measured several times), cases.json (the list of benchmarked models) and
per model and round NAME.rkserve.N.json, NAME.llamacpp.N.json and
NAME.llamacpp-1t.N.json (llama.cpp's one-thread decode). Rounds are merged:
best and median over every repetition of every round. The decode roofline is
the machine's measured streaming bandwidth at the benchmark's thread count (the
higher of memcpy, counted as bytes read + written, and a pure read stream: a
ceiling must not be below what was seen) divided by the bytes of weights one
decode step reads:
every tensor in the file once, except the token embedding table when the model
has a separate output matrix (then only one of its rows is read per token).
"""
import glob
import json
import os
import statistics
import struct
import sys

# GGUF metadata value types: fixed sizes, 8 = string, 9 = array.
_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


class _Reader:
    def __init__(self, f):
        self.f = f

    def take(self, fmt):
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.f.read(size))

    def string(self):
        (n,) = self.take("<Q")
        return self.f.read(n).decode("utf-8", "replace")

    def skip_value(self, vtype):
        if vtype in _SCALAR:
            self.f.seek(_SCALAR[vtype], 1)
        elif vtype == 8:
            (n,) = self.take("<Q")
            self.f.seek(n, 1)
        elif vtype == 9:
            etype, n = self.take("<IQ")
            if etype in _SCALAR:
                self.f.seek(_SCALAR[etype] * n, 1)
            else:
                for _ in range(n):
                    self.skip_value(etype)
        else:
            raise ValueError(f"unknown GGUF value type {vtype}")


def tensor_bytes(path):
    """{tensor name: bytes in the file}, from the gaps between data offsets."""
    with open(path, "rb") as f:
        r = _Reader(f)
        magic, version = r.take("<4sI")
        if magic != b"GGUF" or version < 2:
            raise ValueError(f"{path}: not a GGUF v2+ file")
        n_tensors, n_kv = r.take("<QQ")
        align = 32
        for _ in range(n_kv):
            key = r.string()
            (vtype,) = r.take("<I")
            if key == "general.alignment" and vtype == 4:
                (align,) = r.take("<I")
            else:
                r.skip_value(vtype)
        offsets = []
        for _ in range(n_tensors):
            name = r.string()
            (nd,) = r.take("<I")
            r.take(f"<{nd}Q")
            _, off = r.take("<IQ")
            offsets.append((off, name))
        data_start = (f.tell() + align - 1) // align * align
        end = os.fstat(f.fileno()).st_size - data_start
    offsets.sort()
    sizes = {}
    for i, (off, name) in enumerate(offsets):
        nxt = offsets[i + 1][0] if i + 1 < len(offsets) else end
        sizes[name] = nxt - off
    return sizes


def decode_bytes(path):
    sizes = tensor_bytes(path)
    total = sum(sizes.values())
    if "output.weight" in sizes and "token_embd.weight" in sizes:
        total -= sizes["token_embd.weight"]
    return total


def _load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def merge_rounds(d, name, kind):
    """One result from NAME.KIND.*.json: rates of all rounds pooled."""
    runs = [r for r in (_load(p) for p in sorted(glob.glob(os.path.join(d, f"{name}.{kind}.*.json")))) if r]
    if not runs:
        return None
    out = dict(runs[0])
    for test in ("pp", "tg"):
        rates = [x for r in runs for x in (r.get(f"{test}_tps") or [])]
        out[f"{test}_tps"] = rates
        out[f"{test}_tps_best"] = max(rates) if rates else None
        out[f"{test}_tps_median"] = statistics.median(rates) if rates else None
    out["load_ms"] = min(r["load_ms"] for r in runs)
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    out["rounds"] = len(runs)
    out["same_ids"] = len({r["ids_hash"] for r in runs}) == 1
    return out


def _f(x, digits=1):
    return "n/a" if x is None else f"{x:.{digits}f}"


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def _common_prefix(a, b):
    n = 0
    for x, y in zip(a or [], b or []):
        if x != y:
            break
        n += 1
    return n


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: report.py RESULTS_DIR")
    d = sys.argv[1]
    bw = {}
    for m in (_load(p) for p in sorted(glob.glob(os.path.join(d, "membw.*.json")))):
        for k, v in (m or {}).items():
            bw[k] = max(bw.get(k, v), v)
    cases = _load(os.path.join(d, "cases.json")) or []
    threads = cases[0]["threads"] if cases else 2
    copy_bw = bw.get(f"copy_gbps_{threads}t")
    read_bw = bw.get(f"read_gbps_{threads}t")
    roof_bw = max(copy_bw or 0, read_bw or 0) or None

    rows, extra, summary = [], [], []
    pp_n = tg_n = None
    for c in cases:
        rk = merge_rounds(d, c["name"], "rkserve")
        lc = merge_rounds(d, c["name"], "llamacpp")
        lc1 = merge_rounds(d, c["name"], "llamacpp-1t")
        nbytes = decode_bytes(c["model"])
        roof = roof_bw * 1e9 / nbytes if roof_bw else None
        get = lambda j, k: j.get(k) if j else None  # noqa: E731
        pp_n = pp_n or get(rk, "prompt_tokens") or get(lc, "prompt_tokens")
        tg_n = tg_n or get(rk, "gen_tokens") or get(lc, "gen_tokens")
        rk_pp, lc_pp = get(rk, "pp_tps_best"), get(lc, "pp_tps_best")
        rk_tg, lc_tg, lc1_tg = get(rk, "tg_tps_best"), get(lc, "tg_tps_best"), get(lc1, "tg_tps_best")
        same_ids = rk and lc and rk["same_ids"] and lc["same_ids"] and rk["ids_hash"] == lc["ids_hash"]
        note = "" if (same_ids or not (rk and lc)) else " (prompt ids differ!)"
        pct = None if roof is None or rk_tg is None else 100 * rk_tg / roof
        lc_best = max(lc_tg or 0, lc1_tg or 0) or None
        lc_pct = None if roof is None or lc_best is None else 100 * lc_best / roof
        rows.append(f"| {c['shape']} ({c['arch']}) | {c['type']}{note} | {nbytes / 1e6:.0f} "
                    f"| {_f(rk_pp)} | {_f(lc_pp)} | {_f(_ratio(rk_pp, lc_pp), 2)} "
                    f"| {_f(rk_tg)} | {_f(lc_tg)} | {_f(_ratio(rk_tg, lc_tg), 2)} "
                    f"| {_f(lc1_tg)} | {_f(_ratio(rk_tg, max(lc_tg or 0, lc1_tg or 0) or None), 2)} "
                    f"| {_f(roof)} | {_f(pct, 0)} % | {_f(lc_pct, 0)} % |")
        match = _common_prefix(get(rk, "tg_first_tokens"), get(lc, "tg_first_tokens"))
        n_first = len(get(rk, "tg_first_tokens") or [])
        extra.append(f"| {c['shape']} | {c['type']} | {_f(get(rk, 'pp_tps_median'))} | {_f(get(lc, 'pp_tps_median'))} "
                     f"| {_f(get(rk, 'tg_tps_median'))} | {_f(get(lc, 'tg_tps_median'))} "
                     f"| {_f(get(lc1, 'tg_tps_median'))} "
                     f"| {_f(get(rk, 'load_ms'), 0)} | {_f(get(lc, 'load_ms'), 0)} "
                     f"| {_f(get(rk, 'peak_rss_mb'), 0)} | {_f(get(lc, 'peak_rss_mb'), 0)} "
                     f"| {match}/{n_first} |")
        summary.append({"name": c["name"], "decode_bytes": nbytes, "roofline_tg_tps": roof,
                        "rkserve": rk, "llamacpp": lc, "llamacpp_1t": lc1})

    out = []
    n_bw = len(glob.glob(os.path.join(d, "membw.*.json")))
    out.append(f"Memory bandwidth ({bw.get('buffer_mb', '?')} MB buffers, best of {bw.get('reps', '?')} passes, "
               f"highest of {n_bw} measurements spread over the run): "
               f"copy {_f(bw.get('copy_gbps_1t'))} GB/s with 1 thread, {_f(bw.get('copy_gbps_2t'))} with 2; "
               f"read {_f(bw.get('read_gbps_1t'))} / {_f(bw.get('read_gbps_2t'))} GB/s. "
               f"The roofline uses the higher at {threads} threads: {_f(roof_bw)} GB/s.")
    out.append("")
    rounds = max([(s["rkserve"] or {}).get("rounds", 0) for s in summary] or [0])
    reps = max([(s["rkserve"] or {}).get("reps", 0) for s in summary] or [0])
    out.append(f"Best of {rounds} rounds x {reps} repetitions, tokens/s, {threads} threads on both sides "
               "unless said otherwise. Ratio = rkserve / llama.cpp. MB/tok = weight bytes one decode step reads. "
               "\"lc tg 1t\" = llama.cpp's decode with one thread; \"vs best\" = rkserve tg / the better of "
               "llama.cpp's two decode figures, which llama.cpp % roof also uses.")
    out.append("")
    out.append(f"| model | type | MB/tok | rkserve pp{pp_n} | llama.cpp pp{pp_n} | ratio "
               f"| rkserve tg{tg_n} | llama.cpp tg{tg_n} | ratio | lc tg 1t | vs best "
               "| roofline tg | rkserve % roof | llama.cpp % roof |")
    out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    out += rows
    out.append("")
    out.append("Medians, load time (ms, model + context/session), peak RSS (MB; llama.cpp's includes node), "
               "and how many of the first greedy tokens of the tg run agree between the two engines "
               "(lc tg 1t med = llama.cpp's one-thread decode):")
    out.append("")
    out.append("| model | type | rk pp med | lc pp med | rk tg med | lc tg med | lc tg 1t med | rk load | lc load "
               "| rk RSS | lc RSS | same greedy |")
    out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    out += extra
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    with open(os.path.join(d, "summary.md"), "w") as f:
        f.write(text)
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump({"membw": bw, "roofline_gbps": roof_bw, "cases": summary}, f, indent=1)


if __name__ == "__main__":
    main()
