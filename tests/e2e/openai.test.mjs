// The OpenAI API through the official `openai` client, on synthetic models
// (random weights: the text is noise, but it is the same noise for the same
// seed, which is what these checks rely on).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import OpenAI from "openai";

import { MODELS, norm, post, startServer } from "./server.mjs";

let srv, client;

before(async () => {
  srv = await startServer();
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "unused", maxRetries: 0 });
});

after(async () => {
  assert.equal(await srv.stop(), 0, "the server exits cleanly on SIGTERM");
});

const chat = (extra = {}) => ({
  model: MODELS.qwen,
  messages: [
    { role: "system", content: "You are terse." },
    { role: "user", content: "Tell me about the sea." },
  ],
  max_tokens: 24,
  temperature: 0.9,
  seed: 1234,
  ...extra,
});

describe("models", () => {
  test("list holds the served models", async () => {
    const ids = [];
    for await (const m of client.models.list()) {
      assert.equal(m.object, "model");
      ids.push(m.id);
    }
    assert.ok(ids.includes(MODELS.qwen) && ids.includes(MODELS.llama), ids.join(","));
  });

  test("retrieve one, and 404 for an unknown one", async () => {
    const m = await client.models.retrieve(MODELS.llama);
    assert.equal(m.id, MODELS.llama);
    await assert.rejects(client.models.retrieve("no-such-model"), (e) => e.status === 404);
  });
});

describe("chat completions", () => {
  test("non-streamed: shape, usage, finish by length", async () => {
    const r = await client.chat.completions.create(chat());
    assert.equal(r.object, "chat.completion");
    assert.match(r.id, /^chatcmpl-/);
    assert.equal(r.model, MODELS.qwen);
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].message.role, "assistant");
    assert.equal(typeof r.choices[0].message.content, "string");
    assert.equal(r.choices[0].finish_reason, "length");
    assert.equal(r.usage.completion_tokens, 24);
    assert.ok(r.usage.prompt_tokens > 10);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  });

  test("the same seed gives the same text; another seed another", async () => {
    const a = await client.chat.completions.create(chat());
    const b = await client.chat.completions.create(chat());
    const c = await client.chat.completions.create(chat({ seed: 99 }));
    assert.equal(a.choices[0].message.content, b.choices[0].message.content);
    assert.notEqual(a.choices[0].message.content, c.choices[0].message.content);
  });

  test("streamed text assembles to the non-streamed text, with usage at the end", async () => {
    const whole = await client.chat.completions.create(chat({ seed: 7 }));
    const stream = await client.chat.completions.create(chat({ seed: 7, stream: true, stream_options: { include_usage: true } }));
    let text = "";
    let role = null;
    let finish = null;
    let usage = null;
    let chunks = 0;
    for await (const ch of stream) {
      assert.equal(ch.object, "chat.completion.chunk");
      assert.equal(ch.id, stream.id ?? ch.id);
      if (ch.usage) usage = ch.usage;
      for (const c of ch.choices) {
        if (c.delta.role) role = c.delta.role;
        if (c.delta.content) text += c.delta.content;
        if (c.finish_reason) finish = c.finish_reason;
      }
      chunks++;
    }
    assert.ok(chunks > 3);
    assert.equal(role, "assistant");
    assert.equal(finish, "length");
    assert.equal(text, whole.choices[0].message.content);
    assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
    assert.equal(usage.prompt_tokens, whole.usage.prompt_tokens);
  });

  test("a stop string ends the text before it", async () => {
    const free = (await client.chat.completions.create(chat({ seed: 5, max_tokens: 40 }))).choices[0].message.content;
    // a stop string from the middle of what the model says unprompted
    const chars = [...free];
    const stop = chars.slice(Math.floor(chars.length / 2), Math.floor(chars.length / 2) + 2).join("");
    const r = await client.chat.completions.create(chat({ seed: 5, max_tokens: 40, stop: [stop] }));
    const expected = free.slice(0, free.indexOf(stop));
    assert.equal(r.choices[0].message.content, expected);
    assert.equal(r.choices[0].finish_reason, "stop");
    assert.ok(r.usage.completion_tokens < 40);
  });

  test("greedy decoding ignores the seed", async () => {
    const a = await client.chat.completions.create(chat({ temperature: 0, seed: 1 }));
    const b = await client.chat.completions.create(chat({ temperature: 0, seed: 2 }));
    assert.equal(a.choices[0].message.content, b.choices[0].message.content);
  });

  test("logit_bias -100 bans a token, +100 forces it", async () => {
    const r = await client.chat.completions.create(chat({ temperature: 0, max_tokens: 6, logit_bias: { 65: 100 } }));
    // token 65 is the byte "A" in the synthetic byte-level vocabulary
    assert.equal(r.choices[0].message.content, "AAAAAA");
  });

  test("a continued conversation reuses the kept prefix", async () => {
    const first = await client.chat.completions.create(chat({ seed: 3, max_tokens: 8 }));
    const follow = await client.chat.completions.create({
      ...chat({ seed: 3, max_tokens: 8 }),
      messages: [...chat().messages, first.choices[0].message, { role: "user", content: "And then?" }],
    });
    assert.ok(follow.usage.prompt_tokens_details.cached_tokens >= first.usage.prompt_tokens,
      `cached ${follow.usage.prompt_tokens_details.cached_tokens} of ${follow.usage.prompt_tokens}`);
  });

  test("parameters it cannot honour are refused clearly", async () => {
    await assert.rejects(client.chat.completions.create(chat({ n: 2 })), (e) => e.status === 400 && /n = 1/.test(e.message));
    await assert.rejects(client.chat.completions.create(chat({ logprobs: true })), (e) => e.status === 400);
    await assert.rejects(client.chat.completions.create({ ...chat(), messages: [] }), (e) => e.status === 400);
    await assert.rejects(client.chat.completions.create(chat({ model: "nope" })), (e) => e.status === 404 && e.code === "model_not_found");
    await assert.rejects(client.chat.completions.create(chat({ temperature: 5 })), (e) => e.status === 400 && e.param === "temperature");
  });
});

