// The Ollama API through the official `ollama` client (and fetch where the
// client hides the wire), on the synthetic models.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Ollama } from "ollama";

import { FILES, MODELS, norm, post, sleep, startServer } from "./server.mjs";

let srv, ollama;

before(async () => {
  srv = await startServer();
  ollama = new Ollama({ host: srv.url });
});

after(async () => {
  assert.equal(await srv.stop(), 0);
});

const opts = (extra = {}) => ({ temperature: 0.8, seed: 42, num_predict: 20, ...extra });

async function loadedNames() {
  return (await ollama.ps()).models.map((m) => m.name);
}

// Unloading after a request happens just after its answer: poll briefly.
async function waitUnloaded(name, ms = 5000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!(await loadedNames()).includes(name)) return true;
    await sleep(20);
  }
  return false;
}

describe("server", () => {
  test("GET and HEAD / say it is running; version", async () => {
    const r = await fetch(`${srv.url}/`);
    assert.equal(await r.text(), "Ollama is running");
    const h = await fetch(`${srv.url}/`, { method: "HEAD" });
    assert.equal(h.status, 200);
    assert.match((await ollama.version()).version, /^\d+\.\d+\.\d+/);
  });

  test("tags list the models with details", async () => {
    const { models } = await ollama.list();
    const q = models.find((m) => m.name === MODELS.qwen);
    assert.ok(q, JSON.stringify(models.map((m) => m.name)));
    assert.match(q.digest, /^[0-9a-f]{64}$/);
    assert.ok(q.size > 1000);
    assert.equal(q.details.format, "gguf");
    assert.equal(q.details.family, "qwen3");
    assert.equal(q.details.quantization_level, "Q8_0");
    assert.ok(!Number.isNaN(Date.parse(q.modified_at)));
  });

  test("show describes a model without loading it", async () => {
    const s = await ollama.show({ model: MODELS.llama });
    assert.equal(s.model_info["general.architecture"], "llama");
    assert.ok(s.model_info["general.parameter_count"] > 0);
    assert.ok(s.capabilities.includes("completion"));
    assert.deepEqual(await loadedNames(), []);
    await assert.rejects(ollama.show({ model: "nope" }), (e) => e.status_code === 404);
  });
});

describe("generate and chat", () => {
  test("generate: streamed equals whole, final object fields", async () => {
    const whole = await ollama.generate({ model: MODELS.qwen, prompt: "Why is the sky blue?", stream: false, options: opts() });
    assert.equal(whole.done, true);
    assert.equal(whole.done_reason, "length");
    assert.equal(whole.eval_count, 20);
    assert.ok(whole.prompt_eval_count > 5);
    for (const k of ["total_duration", "prompt_eval_duration", "eval_duration"]) {
      assert.ok(Number.isInteger(whole[k]) && whole[k] > 0, `${k} = ${whole[k]}`);
    }
    assert.ok(whole.total_duration >= whole.eval_duration);
    let text = "";
    let last;
    for await (const part of await ollama.generate({ model: MODELS.qwen, prompt: "Why is the sky blue?", stream: true, options: opts() })) {
      text += part.response;
      last = part;
    }
    assert.equal(text, whole.response);
    assert.equal(last.done, true);
    assert.equal(last.eval_count, 20);
  });

  test("chat: streamed equals whole; system and stop honoured", async () => {
    const messages = [{ role: "system", content: "Be kind." }, { role: "user", content: "Hello!" }];
    const whole = await ollama.chat({ model: MODELS.llama, messages, stream: false, options: opts() });
    assert.equal(whole.message.role, "assistant");
    assert.equal(whole.done_reason, "length");
    let text = "";
    for await (const part of await ollama.chat({ model: MODELS.llama, messages, stream: true, options: opts() })) {
      text += part.message.content;
    }
    assert.equal(text, whole.message.content);
    const cut = [...whole.message.content].slice(4, 6).join("");
    const stopped = await ollama.chat({ model: MODELS.llama, messages, stream: false, options: opts({ stop: [cut] }) });
    assert.equal(stopped.message.content, whole.message.content.slice(0, whole.message.content.indexOf(cut)));
    assert.equal(stopped.done_reason, "stop");
  });

  test("raw generate skips the template", async () => {
    const raw = await ollama.generate({ model: MODELS.qwen, prompt: "abc", raw: true, stream: false, options: opts({ num_predict: 4 }) });
    const templated = await ollama.generate({ model: MODELS.qwen, prompt: "abc", stream: false, options: opts({ num_predict: 4 }) });
    assert.ok(raw.prompt_eval_count < templated.prompt_eval_count);
  });

  test("template overrides, suffix and images are refused clearly", async () => {
    await assert.rejects(ollama.generate({ model: MODELS.qwen, prompt: "x", template: "{{ .Prompt }}" }), (e) => e.status_code === 400 && /Go template/.test(e.error));
    await assert.rejects(ollama.generate({ model: MODELS.qwen, prompt: "x", suffix: "y" }), (e) => e.status_code === 400);
    await assert.rejects(ollama.generate({ model: "missing", prompt: "x" }), (e) => e.status_code === 404);
  });
});

