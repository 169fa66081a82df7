"""Trains the shapes vision-language model on CPU: tokenizer, then vision
tower + connector + Llama decoder together, teacher-forced on the
assistant's answer tokens only; ends with greedy answers on held-out images
with the weights rounded as the GGUF files store them.

    /usr/bin/python3 models/shapes/train.py        # resumes from work/ckpt.pt
    /usr/bin/python3 models/shapes/export_gguf.py  # writes the GGUF pair

Everything lands in models/shapes/work/ (ignored by git); the log is copied
to models/shapes/train.log by export. Each training example is generated
from its own seed ("train:<step>:<k>"), so the data are a function of the
step and a resumed run sees the same batches.
"""
import argparse
import json
import math
import os
import random
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP threads stall shared cores
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import data  # noqa: E402
import vlm  # noqa: E402

SEED = 4321
VOCAB = 512                 # 256 bytes + merges + 7 specials
BATCH = 32
MAX_STEPS = 1700
MAX_SECONDS = 23 * 60       # hard stop on wall time; the log says where it stopped
WARMUP = 100
LR, LR_MIN = 2e-3, 1e-4
EVAL_EVERY = 150
EVAL_N = 96
PROBE_WEIGHT = 1.0
THREADS = 2
VISION = dict(image_size=64, patch_size=8, hidden=96, layers=3, heads=4, ff=384,
              eps=1e-6, scale_factor=2)
TEXT = dict(n_embd=160, n_layer=3, n_head=5, n_head_kv=1, n_ff=448, n_ctx=256)
PROBE_IMAGES = 64           # extra images per step that only the probe sees


def log(workdir, msg):
    line = time.strftime("%H:%M:%S ") + msg
    print(line, flush=True)
    with open(os.path.join(workdir, "train.log"), "a") as f:
        f.write(line + "\n")


class Tok:
    """The fortune BPE (models/fortune/bpe.py) with this model's special tokens."""

    def __init__(self, tokens, merges):
        bpe = _bpe()
        self.inner = bpe.Tokenizer(tokens, merges)
        self.tokens, self.ids = tokens, self.inner.ids

    def encode_segments(self, segs):
        ids = []
        for text, special in segs:
            ids += [self.ids[text]] if special else self.inner.encode(text)
        return ids

    def decode(self, ids):
        out = []
        for i in ids:
            t = self.tokens[i]
            out.append(t if t in data.SPECIALS else self.inner.decode([i]))
        return "".join(out)


def _bpe():
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fortune"))
    import bpe
    return bpe


def load_tokenizer(workdir):
    path = os.path.join(workdir, "tokenizer.json")
    if not os.path.exists(path):
        bpe = _bpe()
        merges = bpe.train(data.corpus_texts(), VOCAB - 256 - len(data.SPECIALS))
        tokens = [bpe.BYTE_TO_CHAR[b] for b in range(256)] + [a + b for a, b in merges]
        tokens += list(data.SPECIALS)
        with open(path, "w") as f:
            json.dump({"tokens": tokens, "merges": [list(m) for m in merges]}, f)
    with open(path) as f:
        j = json.load(f)
    return Tok(j["tokens"], [tuple(m) for m in j["merges"]])


def scene_image(scene, rng):
    """The rendered scene, sometimes as an engine may see it: through JPEG,
    or drawn larger and resized to 64 with PIL's bicubic filter."""
    r = rng.random()
    if r < 0.15:
        img = data.render(scene, rng.choice((96, 128, 160))).resize(
            (data.IMAGE_SIZE, data.IMAGE_SIZE), Image.BICUBIC)
    else:
        img = data.render(scene)
    if rng.random() < 0.2:
        img = data.jpeg_roundtrip(img, rng.randint(60, 95))
    return img


# What the training-only probe predicts from an image's 16 embeddings.
PROBE_CLASSES = {"shape": data.SHAPES, "colour": tuple(sorted(data.COLOURS)),
                 "count": (1, 2, 3), "position": tuple(sorted(data.POSITIONS)) + (None,),
                 "background": tuple(sorted(data.BACKGROUNDS))}


