// Scheduling seen from outside: which session a conversation lands on,
// keep-alive expiry, the memory budget, parallel sessions interleaving, and
// a model that fails to load.
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { test } from "node:test";
import { Ollama } from "ollama";
import OpenAI from "openai";

import { MODELS, modelDir, post, sleep, startServer } from "./server.mjs";

const system = { role: "system", content: "You answer questions about places and their history, briefly." };
const convA = [system, { role: "user", content: "Tell me about the old lighthouse on the northern cape." }];
const convB = [{ role: "system", content: "Different instructions entirely." }, { role: "user", content: "Count some sheep." }];

async function turn(client, messages, seed) {
  const r = await client.chat.completions.create({ model: MODELS.qwen, messages, max_tokens: 8, seed, temperature: 0.5 });
  return { r, next: [...messages, r.choices[0].message, { role: "user", content: "Go on." }] };
}

test("each conversation continues on the session that kept it", async () => {
  const srv = await startServer({ args: ["--parallel", "2"] });
  try {
    const c = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "x", maxRetries: 0 });
    const a1 = await turn(c, convA, 1);
    const b1 = await turn(c, convB, 2);
    const a2 = await turn(c, a1.next, 3);
    const b2 = await turn(c, b1.next, 4);
    // everything before the new user turn was kept
    assert.ok(a2.r.usage.prompt_tokens_details.cached_tokens >= a1.r.usage.prompt_tokens, JSON.stringify(a2.r.usage));
    assert.ok(b2.r.usage.prompt_tokens_details.cached_tokens >= b1.r.usage.prompt_tokens, JSON.stringify(b2.r.usage));
  } finally {
    await srv.stop();
  }
});

test("with one session, another conversation in between starts clean", async () => {
  const srv = await startServer({ args: ["--parallel", "1"] });
  try {
    const c = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "x", maxRetries: 0 });
    const a1 = await turn(c, convA, 1);
    await turn(c, convB, 2);
    const a2 = await turn(c, a1.next, 3);
    // only the opening both conversations share can be reused, nothing of conversation A
    assert.ok(a2.r.usage.prompt_tokens_details.cached_tokens < a1.r.usage.prompt_tokens / 2, JSON.stringify(a2.r.usage));
    // and the answer is what a fresh server gives
    const fresh = await startServer();
    try {
      const f = new OpenAI({ baseURL: `${fresh.url}/v1`, apiKey: "x", maxRetries: 0 });
      const again = await f.chat.completions.create({ model: MODELS.qwen, messages: a1.next, max_tokens: 8, seed: 3, temperature: 0.5 });
      assert.equal(again.choices[0].message.content, a2.r.choices[0].message.content);
    } finally {
      await fresh.stop();
    }
  } finally {
    await srv.stop();
  }
});

test("--keep-alive expires an idle model", async () => {
  const srv = await startServer({ args: ["--keep-alive", "1s"] });
  try {
    const o = new Ollama({ host: srv.url });
    await o.generate({ model: MODELS.qwen, prompt: "hi", stream: false, options: { num_predict: 2 } });
    const ps = (await o.ps()).models;
    assert.equal(ps.length, 1);
    const left = Date.parse(ps[0].expires_at) - Date.now();
    assert.ok(left <= 1000 && left > 0, `expires in ${left} ms`);
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) {
      await sleep(50);
      gone = (await o.ps()).models.length === 0;
    }
    assert.ok(gone, "unloaded after its keep-alive");
  } finally {
    await srv.stop();
  }
});

test("the memory budget swaps models; a model larger than it is refused clearly", async () => {
  const probe = await startServer();
  const sizes = Object.fromEntries((await new Ollama({ host: probe.url }).list()).models.map((m) => [m.name, m.size]));
  await probe.stop();
  const budget = sizes[MODELS.qwen] + sizes[MODELS.llama] - 1;
  const srv = await startServer({ args: ["--memory-budget", String(budget)] });
  try {
    const o = new Ollama({ host: srv.url });
    await o.generate({ model: MODELS.qwen, prompt: "" });
    assert.deepEqual((await o.ps()).models.map((m) => m.name), [MODELS.qwen]);
    await o.generate({ model: MODELS.llama, prompt: "" });
    assert.deepEqual((await o.ps()).models.map((m) => m.name), [MODELS.llama], "the idle model made room");
  } finally {
    await srv.stop();
  }
  const tiny = await startServer({ args: ["--memory-budget", "1K"] });
  try {
    const r = await post(`${tiny.url}/api/generate`, { model: MODELS.qwen, prompt: "hi", stream: false });
    assert.equal(r.status, 500);
    assert.match(r.json.error, /memory budget/);
  } finally {
    await tiny.stop();
  }
});

test("parallel sessions interleave: a short request is not stuck behind a long one", async () => {
  const srv = await startServer({ args: ["--parallel", "2", "--ctx", "32768"] });
  try {
    const sock = await new Promise((resolve, reject) => {
      const s = net.connect(srv.port, "127.0.0.1");
      const body = JSON.stringify({ model: MODELS.llama, prompt: "a", max_tokens: 100000, ignore_eos: true, stream: true });
      s.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      s.once("data", () => resolve(s));
      s.on("error", reject);
    });
    const t0 = Date.now();
    const r = await post(`${srv.url}/v1/completions`, { model: MODELS.llama, prompt: "b", max_tokens: 16 });
    assert.equal(r.status, 200);
    assert.equal(r.json.usage.completion_tokens, 16);
    assert.ok(Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
    const health = await (await fetch(`${srv.url}/health`)).json();
    assert.equal(health.running, 1, "the long one is still going");
    sock.destroy();
  } finally {
    await srv.stop();
  }
});

test("a model that fails to load is a clear 500; the server stays up", async () => {
  const dir = modelDir();
  const bad = path.join(dir, "broken.gguf");
  // a GGUF header that promises more than the file holds
  const buf = Buffer.alloc(64);
  buf.write("GGUF", 0);
  buf.writeUInt32LE(3, 4);
  buf.writeBigUInt64LE(5n, 8);
  buf.writeBigUInt64LE(9n, 16);
  fs.writeFileSync(bad, buf);
  const srv = await startServer({ dir });
  try {
    const r = await post(`${srv.url}/v1/chat/completions`, { model: "broken", messages: [{ role: "user", content: "hi" }] });
    assert.equal(r.status, 500, r.text);
    assert.match(r.json.error.message, /broken/);
    assert.ok(r.json.error.message.length > 10);
    const ok = await post(`${srv.url}/v1/chat/completions`, { model: MODELS.qwen, messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
    assert.equal(ok.status, 200);
  } finally {
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
