"""Trains the fortune model: tokenizer first, then the Llama weights, then a
memorisation check with the weights rounded to F16 as the GGUF stores them.

    /usr/bin/python3 models/fortune/train.py            # resumes if interrupted
    /usr/bin/python3 models/fortune/export_gguf.py      # writes the GGUF
    /usr/bin/python3 models/fortune/make_passages.py    # the engine test's passages

Everything lands in models/fortune/work/ (ignored by git). Seeds are fixed
and data order is a function of the epoch number, so a run — resumed or
not — repeats bit for bit on the same CPU with the same thread count.
"""
import argparse
import json
import math
import os
import random
import sys
import time

# OpenMP threads that spin while waiting make a step 5-10x slower when other
# jobs share the cores; sleeping waits cost nothing measurable when idle.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bpe  # noqa: E402
import data  # noqa: E402
from model import Config, Llama  # noqa: E402

SEED = 1234
VOCAB = 2048                 # 256 bytes + merges + 3 specials
MAX_TOKENS = 126             # longest passage kept (tokens, before BOS/EOS)
ROWS = 16                    # packed rows of ROW_LEN tokens per batch
ROW_LEN = 128                # every kept sequence fits; short rows keep attention cheap
MAX_STEPS = 1200
WARMUP = 100
LR, LR_MIN = 2e-3, 1e-4
EVAL_EVERY = 100
THREADS = 2
MODEL = dict(n_embd=256, n_layer=4, n_head=8, n_head_kv=4, n_ff=768, n_ctx=256)


def log(workdir, msg):
    line = time.strftime("%H:%M:%S ") + msg
    print(line, flush=True)
    with open(os.path.join(workdir, "train.log"), "a") as f:
        f.write(line + "\n")


def load_tokenizer(workdir):
    """Trains the BPE on every fortunes-min entry once and caches it."""
    path = os.path.join(workdir, "tokenizer.json")
    if not os.path.exists(path):
        texts = [t for _, t in data.read_entries()]
        merges = bpe.train(texts, VOCAB - 256 - len(data.SPECIALS))
        tokens = [bpe.BYTE_TO_CHAR[b] for b in range(256)] + [a + b for a, b in merges]
        tokens += list(data.SPECIALS)
        with open(path, "w") as f:
            json.dump({"tokens": tokens, "merges": [list(m) for m in merges]}, f)
    with open(path) as f:
        j = json.load(f)
    return bpe.Tokenizer(j["tokens"], [tuple(m) for m in j["merges"]])


def encode_segments(tok, segs):
    """Text with specials split out first, as the engine does with parse_special."""
    ids = []
    for text, special in segs:
        ids += [tok.ids[text]] if special else tok.encode(text)
    return ids


def build_examples(tok):
    """Training sequences (without BOS): passages end with <|endoftext|>, chat
    exchanges with '<|im_end|>\\n'. Also returns the probes (passages whose
    8-word prefix is unique, with enough tokens after it)."""
    eot = tok.ids[data.BOS]
    entries = data.read_entries()
    passages = [(n, t) for n, t in entries if len(tok.encode(t)) <= MAX_TOKENS]
    examples = [tok.encode(t) + [eot] for _, t in passages]
    for user, name, start in data.CHAT:
        answer = data.find_entry(entries, name, start)
        examples.append(encode_segments(tok, data.chat_segments(user, answer)))
    prefixes = {}
    for _, t in passages:
        p = data.prefix_words(t, data.PROBE_WORDS)
        prefixes[p] = prefixes.get(p, 0) + 1
    probes = []
    for name, t in passages:
        p = data.prefix_words(t, data.PROBE_WORDS)
        if p is None or prefixes[p] > 1:
            continue
        full, pre = tok.encode(t), tok.encode(p)
        assert full[:len(pre)] == pre, "prefix must end on a pre-split boundary"
        if len(full) - len(pre) >= data.PROBE_TOKENS:
            probes.append({"file": name, "text": t, "prefix": p,
                           "prompt_ids": pre, "cont_ids": full[len(pre):len(pre) + data.PROBE_TOKENS]})
    return passages, examples, probes


