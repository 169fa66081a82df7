// Images on the NPU code path: a .rkllm language model (the librkllmrt
// emulator, ABI 1.3) with its .rknn vision encoder (the librknnrt emulator)
// behind a live server, through the official openai client. The preset's
// inject "rkllm" leaves the marker in the prompt and the runtime expands it
// with the preset's tags, so this checks the whole chain the board runs:
// decode, preprocess, rknn encode, RKLLM_INPUT_MULTIMODAL. The synthetic
// weights make the answers noise: the checks are on mechanics.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";

import { BIN, TEST_MODELS, startServer } from "./server.mjs";

// The emulators are targets of the same build as the server binary.
const BUILD = path.dirname(BIN);
const RKLLM_LIB = path.join(BUILD, "emulator", "v1.3", "librkllmrt.so");
const RKNN_LIB = path.join(BUILD, "emulator", "rknn", "librknnrt.so");
const TOKENS = 16;
const TAGS = { image_marker: "<image>", placeholder: "<|endoftext|>", image_start: "<|im_start|>", image_end: "<|im_end|>" };
// A single .rknn takes raw 0-255 pixels (its normalisation is baked in, and
// the rknn emulator applies the mmproj's own, 0.5/0.5): this preset's
// mean/std hand the encoder raw pixels. The CPU twin normalises on the CPU.
const BASE = { image_size: 64, resize: "fit", interpolation: "bilinear", tokens_per_image: TOKENS, prompt: TAGS };
const PRESET = {
  presets: [
    { name: "test-npu", ...BASE, mean: [0, 0, 0], std: [1 / 255, 1 / 255, 1 / 255], inject: "rkllm" },
    { name: "test-cpu", ...BASE, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], inject: "replace" },
  ],
};
const MODEL = "npuseer:test";
let srv, cpu, openai, cpuOpenai, dir;
const png = {};

// Two PNGs that differ, rendered with Debian's PIL.
function makeImages(out) {
  const py = `
import sys
from PIL import Image, ImageDraw
d = sys.argv[1]
for name, colour, box in (("red", "red", [10, 8, 50, 40]), ("blue", "blue", [30, 20, 70, 55])):
    im = Image.new("RGB", (80, 60), "white")
    ImageDraw.Draw(im).rectangle(box, fill=colour)
    im.save(d + "/" + name + ".png")
`;
  execFileSync("/usr/bin/python3", ["-c", py, out]);
  for (const n of ["red", "blue"]) png[n] = `data:image/png;base64,${fs.readFileSync(path.join(out, `${n}.png`)).toString("base64")}`;
}

const ask = (parts, client = openai) => client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: parts }], temperature: 0, max_tokens: 8 });
const image = (url) => ({ type: "image_url", image_url: { url } });
const q = { type: "text", text: "What is it?" };

before(async () => {
  for (const lib of [RKLLM_LIB, RKNN_LIB]) assert.ok(fs.existsSync(lib), `${lib} is missing: build the emulators (cmake --build)`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "rkserve-npu-vision-"));
  const models = path.join(dir, "models");
  fs.mkdirSync(models);
  makeImages(dir);
  fs.symlinkSync(path.join(TEST_MODELS, "llama-f32.gguf"), path.join(models, "seer.rkllm"));
  fs.symlinkSync(path.join(TEST_MODELS, "vision-tiny-f16.gguf"), path.join(models, "seer.rknn"));
  fs.writeFileSync(path.join(models, "seer.json"), JSON.stringify({ name: MODEL, vision: { preset: "test-npu" } }));
  // the same model and encoder as GGUFs on the CPU engine
  const cpuModels = path.join(dir, "cpu");
  fs.mkdirSync(cpuModels);
  fs.symlinkSync(path.join(TEST_MODELS, "llama-f32.gguf"), path.join(cpuModels, "seer.gguf"));
  fs.symlinkSync(path.join(TEST_MODELS, "vision-tiny-f16.gguf"), path.join(cpuModels, "mmproj-seer.gguf"));
  fs.writeFileSync(path.join(cpuModels, "seer.json"), JSON.stringify({ name: MODEL, vision: { preset: "test-cpu" } }));
  fs.writeFileSync(path.join(dir, "presets.json"), JSON.stringify(PRESET));
  const args = ["--vision-presets", path.join(dir, "presets.json")];
  srv = await startServer({ dir: models, args, env: { RKLLM_LIB, RKNN_LIB } });
  cpu = await startServer({ dir: cpuModels, args });
  openai = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "x", maxRetries: 0 });
  cpuOpenai = new OpenAI({ baseURL: `${cpu.url}/v1`, apiKey: "x", maxRetries: 0 });
});

