// Prompt caches (/v1/cache) and cache_prompts on chat requests: the state
// file of a cached prefix is built once and restored into a fresh session,
// so the prefix is not computed again; answers equal uncached ones.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Ollama } from "ollama";
import OpenAI from "openai";

import { MODELS, startServer } from "./server.mjs";

let srv, openai, ollama, cacheDir;
const model = MODELS.llama;
const RULES = "You answer in one short line. You never use lists. You are polite and exact.";
const SYS = "You are rkserve's test assistant.";

before(async () => {
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "rkserve-cache-"));
  srv = await startServer({ args: ["--cache-dir", cacheDir] });
  openai = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "x", maxRetries: 0 });
  ollama = new Ollama({ host: srv.url });
});

after(async () => {
  assert.equal(await srv.stop(), 0);
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

const api = async (method, p, body) => {
  const r = await fetch(`${srv.url}${p}`, { method, headers: { "Content-Type": "application/json" }, body: body && JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
};
const unload = () => ollama.generate({ model, prompt: "", keep_alive: 0 });
const ask = [{ role: "user", content: "How are you?" }];
const chat = (extra) => openai.chat.completions.create({ model, messages: ask, temperature: 0, max_tokens: 8, ...extra });

describe("prompt caches", () => {
  test("create, refuse overwrite, overwrite, list, get", async () => {
    const made = await api("POST", `/v1/cache/${model}`, { name: "rules", content: RULES });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(made.body.version, 1);
    assert.equal(made.body.built, true);
    assert.ok(made.body.n_tokens > 10 && made.body.size > 0, JSON.stringify(made.body));
    assert.match(made.body.prompt_hash, /^[0-9a-f]{64}$/);
    assert.equal(made.body.engine, "cpu");
    const again = await api("POST", `/v1/cache/${model}`, { name: "rules", content: RULES + " Really." });
    assert.equal(again.status, 409);
    assert.match(again.body.error.message, /allow_overwrite/);
    const over = await api("POST", `/v1/cache/${model}`, { name: "rules", content: RULES, allow_overwrite: true });
    assert.equal(over.status, 200);
    assert.equal(over.body.version, 2);
    assert.equal(over.body.created_at, made.body.created_at);
    const list = await api("GET", `/v1/cache/${model}`);
    assert.deepEqual(list.body.data.map((c) => c.name), ["rules"]);
    const one = await api("GET", `/v1/cache/${model}/rules`);
    assert.equal(one.body.content, RULES);
    const states = fs.readdirSync(path.join(cacheDir, model.replace(":", "_"))).filter((f) => f.endsWith(".state"));
    assert.equal(states.length, 1, "one state file per cache; no temporary left");
  });

  test("a chat using the cache answers as without it, starting from the saved state", async () => {
    const plain = await chat({ messages: [{ role: "system", content: RULES }, ...ask] });
    await unload();
    const cached = await chat({ cache_prompts: ["rules"] });
    assert.equal(cached.choices[0].message.content, plain.choices[0].message.content);
    assert.equal(cached.usage.prompt_tokens, plain.usage.prompt_tokens);
    const n = (await api("GET", `/v1/cache/${model}/rules`)).body.n_tokens;
    assert.ok(cached.usage.prompt_tokens_details.cached_tokens >= n, JSON.stringify(cached.usage));
  });

  test("the system cache goes first; a corrupt state is rebuilt, never loaded", async () => {
    assert.equal((await api("POST", `/v1/cache/${model}`, { name: "system", content: SYS })).status, 201);
    const plain = await chat({ messages: [{ role: "system", content: `${SYS}\n\n${RULES}` }, ...ask] });
    const dir = path.join(cacheDir, model.replace(":", "_"));
    await unload();
    const viaCache = await chat({ cache_prompts: "rules" });
    assert.equal(viaCache.choices[0].message.content, plain.choices[0].message.content);
    // a stale state of "rules" (without the system text) was replaced
    const rulesStates = fs.readdirSync(dir).filter((f) => f.startsWith("rules-") && f.endsWith(".state"));
    assert.equal(rulesStates.length, 1);
    const file = path.join(dir, rulesStates[0]);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 9] ^= 0x5a;
    fs.writeFileSync(file, bytes);
    await unload();
    const rebuilt = await chat({ cache_prompts: ["rules"] });
    assert.equal(rebuilt.choices[0].message.content, plain.choices[0].message.content);
    assert.notDeepEqual(fs.readFileSync(file), bytes, "the corrupt state was replaced");
    // Ollama's chat takes cache_prompts too
    const o = await fetch(`${srv.url}/api/chat`, { method: "POST", body: JSON.stringify({ model, messages: ask, cache_prompts: ["rules"], stream: false, options: { temperature: 0, num_predict: 8 } }) });
    assert.equal(o.status, 200);
  });

  test("errors: unknown cache or model, bad names, delete", async () => {
    await assert.rejects(chat({ cache_prompts: ["nope"] }), (e) => e.status === 404 && /nope/.test(e.message));
    await assert.rejects(chat({ cache_prompts: 7 }), (e) => e.status === 400);
    assert.equal((await api("POST", `/v1/cache/${model}`, { name: "../x", content: "a" })).status, 400);
    assert.equal((await api("POST", `/v1/cache/${model}`, { name: "x", content: "" })).status, 400);
    assert.equal((await api("POST", "/v1/cache/nosuch:model", { name: "x", content: "a" })).status, 404);
    assert.equal((await api("GET", `/v1/cache/${model}/nope`)).status, 404);
    assert.equal((await api("DELETE", `/v1/cache/${model}/rules`)).status, 200);
    assert.equal((await api("DELETE", `/v1/cache/${model}/rules`)).status, 404);
    const left = fs.readdirSync(path.join(cacheDir, model.replace(":", "_")));
    assert.ok(!left.some((f) => f.startsWith("rules")), left.join());
  });
});
