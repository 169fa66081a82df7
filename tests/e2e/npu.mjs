// The server on the NPU code path: .rkllm models through the rkllm engine
// and Rockchip's C ABI, here the librkllmrt emulator (RKLLM_LIB; the ABI
// family, 1.2 or 1.3, is the library's). The trained fortune model answers
// exactly as on the CPU engine, through both APIs, streamed or not, and the
// server's features that do not need logits work the same; those that do
// are refused clearly. Run by ctest once per ABI family (tests/e2e.cmake).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Ollama } from "ollama";
import OpenAI from "openai";

import { SOURCE_DIR, TEST_MODELS, post, sleep, startServer } from "./server.mjs";

const LIB = process.env.RKSERVE_RKLLM_EMULATOR;
if (!LIB) throw new Error("set RKSERVE_RKLLM_EMULATOR to an emulator librkllmrt.so (ctest does)");
const spec = JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, "tests/trained/passages.json"), "utf8"));
const NAME = "fortune-npu";

let npu, cpu, openai, cpuOpenai, ollama, dir, cpuDir;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "rkserve-npu-"));
  fs.symlinkSync(path.join(SOURCE_DIR, spec.model), path.join(dir, "fortune.rkllm"));
  fs.writeFileSync(path.join(dir, "fortune.json"), JSON.stringify({ name: NAME }));
  fs.symlinkSync(path.join(TEST_MODELS, "llama-f32.gguf"), path.join(dir, "synth.rkllm"));
  fs.writeFileSync(path.join(dir, "synth.json"), JSON.stringify({ name: "synth-npu" }));
  cpuDir = fs.mkdtempSync(path.join(os.tmpdir(), "rkserve-npu-cpu-"));
  fs.symlinkSync(path.join(SOURCE_DIR, spec.model), path.join(cpuDir, "fortune.gguf"));
  fs.writeFileSync(path.join(cpuDir, "fortune.json"), JSON.stringify({ name: NAME }));
  const cacheDir = path.join(dir, "cache");
  npu = await startServer({ dir, args: ["--parallel", "2", "--cache-dir", cacheDir], env: { RKLLM_LIB: LIB } });
  cpu = await startServer({ dir: cpuDir });
  openai = new OpenAI({ baseURL: `${npu.url}/v1`, apiKey: "x", maxRetries: 0 });
  cpuOpenai = new OpenAI({ baseURL: `${cpu.url}/v1`, apiKey: "x", maxRetries: 0 });
  ollama = new Ollama({ host: npu.url });
});

after(async () => {
  assert.equal(await npu.stop(), 0);
  assert.equal(await cpu.stop(), 0);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(cpuDir, { recursive: true, force: true });
});

const greedy = { temperature: 0 };
const chat = (client, c, extra = {}) => client.chat.completions.create({ model: NAME, messages: [{ role: "user", content: c.user }], max_tokens: c.n_predict + 8, ...greedy, ...extra });