def padded_len(n):
    """Evaluation batches are padded to a multiple of 16 so oneDNN sees few
    distinct shapes: it builds a kernel per shape, which costs seconds."""
    return -(-n // 16) * 16


def epoch_batches(examples, epoch, bos):
    """One epoch of training batches, each ROWS rows of ROW_LEN tokens with
    whole sequences packed first-fit (a fixed shape, see padded_len). Each
    sequence starts with BOS half the time, so the model works whether or not
    the caller adds BOS."""
    rng = random.Random(SEED * 1000 + epoch)
    seqs = [([bos] if rng.random() < 0.5 else []) + ex for ex in examples]
    rng.shuffle(seqs)
    rows, room = [], []
    for s in seqs:
        n = len(s) - 1  # inputs it takes in the row
        r = next((i for i, left in enumerate(room) if left >= n), None)
        if r is None:
            rows.append([])
            room.append(ROW_LEN)
            r = len(rows) - 1
        rows[r].append(s)
        room[r] -= n
    return [rows[i:i + ROWS] for i in range(0, len(rows), ROWS)]


def pack(batch):
    """ids, targets (-1 = none), positions and sequence numbers, (ROWS, ROW_LEN)."""
    shape = (ROWS, ROW_LEN)
    x, y = torch.zeros(shape, dtype=torch.long), torch.full(shape, -1, dtype=torch.long)
    pos, seg = torch.zeros(shape, dtype=torch.long), torch.full(shape, -1, dtype=torch.long)
    for r, row in enumerate(batch):
        at = 0
        for k, s in enumerate(row):
            n = len(s) - 1
            x[r, at:at + n] = torch.tensor(s[:-1])
            y[r, at:at + n] = torch.tensor(s[1:])
            pos[r, at:at + n] = torch.arange(n)
            seg[r, at:at + n] = k
            at += n
    return x, y, pos, seg


def to_tensors(batch, rows):
    """Inputs and targets (-1 where padded), shaped (rows, padded length)."""
    T = padded_len(max(len(s) for s in batch) - 1)
    x = torch.zeros(rows, T, dtype=torch.long)
    y = torch.full((rows, T), -1, dtype=torch.long)
    for r, s in enumerate(batch):
        x[r, :len(s) - 1] = torch.tensor(s[:-1])
        y[r, :len(s) - 1] = torch.tensor(s[1:])
    return x, y


def lr_at(step):
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    p = min(1.0, (step - WARMUP) / max(1, MAX_STEPS - WARMUP))
    return LR_MIN + 0.5 * (LR - LR_MIN) * (1 + math.cos(math.pi * p))


@torch.no_grad()
def memorised(model, probes, bos):
    """Fraction of probes whose continuation greedy decoding reproduces.
    Greedy decoding from the prompt yields the source tokens exactly when the
    argmax is right at every position, so one teacher-forced pass decides it."""
    model.eval()
    ok = []
    for i in range(0, len(probes), 64):
        chunk = probes[i:i + 64]
        seqs = [([bos] if bos is not None else []) + p["prompt_ids"] + p["cont_ids"] for p in chunk]
        x, _ = to_tensors([s + [0] for s in seqs], rows=64)
        pred = model(x).argmax(-1)
        for r, (p, s) in enumerate(zip(chunk, seqs)):
            start = len(s) - len(p["cont_ids"])
            ok.append(pred[r, start - 1:len(s) - 1].tolist() == p["cont_ids"])
    model.train()
    return ok


def f16_copy(model):
    """The model as the GGUF holds it: matrices rounded to F16, norms F32."""
    m = Llama(model.cfg)
    sd = {k: (v.half().float() if v.dim() == 2 else v.clone()) for k, v in model.state_dict().items()}
    m.load_state_dict(sd)
    m.eval()
    return m


def train(workdir):
    os.makedirs(workdir, exist_ok=True)
    torch.set_num_threads(THREADS)
    tok = load_tokenizer(workdir)
    passages, examples, probes = build_examples(tok)
    bos = tok.ids[data.BOS]
    n_chars = sum(len(t) for _, t in passages)
    log(workdir, f"vocab {len(tok.tokens)}, {len(passages)} passages ({n_chars} chars, "
                 f"{sum(map(len, examples))} tokens), {len(data.CHAT)} chat examples, "
                 f"{len(probes)} probes")

    torch.manual_seed(SEED)
    cfg = Config(len(tok.tokens), **MODEL)
    model = Llama(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.0)
    ckpt_path = os.path.join(workdir, "ckpt.pt")
    step, epoch, batch_i, elapsed = 0, 0, 0, 0.0
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, epoch, batch_i, elapsed = ck["step"], ck["epoch"], ck["batch_i"], ck["elapsed"]
        log(workdir, f"resumed at step {step}")
    log(workdir, f"{n_params} parameters, config {cfg.to_dict()}")

    batches = epoch_batches(examples, epoch, bos)
    t0, loss_sum, loss_n, done = time.time(), 0.0, 0, False
    while step < MAX_STEPS and not done:
        if batch_i >= len(batches):
            epoch, batch_i = epoch + 1, 0
            batches = epoch_batches(examples, epoch, bos)
        x, y, pos, seg = pack(batches[batch_i])
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss = F.cross_entropy(model(x, pos, seg).flatten(0, 1), y.flatten(), ignore_index=-1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step, batch_i = step + 1, batch_i + 1
        loss_sum, loss_n = loss_sum + loss.item(), loss_n + 1
        if step % 20 == 0:
            log(workdir, f"step {step} loss {loss.item():.4f}")
        if step % EVAL_EVERY == 0 or step == MAX_STEPS:
            with_bos = memorised(model, probes, bos)
            without = memorised(model, probes, None)
            rate_b, rate_n = sum(with_bos) / len(probes), sum(without) / len(probes)
            elapsed += time.time() - t0
            t0 = time.time()
            log(workdir, f"step {step} epoch {epoch} loss {loss_sum / loss_n:.4f} "
                         f"lr {lr_at(step - 1):.2e} memorised bos {rate_b:.3f} no-bos {rate_n:.3f} "
                         f"time {elapsed:.0f}s")
            loss_sum, loss_n = 0.0, 0
            # Stop once every probe comes back either way; the check is
            # computed, not timed, so stopping is deterministic too.
            done = rate_b == 1.0 and rate_n == 1.0
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "epoch": epoch, "batch_i": batch_i, "elapsed": elapsed}, ckpt_path + ".tmp")
            os.replace(ckpt_path + ".tmp", ckpt_path)

    final_loss = full_loss(model, examples, bos)
    torch.save({"model": model.state_dict(), "config": cfg.to_dict(), "step": step,
                "elapsed": elapsed, "final_loss": final_loss, "n_params": n_params},
               os.path.join(workdir, "final.pt"))
    log(workdir, f"trained {step} steps in {elapsed:.0f}s, final loss {final_loss:.4f}")
    verify(workdir, model, tok, probes)


