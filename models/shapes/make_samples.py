"""Writes the float32 reference the engine checks are built on: a few
held-out images as PNG, the PyTorch greedy answers to questions about them
and the connector's output embeddings for one image, all computed with the
weights rounded exactly as the GGUF files store them.

    /usr/bin/python3 models/shapes/make_samples.py [--workdir W] [--out models/shapes/samples]

Cases are the first held-out seeds from heldout:5000 on that the model
answers right (colour and shape named, "Yes"/"No" right), one question
after another; the seeds passed over are listed under "skipped".
reference.json lists, per case: the PNG files (64x64 RGB) and the seeds
data.py renders them from, the question, the chat template's image order,
the expected answer from the dataset, the PyTorch answer, and the shape and
colour of each image. embd-<png stem>.f32 holds n_tokens x n_embd
little-endian float32, row by row, for the image normalised as SmolVLM does
((x/255 - 0.5) / 0.5, planar RGB).
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
import vlm  # noqa: E402

START = 5000  # held-out seeds heldout:5000.. (training evaluates 0.. and 1000..)
# (question, images first in the user turn, number of images, pair kind)
PLAN = ((data.DESCRIBE, True, 1, None), (data.DESCRIBE, True, 1, None),
        (data.DESCRIBE, False, 1, None), (data.DESCRIBE, True, 1, None),
        (data.DESCRIBE, True, 1, None), (data.Q_COLOUR, True, 1, None),
        (data.Q_SHAPE, True, 1, None), (data.Q_COUNT, True, 1, None),
        (data.Q_COMPARE, True, 2, None), (data.Q_SAME, True, 2, "same"),
        (data.Q_SAME, False, 2, "different"))


def case_scenes(seed, n_images, kind):
    """The scenes of a case, from its held-out seed alone (a test renders
    them again); kind "same"/"different" sets the second image's shape."""
    a, b = data.heldout(1, int(seed.split(":")[1]))[0]["scenes"]
    if n_images == 1:
        return [a]
    if kind == "same":
        b = dict(b, shape=a["shape"])
    elif kind == "different" and b["shape"] == a["shape"]:
        b = dict(b, shape=data.SHAPES[(data.SHAPES.index(a["shape"]) + 1) % len(data.SHAPES)])
    return [a, b]


def names_all(answer, scenes):
    """One image: its colour and shape are named and no others. Two: the
    part before 'second' names the first, the rest the second."""
    if len(scenes) == 1:
        return train.names_right(answer, scenes[0])
    head, sep, tail = answer.partition("second")
    return bool(sep) and train.names_right(head, scenes[0]) and train.names_right(tail, scenes[1])


def main(workdir, out):
    torch.set_num_threads(train.THREADS)
    model, tok, _ = train.load_final(workdir, rounded=True)
    os.makedirs(out, exist_ok=True)
    cases, skipped, i = [], [], START
    for q, first, n_img, kind in PLAN:
        while True:  # the next held-out seed the model answers right
            seed = f"heldout:{i}"
            i += 1
            scenes = case_scenes(seed, n_img, kind)
            imgs = [data.render(s) for s in scenes]
            prompt = tok.encode_segments(data.prompt_segments(n_img, q, first))
            (ans,), (stopped,) = train.greedy(model, tok, [prompt], [imgs])
            expected = data.answer(q, scenes)
            what = {data.Q_COLOUR: ("colour",), data.Q_SHAPE: ("shape",),
                    data.Q_COUNT: ("shape",)}.get(q, ("colour", "shape"))
            ok = (train.names_right(ans, scenes[0], what) if n_img == 1 else names_all(ans, scenes))
            if q == data.Q_SAME:
                ok = ok and ans.startswith("Yes" if kind == "same" else "No")
            if ok and stopped:
                break
            skipped.append({"seed": seed, "question": q, "answer": ans, "expected": expected})
            print(f"skipped {seed} {q!r}: {ans!r} (expected {expected!r})", flush=True)
            if len(skipped) > 40:
                raise SystemExit("the model answers too few held-out questions right")
        names = []
        for k, im in enumerate(imgs):
            name = f"{seed.replace(':', '-')}-{k}.png"
            im.save(os.path.join(out, name))
            names.append(name)
        cases.append({"images": names, "seed": seed, "pair": kind, "question": q,
                      "image_first": first, "expected": expected, "pytorch_answer": ans,
                      "shapes": [s["shape"] for s in scenes],
                      "colours": [s["colour"] for s in scenes]})
        print(f"{names} {q!r}: {ans!r}{'' if ans == expected else ' (expected ' + repr(expected) + ')'}",
              flush=True)
    with torch.no_grad():
        name = cases[0]["images"][0]
        px = vlm.normalise(data.render(case_scenes(cases[0]["seed"], 1, None)[0]))[None]
        emb = model.encode_images(px)[0].numpy().astype("<f4")
    embd_file = "embd-" + name[:-4] + ".f32"
    emb.tofile(os.path.join(out, embd_file))
    ref = {"model": "shapes-vlm.gguf", "mmproj": "mmproj-shapes-vlm.gguf",
           "image_size": data.IMAGE_SIZE, "image_tokens": data.IMAGE_TOKENS,
           "embeddings": {"image": name, "file": embd_file, "shape": list(emb.shape)},
           "cases": cases, "skipped": skipped}
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", default=os.path.join(HERE, "work"))
    ap.add_argument("--out", default=os.path.join(HERE, "samples"))
    a = ap.parse_args()
    main(a.workdir, a.out)