after(async () => {
  if (srv) assert.equal(await srv.stop(), 0);
  if (cpu) assert.equal(await cpu.stop(), 0);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("images through the NPU runtimes", () => {
  test("the model is served by the rkllm engine", async () => {
    const res = await fetch(`${srv.url}/api/show`, { method: "POST", body: JSON.stringify({ model: MODEL }) });
    const show = await res.json();
    assert.equal(res.status, 200, JSON.stringify(show));
    assert.equal(show.details.format, "rkllm");
  });

  test("an image request answers; the runtime's expansion shows in the usage", async () => {
    const text = await ask([q]);
    const red = await ask([image(png.red), q]);
    assert.equal(red.choices.length, 1);
    assert.equal(typeof red.choices[0].message.content, "string");
    assert.ok(red.usage.completion_tokens > 0);
    // img_start + img_content x tokens_per_image + img_end, each one token,
    // where the text prompt had nothing
    const extra = red.usage.prompt_tokens - text.usage.prompt_tokens;
    assert.ok(extra >= TOKENS + 2 && extra <= TOKENS + 4, `image added ${extra} prompt tokens`);
    assert.equal(red.usage.total_tokens, red.usage.prompt_tokens + red.usage.completion_tokens);
    const two = await ask([image(png.red), image(png.blue), q]);
    assert.ok(two.usage.prompt_tokens - red.usage.prompt_tokens >= TOKENS + 2, "a second image adds its own block");
  });

  test("the same image gives the same answer, a different one another", async () => {
    const a = await ask([image(png.red), q]);
    const b = await ask([image(png.red), q]);
    const c = await ask([image(png.blue), q]);
    assert.equal(a.choices[0].message.content, b.choices[0].message.content);
    assert.equal(a.usage.prompt_tokens, b.usage.prompt_tokens);
    assert.equal(c.usage.prompt_tokens, a.usage.prompt_tokens);
    assert.notEqual(a.choices[0].message.content, c.choices[0].message.content);
  });

  test("answers and prompt sizes equal the CPU engine's on the same model and encoder", async () => {
    for (const parts of [[image(png.red), q], [image(png.blue), q], [q, image(png.blue), image(png.red)]]) {
      const [n, c] = await Promise.all([ask(parts), ask(parts, cpuOpenai)]);
      assert.equal(n.choices[0].message.content, c.choices[0].message.content);
      assert.equal(n.usage.prompt_tokens, c.usage.prompt_tokens);
      assert.equal(n.usage.completion_tokens, c.usage.completion_tokens);
    }
  });

  test("a bad image is a 400 and the server keeps serving", async () => {
    const broken = Buffer.from(png.red.split(",")[1], "base64").subarray(0, 40).toString("base64");
    await assert.rejects(ask([image(`data:image/png;base64,${broken}`), q]), (e) => e.status === 400 && /image 1/.test(e.message));
    await assert.rejects(ask([image("data:image/png;base64,bm90IGFuIGltYWdl"), q]), (e) => e.status === 400);
    const ok = await ask([image(png.blue), q]);
    assert.ok(ok.usage.completion_tokens > 0);
  });
});
