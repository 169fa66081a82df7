"""The shapes dataset: PIL-rendered 64x64 images of coloured shapes with
questions and answers, and the SmolVLM chat format they are asked in.

A scene is one to three shapes of one kind and one colour on a plain
background; a single shape sits left, right, top, bottom or in the center.
Every scene comes from its own random stream, named by a string (Python
seeds str deterministically): training uses "train:<step>:<k>", held-out
sets "heldout:<i>", so held-out images are never trained on.

    /usr/bin/python3 models/shapes/data.py --out DIR [--n 8]   # held-out PNGs + answers
"""
import argparse
import io
import json
import math
import os
import random

from PIL import Image, ImageDraw

IMAGE_SIZE = 64
SUPERSAMPLE = 4  # drawn 4x larger, then box-filtered: smooth edges like a photo of a drawing

SHAPES = ("circle", "square", "triangle", "star", "diamond")
COLOURS = {
    "red": (220, 30, 30), "green": (30, 160, 50), "blue": (30, 70, 220),
    "yellow": (240, 210, 30), "purple": (140, 50, 180), "orange": (245, 135, 20),
}
BACKGROUNDS = {"white": (245, 245, 245), "black": (15, 15, 15), "grey": (128, 128, 128)}
POSITIONS = {  # centre of a single shape, as a fraction of the side
    "left": (0.28, 0.5), "right": (0.72, 0.5), "top": (0.5, 0.28),
    "bottom": (0.5, 0.72), "center": (0.5, 0.5),
}
POSITION_PHRASE = {"left": "on the left", "right": "on the right", "top": "at the top",
                   "bottom": "at the bottom", "center": "in the center"}
NUMBER = {1: "one", 2: "two", 3: "three"}

# SmolVLM's special tokens and its chat template (HuggingFaceTB/SmolVLM-256M-Instruct)
IM_START = "<|im_start|>"
END_OF_UTTERANCE = "<end_of_utterance>"
FAKE_AROUND = "<fake_token_around_image>"
GLOBAL_IMG = "<global-img>"
IMAGE = "<image>"
ENDOFTEXT, IM_END = "<|endoftext|>", "<|im_end|>"
SPECIALS = (ENDOFTEXT, IM_START, IM_END, END_OF_UTTERANCE, FAKE_AROUND, GLOBAL_IMG, IMAGE)
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}")
IMAGE_TOKENS = 16  # 64 patches of 8x8, pixel-shuffled by 2

DESCRIBE = "Describe the image."
Q_COLOUR = "What color is the shape?"
Q_SHAPE = "What shape is in the image?"
Q_COUNT = "How many shapes are there?"
Q_WHERE = "Where is the shape?"
Q_BACKGROUND = "What color is the background?"
Q_COMPARE = "Compare the two images."
Q_SAME = "Do the two images show the same shape?"


def random_scene(rng):
    """Scene parameters; fractions of the side, so any size renders the same scene."""
    shape = rng.choice(SHAPES)
    colour = rng.choice(sorted(COLOURS))
    background = rng.choice(sorted(BACKGROUNDS))
    count = rng.choice((1, 1, 2, 3))
    items = []
    if count == 1:
        position = rng.choice(sorted(POSITIONS))
        cx, cy = POSITIONS[position]
        r = rng.uniform(0.15, 0.21)
        items.append((cx + rng.uniform(-0.04, 0.04), cy + rng.uniform(-0.04, 0.04), r,
                      rng.uniform(-12, 12)))
    else:
        position = None
        r0 = rng.uniform(0.12, 0.15)
        while len(items) < count:
            r = r0 * rng.uniform(0.9, 1.1)
            cx, cy = rng.uniform(r + 0.03, 1 - r - 0.03), rng.uniform(r + 0.03, 1 - r - 0.03)
            if all(math.hypot(cx - x, cy - y) > r + q + 0.04 for x, y, q, _ in items):
                items.append((cx, cy, r, rng.uniform(-12, 12)))
    jit = lambda rgb, d: tuple(max(0, min(255, c + rng.randint(-d, d))) for c in rgb)  # noqa: E731
    return {"shape": shape, "colour": colour, "background": background, "count": count,
            "position": position, "items": items,
            "fill": jit(COLOURS[colour], 18), "bg": jit(BACKGROUNDS[background], 10)}


def _polygon(shape, cx, cy, r, rot):
    """Vertices of a shape of 'radius' r centred at (cx, cy), rotated rot degrees."""
    a0 = math.radians(rot)
    if shape == "square":
        pts = [(0.8 * math.sqrt(2), math.radians(45 + 90 * k)) for k in range(4)]
    elif shape == "triangle":
        pts = [(1.1, math.radians(-90 + 120 * k)) for k in range(3)]
    elif shape == "star":
        pts = [(1.15 if k % 2 == 0 else 0.48, math.radians(-90 + 36 * k)) for k in range(10)]
    elif shape == "diamond":  # a rhombus taller than wide, so no rotation makes it a square
        return [(cx + r * x * math.cos(a0) - r * y * math.sin(a0),
                 cy + r * x * math.sin(a0) + r * y * math.cos(a0))
                for x, y in ((0, -1.2), (0.75, 0), (0, 1.2), (-0.75, 0))]
    else:
        raise ValueError(shape)
    return [(cx + r * d * math.cos(a + a0), cy + r * d * math.sin(a + a0)) for d, a in pts]