describe("completions", () => {
  const req = (extra = {}) => ({ model: MODELS.llama, prompt: "Once upon a time", max_tokens: 16, seed: 11, temperature: 0.7, ...extra });

  test("text, echo, streaming equal", async () => {
    const a = await client.completions.create(req());
    assert.equal(a.object, "text_completion");
    assert.equal(a.choices[0].finish_reason, "length");
    assert.equal(a.usage.completion_tokens, 16);
    const e = await client.completions.create(req({ echo: true }));
    assert.equal(e.choices[0].text, "Once upon a time" + a.choices[0].text);
    let text = "";
    for await (const ch of await client.completions.create(req({ stream: true }))) text += ch.choices[0]?.text ?? "";
    assert.equal(text, a.choices[0].text);
  });

  test("a token-id prompt equals its text", async () => {
    const byText = await client.completions.create(req({ prompt: "ab", temperature: 0 }));
    // bytes 'a' and 'b' are ids 97 and 98; the synthetic vocabulary merges "ab" though,
    // so compare against the ids the server itself reports
    const byIds = await client.completions.create(req({ prompt: [97, 98], temperature: 0 }));
    assert.equal(byIds.usage.prompt_tokens, 2);
    assert.ok(typeof byText.choices[0].text === "string");
    const again = await client.completions.create(req({ prompt: [[97, 98]], temperature: 0 }));
    assert.equal(again.choices[0].text, byIds.choices[0].text);
  });

  test("several prompts: one choice each, equal to their own runs; not streamed", async () => {
    const prompts = ["Once upon a time", "In a galaxy", [97, 98, 99]];
    const batch = await client.completions.create(req({ prompt: prompts, echo: false }));
    assert.equal(batch.choices.length, 3);
    let sum = 0;
    for (let i = 0; i < 3; i++) {
      const one = await client.completions.create(req({ prompt: prompts[i] }));
      assert.equal(batch.choices[i].index, i);
      assert.equal(batch.choices[i].text, one.choices[0].text);
      assert.equal(batch.choices[i].finish_reason, "length");
      sum += one.usage.prompt_tokens;
    }
    assert.equal(batch.usage.prompt_tokens, sum);
    assert.equal(batch.usage.completion_tokens, 3 * 16);
    const echoed = await client.completions.create(req({ prompt: ["x", "y"], echo: true, max_tokens: 2 }));
    assert.ok(echoed.choices[0].text.startsWith("x") && echoed.choices[1].text.startsWith("y"));
    await assert.rejects(client.completions.create(req({ prompt: ["a", "b"], stream: true })), (e) => e.status === 400);
    await assert.rejects(client.completions.create(req({ prompt: ["a", 5] })), (e) => e.status === 400 && /prompt 1/.test(e.message));
  });

  test("suffix is refused", async () => {
    await assert.rejects(client.completions.create(req({ suffix: "end" })), (e) => e.status === 400 && e.param === "suffix");
  });
});

