// The project's trained model (models/fortune) through the server: text a
// person can read. It answers its memorised chat exchanges through its own
// ChatML template and recites memorised passages from their openings, so
// the whole path (template from the GGUF, tokens, stop at <|im_end|>,
// streaming) has to be right for the exact strings to come back.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { Ollama } from "ollama";
import OpenAI from "openai";

import { SOURCE_DIR, startServer } from "./server.mjs";

const spec = JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, "tests/trained/passages.json"), "utf8"));
const MODEL_FILE = path.join(SOURCE_DIR, spec.model);
const REQUIRED = 9; // passages of 10, as tests/trained/check_memorised.py asks
const NAME = "fortune";

let srv, openai, ollama, dir;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "rkserve-fortune-"));
  fs.symlinkSync(MODEL_FILE, path.join(dir, "fortune-llama.gguf"));
  fs.writeFileSync(path.join(dir, "fortune-llama.json"), JSON.stringify({ name: NAME }));
  srv = await startServer({ dir });
  openai = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "x", maxRetries: 0 });
  ollama = new Ollama({ host: srv.url });
});

after(async () => {
  await srv.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

// greedy and nothing else: memorised text repeats words, which a repeat
// penalty would push the model away from
const greedy = { temperature: 0 };

test("OpenAI chat: the memorised answers, ending the turn by themselves", async () => {
  for (const c of spec.chat) {
    const r = await openai.chat.completions.create({
      model: NAME, messages: [{ role: "user", content: c.user }], max_tokens: c.n_predict + 8, ...greedy,
    });
    assert.equal(r.choices[0].message.content, c.expected, c.user);
    assert.equal(r.choices[0].finish_reason, "stop", c.user);
  }
});

test("streamed chat equals the whole answer", async () => {
  const c = spec.chat.at(-2);
  let text = "";
  for await (const ch of await openai.chat.completions.create({
    model: NAME, messages: [{ role: "user", content: c.user }], max_tokens: c.n_predict + 8, stream: true, ...greedy,
  })) text += ch.choices[0]?.delta?.content ?? "";
  assert.equal(text, c.expected);
});

test("Ollama chat gives the same answers", async () => {
  for (const c of spec.chat.slice(0, 3)) {
    const r = await ollama.chat({
      model: NAME, messages: [{ role: "user", content: c.user }], stream: false,
      options: { temperature: 0, repeat_penalty: 1, num_predict: c.n_predict + 8 },
    });
    assert.equal(r.message.content, c.expected, c.user);
    assert.equal(r.done_reason, "stop");
  }
});

test("completions recite memorised passages from their openings", async () => {
  let hits = 0;
  const misses = [];
  for (const p of spec.passages) {
    const r = await openai.completions.create({ model: NAME, prompt: p.prompt, max_tokens: spec.n_predict, ...greedy });
    if (r.choices[0].text.startsWith(p.expected)) hits++;
    else misses.push(`${p.prompt} -> ${JSON.stringify(r.choices[0].text)}`);
  }
  assert.ok(hits >= REQUIRED, `${hits}/${spec.passages.length}:\n${misses.join("\n")}`);
  const raw = await ollama.generate({
    model: NAME, prompt: spec.passages[0].prompt, raw: true, stream: false,
    options: { temperature: 0, repeat_penalty: 1, num_predict: spec.n_predict },
  });
  assert.ok(raw.response.startsWith(spec.passages[0].expected), raw.response);
});

test("show reports the model's own chat template", async () => {
  const s = await ollama.show({ model: NAME });
  assert.match(s.template, /<\|im_start\|>/);
  assert.equal(s.details.family, "llama");
});
