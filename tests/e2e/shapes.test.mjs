// A model that can see: the project's trained tiny SmolVLM (models/shapes)
// served with vision. Held-out images (never trained on), rendered by the
// dataset's own code, go in as PNG, JPEG and WebP through the official
// openai and ollama clients; the answers must name the right colour and
// shape, and a two-image request must describe both images.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Ollama } from "ollama";
import OpenAI from "openai";

import { SOURCE_DIR, startServer } from "./server.mjs";

const SHAPES_DIR = path.join(SOURCE_DIR, "models", "shapes");
const N = 12;        // held-out scenes
const REQUIRED = 11; // of N, per format: the model is small, a miss is allowed
let srv, openai, ollama, dir, cases, model;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "rkserve-shapes-"));
  execFileSync("/usr/bin/python3", [path.join(SHAPES_DIR, "data.py"), "--out", dir, "--n", String(N)]);
  cases = JSON.parse(fs.readFileSync(path.join(dir, "answers.json"), "utf8"));
  // both scenes of each held-out pair, from the dataset's own code
  const scenes = JSON.parse(execFileSync("/usr/bin/python3", ["-c",
    `import sys, json; sys.path.insert(0, sys.argv[1]); import data
print(json.dumps([[{"shape": s["shape"], "colour": s["colour"]} for s in ex["scenes"]] for ex in data.heldout(${N})]))`,
    SHAPES_DIR]).toString());
  cases.forEach((c, i) => { c.second = scenes[i][1]; });
  // the same images as JPEG and WebP
  const py = `
import sys, os
from PIL import Image
d = sys.argv[1]
for f in os.listdir(d):
    if f.endswith(".png"):
        im = Image.open(os.path.join(d, f)).convert("RGB")
        im.save(os.path.join(d, f[:-4] + ".jpg"), quality=92)
        im.save(os.path.join(d, f[:-4] + ".webp"), quality=90)
`;
  execFileSync("/usr/bin/python3", ["-c", py, dir]);
  srv = await startServer({ dir: SHAPES_DIR });
  openai = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "x", maxRetries: 0 });
  ollama = new Ollama({ host: srv.url });
  model = (await ollama.list()).models.find((m) => /shapes/.test(m.name))?.name;
  assert.ok(model, "the shapes model is listed");
});

after(async () => {
  assert.equal(await srv.stop(), 0);
  fs.rmSync(dir, { recursive: true, force: true });
});

const MIME = { png: "image/png", jpg: "image/jpeg", webp: "image/webp" };
const uri = (file) => `data:${MIME[file.split(".").pop()]};base64,${fs.readFileSync(path.join(dir, file)).toString("base64")}`;
const names = (text, c) => text.toLowerCase().includes(c.colour) && text.toLowerCase().includes(c.shape);

describe("the trained vision model", () => {
  test("show says it has vision", async () => {
    assert.ok((await ollama.show({ model })).capabilities.includes("vision"));
  });

  for (const ext of ["png", "jpg", "webp"]) {
    test(`OpenAI: "Describe the image." names colour and shape (${ext})`, async () => {
      let hits = 0;
      const misses = [];
      for (const c of cases) {
        const file = c.images[0].replace(/\.png$/, `.${ext}`);
        const r = await openai.chat.completions.create({
          model, temperature: 0, max_tokens: 40,
          messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: uri(file) } }, { type: "text", text: "Describe the image." }] }],
        });
        const text = r.choices[0].message.content;
        if (names(text, c)) hits++;
        else misses.push(`${file}: ${JSON.stringify(text)} (want ${c.colour} ${c.shape})`);
      }
      assert.ok(hits >= REQUIRED, `${hits}/${cases.length}\n${misses.join("\n")}`);
    });
  }

  test("Ollama: images as base64 on /api/chat and /api/generate", async () => {
    let hits = 0;
    for (const c of cases.slice(0, 6)) {
      const b64 = fs.readFileSync(path.join(dir, c.images[0])).toString("base64");
      const chat = await ollama.chat({ model, stream: false, messages: [{ role: "user", content: "Describe the image.", images: [b64] }], options: { temperature: 0, repeat_penalty: 1, num_predict: 40 } });
      const gen = await ollama.generate({ model, prompt: "What color is the shape?", images: [b64], stream: false, options: { temperature: 0, repeat_penalty: 1, num_predict: 20 } });
      if (names(chat.message.content, c) && gen.response.toLowerCase().includes(c.colour)) hits++;
    }
    assert.ok(hits >= 5, `${hits}/6`);
  });

  // The reference cases (models/shapes/samples): held-out images, one or
  // two per question, with the PyTorch model's greedy answers; the server
  // must give exactly those, two-image comparisons included.
  test("the PyTorch reference answers, two-image comparisons included", async () => {
    const ref = JSON.parse(fs.readFileSync(path.join(SHAPES_DIR, "samples", "reference.json"), "utf8"));
    const sample = (f) => `data:image/png;base64,${fs.readFileSync(path.join(SHAPES_DIR, "samples", f)).toString("base64")}`;
    let pairs = 0;
    for (const c of ref.cases) {
      const images = c.images.map((f) => ({ type: "image_url", image_url: { url: sample(f) } }));
      const text = { type: "text", text: c.question };
      const r = await openai.chat.completions.create({
        model, temperature: 0, max_tokens: 60,
        messages: [{ role: "user", content: c.image_first ? [...images, text] : [text, ...images] }],
      });
      // the template ends with "Assistant:", so the answer starts with a space, which the reference drops
      assert.equal(r.choices[0].message.content.replace(/^ /, ""), c.pytorch_answer, `${c.seed}: ${c.question}`);
      if (c.images.length === 2) {
        // a comparison describes both images: each one's shape and colour
        const [first, second] = c.pytorch_answer.toLowerCase().split("second");
        assert.ok(second && first.includes(c.shapes[0]) && first.includes(c.colours[0]), c.pytorch_answer);
        assert.ok(second.includes(c.shapes[1]) && second.includes(c.colours[1]), c.pytorch_answer);
        pairs++;
      }
    }
    assert.ok(pairs >= 2, "the reference holds two-image cases");
  });
});