def render(scene, size=IMAGE_SIZE):
    """The scene as an RGB PIL image of size x size."""
    big = size * SUPERSAMPLE
    img = Image.new("RGB", (big, big), scene["bg"])
    d = ImageDraw.Draw(img)
    for cx, cy, r, rot in scene["items"]:
        cx, cy, r = cx * big, cy * big, r * big
        if scene["shape"] == "circle":
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=scene["fill"])
        else:
            d.polygon(_polygon(scene["shape"], cx, cy, r, rot), fill=scene["fill"])
    return img.resize((size, size), Image.BOX)


def jpeg_roundtrip(img, quality):
    """The image after JPEG coding, as an engine sees an uploaded JPEG."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def plural(shape, n):
    return shape + "s" if n != 1 else shape


def noun_phrase(s):
    """'a red circle', 'two blue squares'."""
    n = s["count"]
    det = NUMBER[n] if n > 1 else ("an" if s["colour"][0] in "aeiou" else "a")
    return f"{det} {s['colour']} {plural(s['shape'], n)}"


def caption(s):
    where = f" {POSITION_PHRASE[s['position']]}" if s["position"] else ""
    text = f"{noun_phrase(s)}{where} on a {s['background']} background."
    return text[0].upper() + text[1:]


def answer(question, scenes):
    """The answer to one of the questions about one or two scenes."""
    s = scenes[0]
    n = s["count"]
    if question == DESCRIBE:
        return caption(s)
    if question == Q_COLOUR:
        return f"The shape is {s['colour']}." if n == 1 else f"The shapes are {s['colour']}."
    if question == Q_SHAPE:
        return f"It is a {s['shape']}." if n == 1 else f"They are {plural(s['shape'], n)}."
    if question == Q_COUNT:
        return (f"There is one {s['shape']}." if n == 1
                else f"There are {NUMBER[n]} {plural(s['shape'], n)}.")
    if question == Q_WHERE:
        return f"The {s['shape']} is {POSITION_PHRASE[s['position']]}."
    if question == Q_BACKGROUND:
        return f"The background is {s['background']}."
    first, second = noun_phrase(scenes[0]), noun_phrase(scenes[1])
    if question == Q_COMPARE:
        return f"The first image shows {first} and the second image shows {second}."
    if question == Q_SAME:
        same = scenes[0]["shape"] == scenes[1]["shape"]
        return f"{'Yes' if same else 'No'}: the first image shows {first} and the second shows {second}."
    raise ValueError(question)


def random_example(rng):
    """(scenes, question, answer): one or two images, a question the scenes can answer."""
    if rng.random() < 0.15:
        scenes = [random_scene(rng), random_scene(rng)]
        if rng.random() < 0.5:  # half the pairs share the shape, so "Yes" is as common as "No"
            while scenes[1]["shape"] != scenes[0]["shape"]:
                scenes[1] = random_scene(rng)
        q = rng.choice((Q_COMPARE, Q_SAME))
    else:
        scenes = [random_scene(rng)]
        qs = [DESCRIBE] * 4 + [Q_COLOUR, Q_SHAPE, Q_COUNT, Q_BACKGROUND]
        if scenes[0]["position"]:
            qs.append(Q_WHERE)
        q = rng.choice(qs)
    return scenes, q, answer(q, scenes)


def image_expansion():
    """What one image becomes in the prompt: the 'shapes' vision preset's tags
    around IMAGE_TOKENS placeholders, as SmolVLM's processor writes a single
    (unsplit) image."""
    return [FAKE_AROUND, GLOBAL_IMG] + [IMAGE] * IMAGE_TOKENS + [FAKE_AROUND]


def prompt_segments(n_images, question, image_first=True, answer_text=None):
    """The chat template's output for one user turn (images then text, or
    text then images), expanded, as (text, is_special) pieces, ending with
    'Assistant:' or, given answer_text, with the answer and <end_of_utterance>."""
    imgs = []
    for _ in range(n_images):
        imgs += [(t, True) for t in image_expansion()]
    segs = [(IM_START, True)]
    if image_first:
        segs += [("User:", False)] + imgs + [(question, False)]
    else:
        segs += [("User: " + question, False)] + imgs
    segs += [(END_OF_UTTERANCE, True), ("\nAssistant:", False)]
    if answer_text is not None:
        segs += [(" " + answer_text, False), (END_OF_UTTERANCE, True)]
    return segs


def heldout(n, start=0):
    """Held-out examples: for each i, a describe question on one image, the
    other single-image questions, and a two-image pair, all from 'heldout:<i>'."""
    out = []
    for i in range(start, start + n):
        rng = random.Random(f"heldout:{i}")
        a, b = random_scene(rng), random_scene(rng)
        out.append({"seed": f"heldout:{i}", "scenes": [a, b]})
    return out


def corpus_texts():
    """Every question and answer form, for training the tokenizer."""
    texts = ["User:", "User: ", "\nAssistant:", DESCRIBE, Q_COLOUR, Q_SHAPE, Q_COUNT,
             Q_WHERE, Q_BACKGROUND, Q_COMPARE, Q_SAME] * 200
    rng = random.Random("tokenizer")
    for _ in range(3000):
        scenes, q, a = random_example(rng)
        texts.append(" " + a)
    return texts


def main():
    ap = argparse.ArgumentParser(description="writes held-out images as PNG with their answers")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=8)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rows = []
    for ex in heldout(a.n):
        names = []
        for k, s in enumerate(ex["scenes"]):
            name = f"{ex['seed'].replace(':', '-')}-{k}.png"
            render(s).save(os.path.join(a.out, name))
            names.append(name)
        rows.append({"images": names, "caption": caption(ex["scenes"][0]),
                     "shape": ex["scenes"][0]["shape"], "colour": ex["scenes"][0]["colour"]})
    with open(os.path.join(a.out, "answers.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