describe("loading and unloading", () => {
  test("an empty prompt loads; keep_alive 0 unloads", async () => {
    const loaded = await ollama.generate({ model: MODELS.llama, prompt: "" });
    assert.equal(loaded.done_reason, "load");
    assert.ok((await loadedNames()).includes(MODELS.llama));
    const ps = (await ollama.ps()).models.find((m) => m.name === MODELS.llama);
    assert.ok(Date.parse(ps.expires_at) > Date.now());
    assert.ok(ps.size > 0);
    const unloaded = await ollama.generate({ model: MODELS.llama, prompt: "", keep_alive: 0 });
    assert.equal(unloaded.done_reason, "unload");
    assert.ok(!(await loadedNames()).includes(MODELS.llama));
  });

  test("a request with keep_alive 0 unloads after it; -1 keeps forever", async () => {
    await ollama.generate({ model: MODELS.qwen, prompt: "hi", stream: false, keep_alive: 0, options: opts({ num_predict: 2 }) });
    assert.ok(await waitUnloaded(MODELS.qwen));
    await ollama.chat({ model: MODELS.qwen, messages: [{ role: "user", content: "hi" }], stream: false, keep_alive: -1, options: opts({ num_predict: 2 }) });
    const m = (await ollama.ps()).models.find((x) => x.name === MODELS.qwen);
    assert.ok(Date.parse(m.expires_at) > Date.now() + 100 * 365 * 86400e3);
    await ollama.chat({ model: MODELS.qwen, messages: [], keep_alive: 0 });
    assert.ok(!(await loadedNames()).includes(MODELS.qwen));
  });
});

describe("context", () => {
  const ctxOf = async (name) => (await ollama.ps()).models.find((m) => m.name === name)?.context_length;
  const unload = () => ollama.generate({ model: MODELS.llama, prompt: "", keep_alive: 0 });
  const gen = (options) => ollama.generate({ model: MODELS.llama, prompt: "once upon", raw: true, stream: false, options: opts(options) });

  // A context of N positions holds the prompt and the answer but the last
  // token, which is sampled and never stored: at most N + 1 tokens in all.
  test("num_ctx of the loading request sets the context; a full context shifts unless num_keep is -1", async () => {
    await unload();
    try {
      const shifted = await gen({ num_ctx: 40, num_predict: 70 });
      assert.equal(await ctxOf(MODELS.llama), 40);
      assert.equal(shifted.done_reason, "length");
      assert.equal(shifted.eval_count, 70, "generation went on past the 40-token context by shifting it");
      const ended = await gen({ num_predict: 70, num_keep: -1 });
      assert.equal(ended.done_reason, "length");
      assert.equal(ended.prompt_eval_count + ended.eval_count, 41, JSON.stringify(ended));
    } finally {
      await unload();
    }
  });

  test("a smaller num_ctx on a loaded model narrows the request's window", async () => {
    try {
      await ollama.generate({ model: MODELS.llama, prompt: "", keep_alive: -1 });
      const full = await ctxOf(MODELS.llama);
      assert.ok(full > 64, `loaded with ${full}`);
      const r = await gen({ num_ctx: 24, num_predict: 100 });
      assert.equal(await ctxOf(MODELS.llama), full, "the loaded context is unchanged");
      assert.equal(r.done_reason, "length");
      assert.equal(r.prompt_eval_count + r.eval_count, 24);
      const long = "word ".repeat(40);
      await assert.rejects(ollama.generate({ model: MODELS.llama, prompt: long, raw: true, options: opts({ num_ctx: 16 }) }), (e) => e.status_code === 400 && /context holds 16/.test(e.error));
    } finally {
      await unload();
    }
  });
});