describe("embeddings", () => {
  test("shape, unit norm, determinism, base64", async () => {
    const r = await client.embeddings.create({ model: MODELS.qwen, input: ["hello world", "something else"], encoding_format: "float" });
    assert.equal(r.object, "list");
    assert.equal(r.data.length, 2);
    const d = r.data[0].embedding.length;
    assert.ok(d >= 16, `dimension ${d}`);
    for (const e of r.data) {
      assert.equal(e.embedding.length, d);
      assert.ok(Math.abs(norm(e.embedding) - 1) < 1e-4);
    }
    assert.notDeepEqual(r.data[0].embedding, r.data[1].embedding);
    const again = await client.embeddings.create({ model: MODELS.qwen, input: "hello world", encoding_format: "float" });
    assert.deepEqual(again.data[0].embedding, r.data[0].embedding);
    assert.ok(r.usage.prompt_tokens > 2);
    // the SDK asks for base64 by default and decodes it
    const b = await client.embeddings.create({ model: MODELS.qwen, input: "hello world" });
    assert.deepEqual(b.data[0].embedding.map((x) => Math.fround(x)), r.data[0].embedding.map((x) => Math.fround(x)));
    const raw = await post(`${srv.url}/v1/embeddings`, { model: MODELS.qwen, input: "hello world", encoding_format: "base64" });
    const bytes = Buffer.from(raw.json.data[0].embedding, "base64");
    const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    assert.equal(floats.length, d);
    assert.deepEqual([...floats], r.data[0].embedding.map((x) => Math.fround(x)));
  });

  test("wrong dimensions and empty input are refused", async () => {
    await assert.rejects(client.embeddings.create({ model: MODELS.qwen, input: "x", dimensions: 3 }), (e) => e.status === 400);
    await assert.rejects(client.embeddings.create({ model: MODELS.qwen, input: [] }), (e) => e.status === 400);
  });
});

describe("errors on the wire", () => {
  test("bad JSON is a 400 that says where", async () => {
    const r = await post(`${srv.url}/v1/chat/completions`, '{"model": "x",\n "messages": [}');
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /line 2, column \d+/);
    assert.equal(r.json.error.type, "invalid_request_error");
  });

  test("unknown endpoint 404, wrong method 405, both OpenAI-shaped", async () => {
    const a = await fetch(`${srv.url}/v1/nothing`);
    assert.equal(a.status, 404);
    assert.ok((await a.json()).error.message);
    const b = await fetch(`${srv.url}/v1/chat/completions`);
    assert.equal(b.status, 405);
    assert.match(b.headers.get("allow") ?? (await b.json()).error.message, /POST/);
  });
});

describe("limits and keys", () => {
  test("a body over --max-body is a 413; a wrong API key a 401", async () => {
    const s = await startServer({ args: ["--max-body", "2K", "--api-key", "sekret"] });
    try {
      const ok = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "sekret", maxRetries: 0 });
      const bad = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: "wrong", maxRetries: 0 });
      await assert.rejects(bad.models.list(), (e) => e.status === 401);
      const big = await post(`${s.url}/v1/chat/completions`, { model: MODELS.qwen, messages: [{ role: "user", content: "x".repeat(4096) }] },
        { Authorization: "Bearer sekret" });
      assert.equal(big.status, 413);
      assert.ok(big.json.error.message.includes("2048"));
      const r = await ok.chat.completions.create({ model: MODELS.qwen, messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
      assert.equal(r.usage.completion_tokens, 2);
      const health = await fetch(`${s.url}/health`);
      assert.equal(health.status, 200, "health needs no key");
    } finally {
      await s.stop();
    }
  });
});
