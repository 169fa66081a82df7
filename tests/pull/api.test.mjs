// POST /api/pull through a live `rkserve serve`, driven by the official
// ollama client's pull(): the progress objects as Ollama streams them, the
// single answer with stream: false, errors, and the pulled model being
// served under the name it was pulled by.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";

import { Ollama } from "ollama";

import { modelDir, startServer, TEST_MODELS } from "../e2e/server.mjs";
import { sha256, startHub } from "./hub.mjs";

const QWEN = fs.readFileSync(path.join(TEST_MODELS, "qwen3-q8.gguf"));
const EXTRA = Buffer.alloc(5000, 0x42);
const SLOW = Buffer.alloc(200000, 0x17);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let hub, srv, dir, client;

before(async () => {
  hub = await startHub({
    repos: {
      "test/Chat-GGUF": { files: { "chat-Q4_K_M.gguf": QWEN, "chat-Q8_0.gguf": EXTRA, "README.md": Buffer.from("hi") } },
      "test/Gated": { files: { "gated-Q4_0.gguf": EXTRA }, token: "hf_secret" },
      "test/Slow": { files: { "slow-Q4_0.gguf": SLOW }, slow: { "slow-Q4_0.gguf": 4000 } },
    },
  });
  dir = modelDir();
  srv = await startServer({
    dir,
    env: { HF_ENDPOINT: hub.url, RKSERVE_DT_COMPATIBLE: path.join(dir, "no-device-tree") },
  });
  client = new Ollama({ host: srv.url });
});

after(async () => {
  await srv?.stop();
  await hub?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test("pull streams Ollama's progress objects, and the model is then served by that name", async () => {
  const events = [];
  for await (const p of await client.pull({ model: "hf.co/test/Chat-GGUF", stream: true })) events.push(p);
  assert.deepEqual(events[0], { status: "pulling manifest" });
  const digest = `sha256:${sha256(QWEN)}`;
  const layer = events.filter((e) => e.digest);
  assert.ok(layer.length >= 2, JSON.stringify(events));
  for (const e of layer) {
    assert.equal(e.status, `pulling ${digest.slice(7, 19)}`);
    assert.equal(e.digest, digest);
    assert.equal(e.total, QWEN.length);
    assert.ok(e.completed >= 0 && e.completed <= e.total);
  }
  assert.equal(layer.at(-1).completed, QWEN.length);
  assert.deepEqual(
    events.slice(-3).map((e) => e.status),
    ["verifying sha256 digest", "writing manifest", "success"],
  );
  assert.ok(fs.existsSync(path.join(dir, "hf.co", "test", "Chat-GGUF", "chat-Q4_K_M.gguf")));

  // the registry rescans: the model is listed and answers by its pull name
  const { models } = await client.list();
  assert.ok(models.length >= 3, JSON.stringify(models.map((m) => m.name)));
  const out = await client.generate({
    model: "hf.co/test/Chat-GGUF",
    prompt: "hello",
    options: { num_predict: 2, seed: 1, temperature: 0 },
  });
  assert.equal(out.done, true);
  assert.ok(out.eval_count >= 1);
});

test("stream: false answers once, after the pull", async () => {
  const res = await client.pull({ model: "hf.co/test/Chat-GGUF:Q8_0", stream: false });
  assert.deepEqual(res, { status: "success" });
  assert.ok(fs.readFileSync(path.join(dir, "hf.co", "test", "Chat-GGUF", "chat-Q8_0.gguf")).equals(EXTRA));
});

test("failures arrive as {error} and the client throws them", async () => {
  await assert.rejects(
    async () => {
      for await (const p of await client.pull({ model: "hf.co/test/Gated", stream: true })) void p;
    },
    (err) => /401/.test(err.message) && /HF_TOKEN/.test(err.message),
  );
  await assert.rejects(client.pull({ model: "hf.co/test/Gated", stream: false }), (err) => {
    assert.equal(err.status_code, 401);
    return /HF_TOKEN/.test(err.message);
  });
  await assert.rejects(client.pull({ model: "not-a-reference", stream: false }), (err) => err.status_code === 400);
  assert.ok(!fs.existsSync(path.join(dir, "hf.co", "test", "Gated", "gated-Q4_0.gguf")));
});

test("a client that goes away cancels the pull, and the next pull resumes it", async () => {
  const ac = new AbortController();
  const res = await fetch(`${srv.url}/api/pull`, {
    method: "POST",
    body: JSON.stringify({ model: "hf.co/test/Slow" }),
    signal: ac.signal,
  });
  assert.equal(res.headers.get("content-type"), "application/x-ndjson");
  const reader = res.body.getReader();
  let text = "";
  while (!/"completed":[1-9]/.test(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  ac.abort();
  const dirSlow = path.join(dir, "hf.co", "test", "Slow");
  const partial = path.join(dirSlow, "slow-Q4_0.gguf.partial");
  // the download stops: the partial file stops growing well short of the end
  let size = -1;
  for (let i = 0; i < 50; i++) {
    await sleep(150);
    const now = fs.statSync(partial).size;
    if (now === size) break;
    size = now;
  }
  assert.ok(size > 0 && size < SLOW.length, `partial ${size}`);
  assert.ok(!fs.existsSync(path.join(dirSlow, "slow-Q4_0.gguf")));

  const mark = hub.log.length;
  assert.deepEqual(await client.pull({ model: "hf.co/test/Slow", stream: false }), { status: "success" });
  const ranges = hub.log
    .slice(mark)
    .filter((r) => r.path.startsWith("/cdn/"))
    .map((r) => r.range);
  assert.deepEqual(ranges, [`bytes=${size}-`]);
  assert.ok(fs.readFileSync(path.join(dirSlow, "slow-Q4_0.gguf")).equals(SLOW));
});
