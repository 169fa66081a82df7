// Images through both APIs on a synthetic vision model (random weights:
// the answers are noise, so this checks the mechanics: where images go,
// how many positions they take, that different images give different
// answers and the same image the same one, reuse across turns, and every
// refusal). tests/e2e/shapes.test.mjs checks a model that can see.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Ollama } from "ollama";
import OpenAI from "openai";

import { TEST_MODELS, startServer } from "./server.mjs";

const PRESET = {
  presets: [{
    name: "test-tiny", image_size: 64, resize: "fit", interpolation: "bicubic", mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5],
    tokens_per_image: 16, prompt: { image_marker: "<img>", placeholder: "<|endoftext|>" }, inject: "replace",
  }],
};
const MODEL = "seer:test";
let srv, blind, openai, ollama, dir, imgDir, files = {};

// Renders test images with Debian's PIL: two PNGs that differ, a JPEG, a WebP, a GIF.
function makeImages(out) {
  const py = `
import sys
from PIL import Image, ImageDraw
d = sys.argv[1]
def img(colour, shape):
    im = Image.new("RGB", (80, 60), "white")
    dr = ImageDraw.Draw(im)
    (dr.ellipse if shape == "circle" else dr.rectangle)([15, 10, 60, 50], fill=colour)
    return im
img("red", "circle").save(d + "/red.png")
img("blue", "square").save(d + "/blue.png")
img("red", "circle").save(d + "/red.jpg", quality=90)
img("blue", "square").save(d + "/blue.webp")
img("red", "circle").save(d + "/red.gif")
`;
  execFileSync("/usr/bin/python3", ["-c", py, out]);
  for (const f of fs.readdirSync(out)) files[f] = fs.readFileSync(path.join(out, f));
}

const dataUri = (name, mime) => `data:${mime};base64,${files[name].toString("base64")}`;
const ask = (parts, extra = {}) => openai.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: parts }], temperature: 0, max_tokens: 6, ...extra });
const imagePart = (url) => ({ type: "image_url", image_url: { url } });

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "rkserve-vision-"));
  imgDir = path.join(dir, "images");
  fs.mkdirSync(imgDir);
  makeImages(imgDir);
  const models = path.join(dir, "models");
  fs.mkdirSync(models);
  fs.symlinkSync(path.join(TEST_MODELS, "llama-f32.gguf"), path.join(models, "seer.gguf"));
  fs.symlinkSync(path.join(TEST_MODELS, "vision-tiny-f16.gguf"), path.join(models, "mmproj-seer.gguf"));
  fs.writeFileSync(path.join(models, "seer.json"), JSON.stringify({ name: MODEL, vision: { preset: "test-tiny" } }));
  fs.writeFileSync(path.join(dir, "presets.json"), JSON.stringify(PRESET));
  srv = await startServer({ dir: models, args: ["--vision-presets", path.join(dir, "presets.json"), "--image-dir", imgDir, "--allow-image-urls"] });
  blind = await startServer(); // synthetic text models only
  openai = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "x", maxRetries: 0 });
  ollama = new Ollama({ host: srv.url });
});

