"""Checks the exported shapes model files themselves, without the C engine:
rebuilds the PyTorch model from the two GGUF files (weights, tokenizer and
hyperparameters all read back from them with tests/reference/gguf_reader.py),
renders the held-out sample images again with models/shapes/data.py, and
asks the questions of models/shapes/samples/reference.json.

Fails when the files lack SmolVLM's metadata, special tokens or chat
template, when a re-rendered image differs from its stored PNG, when an
answer differs from the PyTorch reference or does not name the right shape
and colour, or when the connector's embeddings differ from the stored ones.

    /usr/bin/python3 tests/trained/check_shapes.py [--dir models/shapes]
"""
import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "models", "shapes"))
sys.path.insert(0, os.path.join(ROOT, "models"))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import data  # noqa: E402
import export_gguf  # noqa: E402
import gguf_reader  # noqa: E402
import make_samples  # noqa: E402
import mmproj_writer  # noqa: E402
import train  # noqa: E402
import vlm  # noqa: E402

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def load_model(llm_path, mmproj_path):
    llm, mm = gguf_reader.GGUFFile(llm_path), gguf_reader.GGUFFile(mmproj_path)
    kv, mkv = llm.kv, mm.kv
    check(kv["general.architecture"] == "llama" and kv["general.name"] == "shapes-vlm",
          "LLM is arch llama named shapes-vlm")
    check(kv["tokenizer.chat_template"] == data.CHAT_TEMPLATE, "SmolVLM chat template")
    tokens, types = kv["tokenizer.ggml.tokens"], list(kv["tokenizer.ggml.token_type"])
    for sp in data.SPECIALS:
        check(sp in tokens and types[tokens.index(sp)] == 3, f"{sp} is a control token")
    check(tokens[kv["tokenizer.ggml.eos_token_id"]] == data.END_OF_UTTERANCE,
          "EOS is <end_of_utterance>")
    check(tokens[kv["tokenizer.ggml.bos_token_id"]] == data.IM_START, "BOS is <|im_start|>")
    check(mkv["general.architecture"] == "clip" and mkv["clip.projector_type"] == "idefics3",
          "mmproj is a clip file with the idefics3 projector")
    check(mkv["clip.vision.projection_dim"] == kv["llama.embedding_length"],
          "projector output width is the LLM's n_embd")

    tok = train.Tok(tokens, [tuple(m.split(" ", 1)) for m in kv["tokenizer.ggml.merges"]])
    n_embd = kv["llama.embedding_length"]
    vcfg = vlm.VisionConfig(
        image_size=mkv["clip.vision.image_size"], patch_size=mkv["clip.vision.patch_size"],
        hidden=mkv["clip.vision.embedding_length"], layers=mkv["clip.vision.block_count"],
        heads=mkv["clip.vision.attention.head_count"], ff=mkv["clip.vision.feed_forward_length"],
        eps=float(mkv["clip.vision.attention.layer_norm_epsilon"]),
        scale_factor=mkv["clip.vision.projector.scale_factor"], text_width=n_embd)
    tcfg = vlm.llama.Config(
        len(tokens), n_embd=n_embd, n_layer=kv["llama.block_count"],
        n_head=kv["llama.attention.head_count"], n_head_kv=kv["llama.attention.head_count_kv"],
        n_ff=kv["llama.feed_forward_length"], n_ctx=kv["llama.context_length"],
        rope_base=float(kv["llama.rope.freq_base"]),
        norm_eps=float(kv["llama.attention.layer_norm_rms_epsilon"]))
    check(vcfg.n_tokens == data.IMAGE_TOKENS, f"{data.IMAGE_TOKENS} tokens per image")
    model = vlm.ShapesVLM(vcfg, tcfg, tok.ids[data.IMAGE])
    sd = {}
    for ours, gname in export_gguf.text_gguf_names(tcfg.n_layer).items():
        sd["text." + ours] = torch.from_numpy(llm.tensor(gname).copy())
    for hf in mmproj_writer.expected_names(vcfg.layers):
        sd[hf] = torch.from_numpy(mm.tensor(mmproj_writer.gguf_name(hf)).copy())
    check(len(sd) == len(llm.tensors) + len(mm.tensors), "every tensor in the files is used")
    model.load_state_dict(sd)
    model.eval()
    return model, tok


def hf_pixel_shuffle(x, s):
    """Idefics3Connector.pixel_shuffle's sequence of views and permutes."""
    b, n, d = x.shape
    h = w = int(n ** 0.5)
    x = x.reshape(b, h, w // s, d * s).permute(0, 2, 1, 3)
    x = x.reshape(b, w // s, h // s, d * s * s).permute(0, 2, 1, 3)
    return x.reshape(b, n // (s * s), d * s * s)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default=os.path.join(ROOT, "models", "shapes"))
    a = ap.parse_args()
    torch.set_num_threads(2)
    x = torch.randn(2, 64, 6, generator=torch.Generator().manual_seed(1))
    check(torch.equal(vlm.pixel_shuffle(x, 2), hf_pixel_shuffle(x, 2)),
          "the model's pixel shuffle is Idefics3's element order")
    samples = os.path.join(a.dir, "samples")
    with open(os.path.join(samples, "reference.json")) as f:
        ref = json.load(f)
    model, tok = load_model(os.path.join(a.dir, ref["model"]), os.path.join(a.dir, ref["mmproj"]))

    for case in ref["cases"]:
        scenes = make_samples.case_scenes(case["seed"], len(case["images"]), case["pair"])
        imgs = [data.render(s) for s in scenes]
        same = all(np.array_equal(np.asarray(im), np.asarray(Image.open(os.path.join(samples, n)).convert("RGB")))
                   for im, n in zip(imgs, case["images"]))
        check(same, f"{case['seed']}: data.py renders the stored PNGs again")
        prompt = tok.encode_segments(data.prompt_segments(len(imgs), case["question"], case["image_first"]))
        (ans,), (stopped,) = train.greedy(model, tok, [prompt], [imgs])
        label = f"{case['seed']} {case['question']!r} -> {ans!r}"
        check(stopped and ans == case["pytorch_answer"], label + " equals the PyTorch reference")
        check([s["shape"] for s in scenes] == case["shapes"]
              and [s["colour"] for s in scenes] == case["colours"], label + ": scenes as recorded")
        what = {data.Q_COLOUR: ("colour",), data.Q_SHAPE: ("shape",),
                data.Q_COUNT: ("shape",)}.get(case["question"], ("colour", "shape"))
        named = (train.names_right(ans, scenes[0], what) if len(scenes) == 1
                 else make_samples.names_all(ans, scenes))
        check(named, label + f": names {' and '.join(c + ' ' + s for c, s in zip(case['colours'], case['shapes']))}")
        if case["question"] == data.Q_SAME:
            check(ans.startswith("Yes" if scenes[0]["shape"] == scenes[1]["shape"] else "No"),
                  label + ": yes/no right")

    e = ref["embeddings"]
    want = np.fromfile(os.path.join(samples, e["file"]), dtype="<f4").reshape(e["shape"])
    px = vlm.normalise(Image.open(os.path.join(samples, e["image"])).convert("RGB"))[None]
    with torch.no_grad():
        got = model.encode_images(px)[0].numpy()
    err = float(np.abs(got - want).max() / np.abs(want).max())
    check(err < 1e-5, f"connector embeddings of {e['image']} match the stored ones (rel. err {err:.1e})")

    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