def probe_labels(scene):
    return [v.index(scene[k]) for k, v in PROBE_CLASSES.items()]


class Probe(torch.nn.Module):
    """Linear read-outs of the scene's attributes from the connector output,
    trained alongside the answers and not exported: a direct gradient to the
    vision tower, which otherwise learns only through the decoder and, from
    scratch, takes several times as many steps to tell shapes apart."""

    def __init__(self, n_in):
        super().__init__()
        self.heads = torch.nn.ModuleList(torch.nn.Linear(n_in, len(v)) for v in PROBE_CLASSES.values())

    def loss(self, emb, labels):
        x = emb.flatten(1)
        return sum(F.cross_entropy(h(x), labels[:, k]) for k, h in enumerate(self.heads))


def make_example(tok, rng):
    """(ids, targets, images) for one random example; targets -1 except on
    the answer and its <end_of_utterance>."""
    scenes, q, a = data.random_example(rng)
    image_first = rng.random() < 0.7
    prompt = data.prompt_segments(len(scenes), q, image_first)
    full = data.prompt_segments(len(scenes), q, image_first, answer_text=a)
    ids = tok.encode_segments(full)
    n_prompt = len(tok.encode_segments(prompt))
    if rng.random() < 0.2:  # an engine that adds BOS by itself doubles <|im_start|>
        ids, n_prompt = [tok.ids[data.IM_START]] + ids, n_prompt + 1
    tgt = [-1] * n_prompt + ids[n_prompt:]
    return ids, tgt, [scene_image(s, rng) for s in scenes], [probe_labels(s) for s in scenes]