after(async () => {
  assert.equal(await srv.stop(), 0);
  assert.equal(await blind.stop(), 0);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("images", () => {
  test("an image takes the preset's 16 positions; PNG, JPEG and WebP decode", async () => {
    const text = await ask([{ type: "text", text: "What is it?" }]);
    const png = await ask([imagePart(dataUri("red.png", "image/png")), { type: "text", text: "What is it?" }]);
    assert.equal(png.usage.prompt_tokens, text.usage.prompt_tokens + 16);
    for (const [f, mime] of [["red.jpg", "image/jpeg"], ["blue.webp", "image/webp"]]) {
      const r = await ask([imagePart(dataUri(f, mime)), { type: "text", text: "What is it?" }]);
      assert.equal(r.usage.prompt_tokens, png.usage.prompt_tokens);
    }
    const two = await ask([imagePart(dataUri("red.png", "image/png")), imagePart(dataUri("blue.png", "image/png")), { type: "text", text: "What is it?" }]);
    assert.equal(two.usage.prompt_tokens, text.usage.prompt_tokens + 32);
  });

  test("the answer depends on the image, and the same image gives the same answer, reusing its positions", async () => {
    const q = { type: "text", text: "Describe." };
    const red = await ask([imagePart(dataUri("red.png", "image/png")), q]);
    const again = await ask([imagePart(dataUri("red.png", "image/png")), q]);
    assert.equal(again.choices[0].message.content, red.choices[0].message.content);
    assert.equal(again.usage.prompt_tokens_details.cached_tokens, again.usage.prompt_tokens - 1, "the image positions were reused");
    // a different image at the same place is not reused past its start
    const blue = await ask([imagePart(dataUri("blue.png", "image/png")), q]);
    assert.notEqual(red.choices[0].message.content, blue.choices[0].message.content);
    assert.ok(blue.usage.prompt_tokens_details.cached_tokens < blue.usage.prompt_tokens - 16);
  });

  test("Ollama images (base64) answer as OpenAI's image parts do; streaming matches", async () => {
    const q = "Describe.";
    const viaOpenAI = await ask([imagePart(dataUri("red.png", "image/png")), { type: "text", text: q }]);
    const viaOllama = await ollama.chat({ model: MODEL, stream: false, messages: [{ role: "user", content: q, images: [files["red.png"].toString("base64")] }], options: { temperature: 0, repeat_penalty: 1, num_predict: 6 } });
    assert.equal(viaOllama.message.content, viaOpenAI.choices[0].message.content);
    assert.equal(viaOllama.prompt_eval_count, viaOpenAI.usage.prompt_tokens);
    let streamed = "";
    for await (const part of await ollama.generate({ model: MODEL, prompt: q, images: [files["red.png"].toString("base64")], stream: true, options: { temperature: 0, repeat_penalty: 1, num_predict: 6 } })) streamed += part.response;
    assert.equal(streamed, viaOpenAI.choices[0].message.content);
  });

  test("image files under --image-dir and URLs with --allow-image-urls", async () => {
    const q = { type: "text", text: "Describe." };
    const base = await ask([imagePart(dataUri("red.png", "image/png")), q]);
    const fromFile = await ask([imagePart(path.join(imgDir, "red.png")), q]);
    assert.equal(fromFile.choices[0].message.content, base.choices[0].message.content);
    const web = http.createServer((req, res) => {
      if (req.url === "/red.png") return res.end(files["red.png"]);
      if (req.url === "/hop") { res.writeHead(302, { Location: "file:///etc/passwd" }); return res.end(); }
      res.writeHead(404).end();
    });
    await new Promise((r) => web.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${web.address().port}`;
    try {
      const fromUrl = await ask([imagePart(`${url}/red.png`), q]);
      assert.equal(fromUrl.choices[0].message.content, base.choices[0].message.content);
      await assert.rejects(ask([imagePart(`${url}/missing.png`), q]), (e) => e.status === 400 && /image 1: cannot fetch/.test(e.message));
      await assert.rejects(ask([imagePart(`${url}/hop`), q]), (e) => e.status === 400 && /image 1/.test(e.message));
    } finally {
      web.close();
    }
  });

  test("bad images and misplaced ones are refused clearly", async () => {
    const q = { type: "text", text: "Describe." };
    const broken = Buffer.from(files["red.png"]).subarray(0, 60).toString("base64");
    await assert.rejects(ask([imagePart(`data:image/png;base64,${broken}`), q]), (e) => e.status === 400 && /image 1: .*truncated/i.test(e.message));
    await assert.rejects(ask([imagePart(dataUri("red.gif", "image/gif")), q]), (e) => e.status === 400 && /image 1: .*(unsupported|GIF)/i.test(e.message));
    await assert.rejects(ask([imagePart("data:image/png;base64,@@@"), q]), (e) => e.status === 400 && /image 1/.test(e.message));
    await assert.rejects(ask([imagePart("/etc/passwd"), q]), (e) => e.status === 400 && /outside the --image-dir/.test(e.message));
    await assert.rejects(ask([imagePart("ftp://example.com/x.png"), q]), (e) => e.status === 400);
    const tooMany = Array.from({ length: 17 }, () => imagePart(dataUri("red.png", "image/png")));
    await assert.rejects(ask([...tooMany, q]), (e) => e.status === 400 && /at most 16/.test(e.message));
    // a raw prompt must mark its images itself
    await assert.rejects(ollama.generate({ model: MODEL, prompt: "no marker", raw: true, images: [files["red.png"].toString("base64")] }), (e) => e.status_code === 400 && /marks 0 images/.test(e.error));
    const raw = await ollama.generate({ model: MODEL, prompt: "<img> look", raw: true, images: [files["red.png"].toString("base64")], options: { num_predict: 2 } });
    assert.equal(raw.prompt_eval_count, 16 + (await ollama.generate({ model: MODEL, prompt: " look", raw: true, options: { num_predict: 2 } })).prompt_eval_count);
  });

  test("show lists the vision capability of a model with an encoder only", async () => {
    assert.ok((await ollama.show({ model: MODEL })).capabilities.includes("vision"));
    const other = new Ollama({ host: blind.url });
    assert.ok(!(await other.show({ model: "llama:test" })).capabilities.includes("vision"));
  });

  test("a model without a vision encoder says so; URLs are off unless allowed", async () => {
    const o = new OpenAI({ baseURL: `${blind.url}/v1`, apiKey: "x", maxRetries: 0 });
    await assert.rejects(o.chat.completions.create({ model: "llama:test", messages: [{ role: "user", content: [imagePart(dataUri("red.png", "image/png"))] }] }),
      (e) => e.status === 400 && /cannot read images/.test(e.message));
    await assert.rejects(o.chat.completions.create({ model: "llama:test", messages: [{ role: "user", content: [imagePart("http://127.0.0.1:9/x.png")] }] }),
      (e) => e.status === 400 && /--allow-image-urls/.test(e.message));
  });
});