@torch.no_grad()
def full_loss(model, examples, bos):
    """Mean token loss over the whole training set, each sequence with BOS."""
    model.eval()
    tot, n = 0.0, 0
    seqs = [[bos] + e for e in examples]
    for i in range(0, len(seqs), 32):
        x, y = to_tensors(seqs[i:i + 32], rows=32)
        l = F.cross_entropy(model(x).flatten(0, 1), y.flatten(), ignore_index=-1, reduction="sum")
        tot, n = tot + l.item(), n + int((y >= 0).sum())
    model.train()
    return tot / n


def verify(workdir, model, tok, probes):
    """Memorisation with F16 weights: the rate over all probes, plus real
    greedy decoding of a few prompts and of one chat exchange."""
    m = f16_copy(model)
    bos = tok.ids[data.BOS]
    for label, b in (("with BOS", bos), ("without BOS", None)):
        ok = memorised(m, probes, b)
        log(workdir, f"F16 memorisation {label}: {sum(ok)}/{len(ok)} = {sum(ok) / len(ok):.3f}")
    for p in probes[:: max(1, len(probes) // 5)][:5]:
        out = m.greedy([bos] + tok.encode(p["prefix"]), data.PROBE_TOKENS)
        log(workdir, f"greedy {p['prefix']!r} -> {tok.decode(out)!r} "
                     f"{'OK' if out == p['cont_ids'] else 'MISMATCH'}")
    user = data.CHAT[0][0]
    prompt = encode_segments(tok, data.chat_segments(user, "")[:-2])
    out = m.greedy([bos] + prompt, 40)
    end = tok.ids[data.IM_END]
    out = out[:out.index(end)] if end in out else out
    log(workdir, f"chat {user!r} -> {tok.decode(out)!r}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", default=os.path.join(HERE, "work"))
    train(ap.parse_args().workdir)