def batch_tensors(examples):
    T = max(len(e[0]) for e in examples) - 1
    T = -(-T // 8) * 8  # few distinct shapes: oneDNN builds a kernel per shape
    x = torch.zeros(len(examples), T, dtype=torch.long)
    y = torch.full((len(examples), T), -1, dtype=torch.long)
    imgs, labels = [], []
    for r, (ids, tgt, ims, *lab) in enumerate(examples):
        x[r, :len(ids) - 1] = torch.tensor(ids[:-1])
        y[r, :len(ids) - 1] = torch.tensor(tgt[1:])
        imgs += ims
        labels += lab[0] if lab else []
    px = torch.stack([vlm.normalise(im) for im in imgs])
    if labels:
        return x, y, px, torch.tensor(labels)
    return x, y, px


def training_batch(tok, step):
    x, y, px, labels = batch_tensors([make_example(tok, random.Random(f"train:{step}:{k}"))
                                      for k in range(BATCH)])
    rng = random.Random(f"train:{step}:probe")
    scenes = [data.random_scene(rng) for _ in range(PROBE_IMAGES)]
    extra = torch.stack([vlm.normalise(scene_image(s, rng)) for s in scenes])
    return x, y, px, labels, extra, torch.tensor([probe_labels(s) for s in scenes])


def lr_at(step):
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    p = min(1.0, (step - WARMUP) / max(1, MAX_STEPS - WARMUP))
    return LR_MIN + 0.5 * (LR - LR_MIN) * (1 + math.cos(math.pi * p))


@torch.no_grad()
def greedy(model, tok, prompts, images, max_new=40):
    """Greedy answers for prompts of equal length (token lists), each with its
    images (PIL, in order); stops at <end_of_utterance>. The sequence is kept
    at one padded length, so oneDNN sees a single shape; causal attention
    means the padding after the current token changes nothing."""
    eou = tok.ids[data.END_OF_UTTERANCE]
    ids = torch.tensor(prompts)
    n = ids.shape[1]
    px = torch.stack([vlm.normalise(im) for ims in images for im in ims])
    x = model.text.tok_embd(ids)
    emb = model.encode_images(px).reshape(-1, x.shape[-1])
    x = x.masked_scatter((ids == model.image_id)[..., None], emb)
    x = torch.cat([x, x.new_zeros(x.shape[0], max_new, x.shape[2])], 1)
    out = [[] for _ in prompts]
    done = [False] * len(prompts)
    for k in range(max_new):
        nxt = model.text_forward(x)[:, n + k - 1].argmax(-1)
        for r, t in enumerate(nxt.tolist()):
            if not done[r]:
                if t == eou:
                    done[r] = True
                else:
                    out[r].append(t)
        if all(done) or k + 1 == max_new:
            break
        x[:, n + k] = model.text.tok_embd(nxt)
    return [tok.decode(o).strip() for o in out], done


@torch.no_grad()
def forced_exact(model, tok, n, question=data.DESCRIBE):
    """Rate of held-out images whose expected answer greedy decoding would
    give exactly: the argmax is the expected token at every answer position
    (one teacher-forced pass instead of a decoding loop)."""
    model.eval()
    exs = data.heldout(n)
    batch = []
    for e in exs:
        full = data.prompt_segments(1, question, answer_text=data.answer(question, e["scenes"][:1]))
        ids = tok.encode_segments(full)
        n_prompt = len(tok.encode_segments(data.prompt_segments(1, question)))
        batch.append((ids, [-1] * n_prompt + ids[n_prompt:], [data.render(e["scenes"][0])]))
    x, y, px = batch_tensors(batch)
    pred = model(x, px).argmax(-1)
    ok = ((pred == y) | (y < 0)).all(1)
    model.train()
    return float(ok.float().mean())


def names_right(ans, scene, what=("colour", "shape")):
    """The answer names the scene's colour and shape (those in what) and no
    other colour or shape."""
    words = ans.lower().replace(".", " ").replace(",", " ").replace(":", " ").split()
    words = [w[:-1] if w.endswith("s") and w[:-1] in data.SHAPES else w for w in words]
    colours = {w for w in words if w in data.COLOURS}
    shapes = {w for w in words if w in data.SHAPES}
    return ((colours == {scene["colour"]} or "colour" not in what)
            and (shapes == {scene["shape"]} or "shape" not in what))


def heldout_eval(model, tok, n, question=data.DESCRIBE, start=0):
    """Greedy answers to one question on n held-out images: (rate colour+shape
    right, rate exact, rows)."""
    model.eval()
    rows = []
    exs = data.heldout(n, start)
    what = {data.Q_COLOUR: ("colour",), data.Q_SHAPE: ("shape",),
            data.Q_COUNT: ("shape",)}.get(question, ("colour", "shape"))
    prompt = tok.encode_segments(data.prompt_segments(1, question))
    for i in range(0, n, 32):
        chunk = exs[i:i + 32]
        ans, _ = greedy(model, tok, [prompt] * len(chunk),
                        [[data.render(e["scenes"][0])] for e in chunk])
        for e, a in zip(chunk, ans):
            want = data.answer(question, e["scenes"][:1])
            rows.append({"seed": e["seed"], "answer": a, "expected": want,
                         "named": names_right(a, e["scenes"][0], what), "exact": a == want})
    model.train()
    return (sum(r["named"] for r in rows) / n, sum(r["exact"] for r in rows) / n, rows)


def build_model(tok):
    torch.manual_seed(SEED)
    vcfg = vlm.VisionConfig(text_width=TEXT["n_embd"], **VISION)
    tcfg = vlm.llama.Config(len(tok.tokens), **TEXT)
    return vlm.ShapesVLM(vcfg, tcfg, tok.ids[data.IMAGE])


def train(workdir):
    os.makedirs(workdir, exist_ok=True)
    torch.set_num_threads(THREADS)
    tok = load_tokenizer(workdir)
    model = build_model(tok)
    probe = Probe(model.vcfg.n_tokens * model.vcfg.text_width)
    n_params = sum(p.numel() for p in model.parameters())
    n_vision = sum(p.numel() for p in model.model.parameters())
    opt = torch.optim.AdamW(list(model.parameters()) + list(probe.parameters()), lr=LR,
                            betas=(0.9, 0.95), weight_decay=0.0)
    ckpt = os.path.join(workdir, "ckpt.pt")
    step, elapsed = 0, 0.0
    if os.path.exists(ckpt):
        ck = torch.load(ckpt)
        model.load_state_dict(ck["model"])
        probe.load_state_dict(ck["probe"])
        opt.load_state_dict(ck["opt"])
        step, elapsed = ck["step"], ck["elapsed"]
        log(workdir, f"resumed at step {step}")
    else:
        log(workdir, f"vocab {len(tok.tokens)}; {n_params} parameters ({n_vision} vision + "
                     f"connector, {n_params - n_vision} text); vision {model.vcfg.to_dict()}; "
                     f"text {model.tcfg.to_dict()}; batch {BATCH}, lr {LR}")
    t0, loss_sum, loss_n, aux_sum = time.time(), 0.0, 0, 0.0
    while step < MAX_STEPS and elapsed + time.time() - t0 < MAX_SECONDS:
        x, y, px, labels, extra, extra_labels = training_batch(tok, step)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        emb = model.encode_images(torch.cat([px, extra]))
        ans = F.cross_entropy(model(x, emb=emb[:len(px)]).flatten(0, 1), y.flatten(), ignore_index=-1)
        aux = probe.loss(emb, torch.cat([labels, extra_labels]))
        loss = ans + PROBE_WEIGHT * aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        loss_sum, loss_n, aux_sum = loss_sum + ans.item(), loss_n + 1, aux_sum + aux.item()
        if step % 25 == 0:
            log(workdir, f"step {step} answer loss {loss_sum / loss_n:.4f} probe loss "
                         f"{aux_sum / loss_n:.3f} lr {lr_at(step - 1):.2e} time {elapsed + time.time() - t0:.0f}s")
            loss_sum, loss_n, aux_sum = 0.0, 0, 0.0
        if step % EVAL_EVERY == 0 or step == MAX_STEPS:
            exact = forced_exact(model, tok, EVAL_N)
            log(workdir, f"step {step} held-out describe, exact answer (teacher-forced argmax): {exact:.3f}")
            elapsed += time.time() - t0
            t0 = time.time()
            torch.save({"model": model.state_dict(), "probe": probe.state_dict(),
                        "opt": opt.state_dict(), "step": step,
                        "elapsed": elapsed}, ckpt + ".tmp")
            os.replace(ckpt + ".tmp", ckpt)
    elapsed += time.time() - t0
    torch.save({"model": model.state_dict(), "vision": model.vcfg.to_dict(),
                "text": model.tcfg.to_dict(), "step": step, "elapsed": elapsed,
                "n_params": n_params, "n_vision": n_vision},
               os.path.join(workdir, "final.pt"))
    log(workdir, f"trained {step} steps in {elapsed:.0f}s")


def load_final(workdir, rounded=True):
    """The trained model; rounded: matrices through F16 as the GGUF files
    store them (norms, biases, position embeddings stay F32)."""
    tok = load_tokenizer(workdir)
    ck = torch.load(os.path.join(workdir, "final.pt"))
    model = build_model(tok)
    sd = ck["model"]
    if rounded:
        sd = {k: (v.half().float() if export_f16(k, v) else v) for k, v in sd.items()}
    model.load_state_dict(sd)
    model.eval()
    return model, tok, ck


def export_f16(name, t):
    """Which tensors the GGUF files store as F16: the matrices. Norms, biases
    and the vision embeddings (patch kernel, positions) stay F32, as
    mmproj_writer.py writes them."""
    return t.dim() == 2 and ".embeddings." not in name


def final_report(workdir):
    """Held-out accuracy per question with the exported precision."""
    torch.set_num_threads(THREADS)
    model, tok, _ = load_final(workdir)
    for q, n in ((data.DESCRIBE, 256), (data.Q_COLOUR, 64), (data.Q_SHAPE, 64), (data.Q_COUNT, 64)):
        named, exact, rows = heldout_eval(model, tok, n, q, start=1000)
        log(workdir, f"F16 held-out {q!r} on {n} images: colour+shape {named:.3f} exact {exact:.3f}")
        for r in [r for r in rows if not r["exact"]][:4]:
            log(workdir, f"  {r['seed']}: {r['answer']!r} (expected {r['expected']!r})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", default=os.path.join(HERE, "work"))
    ap.add_argument("--report-only", action="store_true")
    a = ap.parse_args()
    if not a.report_only:
        train(a.workdir)
    final_report(a.workdir)
