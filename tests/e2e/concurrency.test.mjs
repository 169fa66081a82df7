// Many clients at once: 32 concurrent streams on one model, each compared
// with the same request run alone at the same seed. Interleaved or mixed-up
// sessions, lost tokens or a stream delivered to the wrong client would
// show as a difference.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Ollama } from "ollama";
import OpenAI from "openai";

import { MODELS, startServer } from "./server.mjs";

let srv, openai, ollama;

before(async () => {
  srv = await startServer({ args: ["--parallel", "4"] });
  openai = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "x", maxRetries: 0, timeout: 60000 });
  ollama = new Ollama({ host: srv.url });
});

after(async () => {
  await srv.stop();
});

const WORDS = ["river", "stone", "lantern", "harbour", "violet", "engine", "meadow", "signal"];

function request(i) {
  return {
    model: i % 2 ? MODELS.qwen : MODELS.llama,
    messages: [
      { role: "system", content: `You are assistant number ${i}.` },
      { role: "user", content: `Tell me about the ${WORDS[i % WORDS.length]} (${i}).` },
    ],
    max_tokens: 24 + (i % 5),
    temperature: 0.9,
    seed: 1000 + i,
  };
}

test("32 concurrent OpenAI streams equal their solo runs", async () => {
  const N = 32;
  const solo = [];
  for (let i = 0; i < N; i++) solo.push((await openai.chat.completions.create(request(i))).choices[0].message.content);
  assert.ok(new Set(solo).size > N / 2, "requests differ from one another");

  const streamed = await Promise.all(
    Array.from({ length: N }, async (_, i) => {
      let text = "";
      let id = null;
      for await (const ch of await openai.chat.completions.create({ ...request(i), stream: true })) {
        if (id === null) id = ch.id;
        assert.equal(ch.id, id, "one id per stream");
        text += ch.choices[0]?.delta?.content ?? "";
      }
      return text;
    }),
  );
  for (let i = 0; i < N; i++) assert.equal(streamed[i], solo[i], `client ${i}`);
});

test("16 concurrent Ollama chats equal their solo runs", async () => {
  const N = 16;
  const req = (i) => ({
    model: MODELS.qwen,
    messages: request(i).messages,
    stream: false,
    options: { seed: 77 + i, num_predict: 16, temperature: 0.7 },
  });
  const solo = [];
  for (let i = 0; i < N; i++) solo.push((await ollama.chat(req(i))).message.content);
  const both = await Promise.all(Array.from({ length: N }, (_, i) => ollama.chat(req(i))));
  for (let i = 0; i < N; i++) assert.equal(both[i].message.content, solo[i], `client ${i}`);
});

test("the server is idle again afterwards", async () => {
  const health = await (await fetch(`${srv.url}/health`)).json();
  assert.equal(health.queued, 0);
  assert.equal(health.running, 0);
  const page = await (await fetch(`${srv.url}/metrics`)).text();
  const gen = Number(page.match(/^rkserve_generations_total (\d+)/m)[1]);
  assert.ok(gen >= 96, `${gen} generations`);
  assert.match(page, /rkserve_http_requests_total\{endpoint="\/v1\/chat\/completions",method="POST",status="200"\} \d+/);
});
