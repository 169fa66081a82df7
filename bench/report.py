#!/usr/bin/env python3
"""Turns the JSON results of bench/run.sh into markdown tables.

usage: report.py RESULTS_DIR

RESULTS_DIR holds membw.json, cases.json (the list of benchmarked models) and
per model NAME.rkserve.json and NAME.llamacpp.json. The decode roofline is the
measured copy bandwidth divided by the bytes of weights one decode step reads:
every tensor in the file once, except the token embedding table when the model
has a separate output matrix (then only one of its rows is read per token).
"""
import json
import os
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
    bw = _load(os.path.join(d, "membw.json")) or {}
    cases = _load(os.path.join(d, "cases.json")) or []
    threads = cases[0]["threads"] if cases else 2
    copy_bw = bw.get(f"copy_gbps_{threads}t")
    read_bw = bw.get(f"read_gbps_{threads}t")

    rows, extra, summary = [], [], []
    pp_n = tg_n = None
    for c in cases:
        rk = _load(os.path.join(d, c["name"] + ".rkserve.json"))
        lc = _load(os.path.join(d, c["name"] + ".llamacpp.json"))
        nbytes = decode_bytes(c["model"])
        roof = copy_bw * 1e9 / nbytes if copy_bw else None
        get = lambda j, k: j.get(k) if j else None  # noqa: E731
        pp_n = pp_n or get(rk, "prompt_tokens") or get(lc, "prompt_tokens")
        tg_n = tg_n or get(rk, "gen_tokens") or get(lc, "gen_tokens")
        rk_pp, lc_pp = get(rk, "pp_tps_best"), get(lc, "pp_tps_best")
        rk_tg, lc_tg = get(rk, "tg_tps_best"), get(lc, "tg_tps_best")
        same_ids = rk and lc and rk["ids_hash"] == lc["ids_hash"]
        note = "" if (same_ids or not (rk and lc)) else " (prompt ids differ!)"
        pct = None if roof is None or rk_tg is None else 100 * rk_tg / roof
        lc_pct = None if roof is None or lc_tg is None else 100 * lc_tg / roof
        rows.append(f"| {c['shape']} ({c['arch']}) | {c['type']}{note} | {nbytes / 1e6:.0f} "
                    f"| {_f(rk_pp)} | {_f(lc_pp)} | {_f(_ratio(rk_pp, lc_pp), 2)} "
                    f"| {_f(rk_tg)} | {_f(lc_tg)} | {_f(_ratio(rk_tg, lc_tg), 2)} "
                    f"| {_f(roof)} | {_f(pct, 0)} % | {_f(lc_pct, 0)} % |")
        match = _common_prefix(get(rk, "tg_first_tokens"), get(lc, "tg_first_tokens"))
        n_first = len(get(rk, "tg_first_tokens") or [])
        extra.append(f"| {c['shape']} | {c['type']} | {_f(get(rk, 'pp_tps_median'))} | {_f(get(lc, 'pp_tps_median'))} "
                     f"| {_f(get(rk, 'tg_tps_median'))} | {_f(get(lc, 'tg_tps_median'))} "
                     f"| {_f(get(rk, 'load_ms'), 0)} | {_f(get(lc, 'load_ms'), 0)} "
                     f"| {_f(get(rk, 'peak_rss_mb'), 0)} | {_f(get(lc, 'peak_rss_mb'), 0)} "
                     f"| {match}/{n_first} |")
        summary.append({"name": c["name"], "decode_bytes": nbytes, "roofline_tg_tps": roof,
                        "rkserve": rk, "llamacpp": lc})

    out = []
    out.append(f"Memory bandwidth ({bw.get('buffer_mb', '?')} MB buffers, best of {bw.get('reps', '?')}): "
               f"copy {_f(bw.get('copy_gbps_1t'))} GB/s with 1 thread, {_f(bw.get('copy_gbps_2t'))} with 2; "
               f"read {_f(bw.get('read_gbps_1t'))} / {_f(bw.get('read_gbps_2t'))} GB/s. "
               f"Roofline uses copy bandwidth at {threads} threads ({_f(copy_bw)} GB/s).")
    out.append("")
    out.append(f"Best of the repetitions, tokens/s, {threads} threads. Ratio = rkserve / llama.cpp. "
               "MB/tok = weight bytes one decode step reads.")
    out.append("")
    out.append(f"| model | type | MB/tok | rkserve pp{pp_n} | llama.cpp pp{pp_n} | ratio "
               f"| rkserve tg{tg_n} | llama.cpp tg{tg_n} | ratio | roofline tg | rkserve % roof | llama.cpp % roof |")
    out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    out += rows
    out.append("")
    out.append("Medians, load time (ms, model + context/session), peak RSS (MB; llama.cpp's includes node), "
               "and how many of the first greedy tokens of the tg run agree between the two engines:")
    out.append("")
    out.append("| model | type | rk pp med | lc pp med | rk tg med | lc tg med | rk load | lc load "
               "| rk RSS | lc RSS | same greedy |")
    out.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    out += extra
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    with open(os.path.join(d, "summary.md"), "w") as f:
        f.write(text)
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump({"membw": bw, "read_gbps": read_bw, "cases": summary}, f, indent=1)


if __name__ == "__main__":
    main()