describe("embeddings", () => {
  test("embed: one vector per input, unit length; legacy embeddings agree", async () => {
    const r = await ollama.embed({ model: MODELS.qwen, input: ["first text", "second text"] });
    assert.equal(r.embeddings.length, 2);
    for (const v of r.embeddings) assert.ok(Math.abs(norm(v) - 1) < 1e-4);
    assert.ok(r.prompt_eval_count > 2);
    const one = await ollama.embed({ model: MODELS.qwen, input: "first text" });
    assert.deepEqual(one.embeddings[0], r.embeddings[0]);
    const legacy = await ollama.embeddings({ model: MODELS.qwen, prompt: "first text" });
    assert.deepEqual(legacy.embedding, r.embeddings[0]);
  });
});

describe("copy and delete", () => {
  test("copy makes another name; delete removes it", async () => {
    await ollama.copy({ source: MODELS.qwen, destination: "myqwen:v1" });
    assert.ok((await ollama.list()).models.some((m) => m.name === "myqwen:v1"));
    const r = await ollama.generate({ model: "myqwen:v1", prompt: "hi", stream: false, options: opts({ num_predict: 3 }) });
    assert.equal(r.eval_count, 3);
    await assert.rejects(ollama.copy({ source: MODELS.qwen, destination: "../escape" }), (e) => e.status_code === 400);
    await assert.rejects(ollama.copy({ source: MODELS.qwen, destination: "myqwen:v1" }), (e) => e.status_code === 400);
    await ollama.delete({ model: "myqwen:v1" });
    assert.ok(!(await ollama.list()).models.some((m) => m.name === "myqwen:v1"));
    assert.ok((await ollama.list()).models.some((m) => m.name === MODELS.qwen), "the source stays");
    await assert.rejects(ollama.delete({ model: "myqwen:v1" }), (e) => e.status_code === 404);
  });
});

describe("names", () => {
  test("without sidecars, names come from the GGUF metadata; file names resolve", async () => {
    const s = await startServer({ sidecars: false });
    try {
      const o = new Ollama({ host: s.url });
      const names = (await o.list()).models.map((m) => m.name);
      assert.ok(names.some((n) => n.startsWith("synthetic-qwen3:")), names.join(","));
      const r = await o.generate({ model: FILES.qwen, prompt: "hi", stream: false, options: opts({ num_predict: 2 }) });
      assert.equal(r.eval_count, 2);
      const bad = await post(`${s.url}/api/generate`, "{\"model\": ");
      assert.equal(bad.status, 400);
      assert.match(bad.json.error, /line 1, column/);
    } finally {
      await s.stop();
    }
  });
});

describe("sidecar parameters", () => {
  test("a model's default options apply unless the request sets them", async () => {
    const fs = await import("node:fs");
    const path = await import("node:path");
    const { modelDir } = await import("./server.mjs");
    const OpenAI = (await import("openai")).default;
    const dir = modelDir();
    fs.writeFileSync(path.join(dir, "terse.json"),
      JSON.stringify({ name: "terse:test", from: `${FILES.qwen}.gguf`, parameters: { temperature: 0, num_predict: 3, stop: ["never-appears-ZQX"] } }));
    const s = await startServer({ dir });
    try {
      const o = new Ollama({ host: s.url });
      const a = await o.generate({ model: "terse:test", prompt: "hi", stream: false, options: { seed: 1 } });
      const b = await o.generate({ model: "terse:test", prompt: "hi", stream: false, options: { seed: 2 } });
      assert.equal(a.eval_count, 3);
      assert.equal(a.response, b.response, "temperature 0 from the sidecar");
      const c = await o.generate({ model: "terse:test", prompt: "hi", stream: false, options: { num_predict: 5 } });
      assert.equal(c.eval_count, 5);
      const oa = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "x", maxRetries: 0 });
      const d = await oa.chat.completions.create({ model: "terse:test", messages: [{ role: "user", content: "hi" }] });
      assert.equal(d.usage.completion_tokens, 3);
      const f = await oa.chat.completions.create({ model: "terse:test", messages: [{ role: "user", content: "hi" }], max_tokens: 6 });
      assert.equal(f.usage.completion_tokens, 6);
      // the model itself keeps its own defaults
      const g = await o.generate({ model: MODELS.qwen, prompt: "hi", stream: false, options: { num_predict: 4 } });
      assert.equal(g.eval_count, 4);
    } finally {
      await s.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
