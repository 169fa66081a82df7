"""Picks the passages tests/trained/check_memorised.py asks the C engine to
complete, from the trained model (F16-rounded, as exported) and the source.

    /usr/bin/python3 models/fortune/make_passages.py [--workdir W] [--out F]

A passage qualifies when PyTorch greedy decoding from its first 8 words
reproduces the next PROBE_TOKENS tokens of the source, with and without BOS.
The expected text stored is the source's own continuation. The chat
exchanges the model was trained on are stored too, each checked the same
way: greedy decoding must give the answer and then <|im_end|>.
"""
import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import data  # noqa: E402
import train  # noqa: E402
from model import Config, Llama  # noqa: E402

N_PASSAGES = 10


def main(workdir, out):
    torch.set_num_threads(train.THREADS)
    tok = train.load_tokenizer(workdir)
    _, _, probes = train.build_examples(tok)
    ck = torch.load(os.path.join(workdir, "final.pt"))
    model = Llama(Config.from_dict(ck["config"]))
    model.load_state_dict(ck["model"])
    m = train.f16_copy(model)
    bos = tok.ids[data.BOS]
    ok_b = train.memorised(m, probes, bos)
    ok_n = train.memorised(m, probes, None)
    good = [p for p, a, b in zip(probes, ok_b, ok_n) if a and b]
    # spread the picks over the three source files and over each file
    by_file = {name: [p for p in good if p["file"] == name] for name in data.FILES}
    picks, k = [], 0
    while len(picks) < N_PASSAGES and any(by_file.values()):
        name = data.FILES[k % len(data.FILES)]
        k += 1
        if by_file[name]:
            lst = by_file[name]
            picks.append(lst.pop(len(lst) // 2 if len(picks) % 2 else 0))
    assert len(picks) == N_PASSAGES, f"only {len(good)} passages are memorised"
    out_list = []
    for p in picks:
        got = m.greedy([bos] + tok.encode(p["prefix"]), data.PROBE_TOKENS)
        expected = p["text"][len(p["prefix"]):][:len(tok.decode(p["cont_ids"]))]
        assert tok.decode(p["cont_ids"]) == expected
        assert got == p["cont_ids"], "real greedy decoding must agree with the probe"
        out_list.append({"source": p["file"], "prompt": p["prefix"], "expected": expected})
    chats, seen = [], set()
    entries = data.read_entries()
    for user, name, start in data.CHAT:
        if user in seen:
            continue
        seen.add(user)
        answer = data.find_entry(entries, name, start)
        prompt = train.encode_segments(tok, data.chat_segments(user, "")[:-2])
        want = tok.encode(answer) + [tok.ids[data.IM_END]]
        got = m.greedy([bos] + prompt, len(want))
        assert got == want, f"chat {user!r} gives {tok.decode(got)!r}"
        chats.append({"user": user, "expected": answer, "n_predict": len(want) + 8})
    with open(out, "w") as f:
        json.dump({"model": "models/fortune/fortune-llama.gguf", "n_predict": data.PROBE_TOKENS,
                   "memorised_probes": f"{len(good)}/{len(probes)}", "passages": out_list,
                   "chat": chats},
                  f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {out}: {len(out_list)} passages ({len(good)}/{len(probes)} probes memorised), "
          f"{len(chats)} chat exchanges")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", default=os.path.join(HERE, "work"))
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "tests", "trained", "passages.json"))
    a = ap.parse_args()
    main(a.workdir, os.path.normpath(a.out))