describe("the rkllm engine behind the APIs", () => {
  test("models are listed as rkllm and load on the rkllm engine", async () => {
    const { models } = await ollama.list();
    const m = models.find((x) => x.name === `${NAME}:latest`);
    assert.ok(m, JSON.stringify(models.map((x) => x.name)));
    assert.equal(m.details.format, "rkllm");
    await ollama.generate({ model: NAME, prompt: "" });
    const ps = (await ollama.ps()).models.find((x) => x.name.startsWith(NAME));
    assert.ok(ps, "loaded");
    assert.equal(ps.size_vram, ps.size, "all of it on the NPU");
  });

  test("chat answers equal the CPU engine's, ending the turn by themselves", async () => {
    for (const c of spec.chat.slice(0, 4)) {
      const [a, b] = await Promise.all([chat(openai, c), chat(cpuOpenai, c)]);
      assert.equal(a.choices[0].message.content, b.choices[0].message.content, c.user);
      assert.equal(a.choices[0].message.content, c.expected, c.user);
      assert.equal(a.choices[0].finish_reason, "stop");
      assert.equal(a.usage.completion_tokens, b.usage.completion_tokens);
    }
  });

  test("streaming equals the whole answer; Ollama agrees", async () => {
    const c = spec.chat[1];
    let text = "";
    for await (const ch of await chat(openai, c, { stream: true })) text += ch.choices[0]?.delta?.content ?? "";
    assert.equal(text, c.expected);
    let o = "";
    for await (const part of await ollama.chat({ model: NAME, stream: true, messages: [{ role: "user", content: c.user }], options: { temperature: 0, repeat_penalty: 1, num_predict: c.n_predict + 8 } })) o += part.message.content;
    assert.equal(o, c.expected);
  });

  test("completions recite passages; max_tokens ends with length; stop strings cut", async () => {
    const p = spec.passages[0];
    const r = await openai.completions.create({ model: NAME, prompt: p.prompt, max_tokens: spec.n_predict, ...greedy });
    assert.ok(r.choices[0].text.startsWith(p.expected), r.choices[0].text);
    const short = await openai.completions.create({ model: NAME, prompt: p.prompt, max_tokens: 3, ...greedy });
    assert.equal(short.choices[0].finish_reason, "length");
    assert.equal(short.usage.completion_tokens, 3);
    const word = p.expected.trim().split(/\s+/)[2];
    const cut = await openai.completions.create({ model: NAME, prompt: p.prompt, max_tokens: spec.n_predict, stop: [word], ...greedy });
    assert.equal(cut.choices[0].finish_reason, "stop");
    assert.ok(!cut.choices[0].text.includes(word) && p.expected.startsWith(cut.choices[0].text), cut.choices[0].text);
  });

  test("a conversation's second turn reuses the first", async () => {
    const c = spec.chat[0];
    const first = await chat(openai, c);
    const second = await openai.chat.completions.create({
      model: NAME, max_tokens: 8, ...greedy,
      messages: [{ role: "user", content: c.user }, first.choices[0].message, { role: "user", content: spec.chat[1].user }],
    });
    assert.ok(second.usage.prompt_tokens_details.cached_tokens > 0, JSON.stringify(second.usage));
  });

  test("embeddings equal the CPU engine's", async () => {
    const [a, b] = await Promise.all([
      openai.embeddings.create({ model: NAME, input: ["a fortune", "another"] }),
      cpuOpenai.embeddings.create({ model: NAME, input: ["a fortune", "another"] }),
    ]);
    assert.equal(a.data.length, 2);
    for (let i = 0; i < 2; i++) {
      const x = a.data[i].embedding, y = b.data[i].embedding;
      assert.equal(x.length, y.length);
      assert.ok(Math.abs(Math.hypot(...x) - 1) < 1e-4);
      assert.ok(x.every((v, k) => Math.abs(v - y[k]) < 1e-4));
    }
  });

  test("a client that goes away frees the session at once", async () => {
    const ctl = new AbortController();
    const stream = await openai.chat.completions.create({ model: "synth-npu", messages: [{ role: "user", content: "go" }], max_tokens: 4000, stream: true }, { signal: ctl.signal });
    for await (const _ of stream) { ctl.abort(); break; }
    const t0 = Date.now();
    const [x, y] = await Promise.all([chat(openai, spec.chat[0]), chat(openai, spec.chat[1])]);
    assert.equal(x.choices[0].message.content, spec.chat[0].expected);
    assert.equal(y.choices[0].message.content, spec.chat[1].expected);
    assert.ok(Date.now() - t0 < 20000);
  });

  test("prompt caches work on the NPU engine", async () => {
    const made = await post(`${npu.url}/v1/cache/${NAME}`, { name: "rules", content: "Answer with a fortune." });
    assert.equal(made.status, 201, made.text);
    assert.equal(made.json.engine, "rkllm");
    const c = spec.chat[2];
    const plain = await openai.chat.completions.create({ model: NAME, ...greedy, max_tokens: 12, messages: [{ role: "system", content: "Answer with a fortune." }, { role: "user", content: c.user }] });
    await ollama.generate({ model: NAME, prompt: "", keep_alive: 0 });
    const cached = await openai.chat.completions.create({ model: NAME, ...greedy, max_tokens: 12, cache_prompts: ["rules"], messages: [{ role: "user", content: c.user }] });
    assert.equal(cached.choices[0].message.content, plain.choices[0].message.content);
  });

  test("what needs logits or a tokenizer is refused clearly", async () => {
    const ask = { model: NAME, messages: [{ role: "user", content: "hi" }], max_tokens: 4 };
    await assert.rejects(openai.chat.completions.create({ ...ask, response_format: { type: "json_object" } }), (e) => e.status === 400 && /rkllm engine/.test(e.message));
    await assert.rejects(openai.chat.completions.create({ ...ask, logit_bias: { 5: 1 } }), (e) => e.status === 400 && /logits/.test(e.message));
    await assert.rejects(openai.chat.completions.create({ ...ask, tool_choice: "required", tools: [{ type: "function", function: { name: "f" } }] }), (e) => e.status === 400 && e.param === "tool_choice");
    await assert.rejects(openai.completions.create({ model: NAME, prompt: [1, 2, 3], max_tokens: 2 }), (e) => e.status === 400 && /text prompts/.test(e.message));
  });

  test("keep_alive 0 unloads; the next request loads again", async () => {
    await ollama.generate({ model: NAME, prompt: "", keep_alive: 0 });
    for (let i = 0; i < 50 && (await ollama.ps()).models.some((m) => m.name.startsWith(NAME)); i++) await sleep(20);
    assert.ok(!(await ollama.ps()).models.some((m) => m.name.startsWith(NAME)));
    const r = await chat(openai, spec.chat[0]);
    assert.equal(r.choices[0].message.content, spec.chat[0].expected);
  });
});
