// Structured output, tool calls and reasoning through both SDKs. The
// synthetic models have random weights, so JSON-constrained sampling is
// what makes them write a valid document or a tool call: if the constraint
// or the output parser were broken, these answers would be noise.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Ollama } from "ollama";
import OpenAI from "openai";

import { FILES, MODELS, modelDir, startServer } from "./server.mjs";

// A ChatML template that shows tools and earlier calls but has no
// <tool_call> tags, so the output parser uses the generic format: a whole
// message that is a JSON call to a listed tool.
const TOOL_TEMPLATE = `{%- for m in messages %}<|im_start|>{{ m.role }}
{% if m.tool_calls %}{% for c in m.tool_calls %}{{ c.function | tojson }}{% endfor %}{% else %}{{ m.content }}{% endif %}<|im_end|>
{% endfor %}
{%- if tools %}<|im_start|>tools
{% for t in tools %}{{ t.function.name }}: {{ t.function.description }}
{% endfor %}<|im_end|>
{% endif %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}`;

// Qwen's form: tools listed in the system turn, calls written back inside
// <tool_call> tags, so the output parser uses the HERMES format.
const HERMES_TEMPLATE = `{%- if tools %}<|im_start|>system
Tools: {% for t in tools %}{{ t.function.name }} {% endfor %}<|im_end|>
{% endif %}
{%- for m in messages %}<|im_start|>{{ m.role }}
{% if m.tool_calls %}{% for c in m.tool_calls %}<tool_call>
{{ c.function | tojson }}
</tool_call>{% endfor %}{% else %}{{ m.content }}{% endif %}<|im_end|>
{% endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}`;

// A template whose generation prompt opens a <think> block, as Qwen3's
// does for reasoning; the model's text then is reasoning until </think>.
const THINK_TEMPLATE = `{%- for m in messages %}<|im_start|>{{ m.role }}
{{ m.content }}<|im_end|>
{% endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
<think>
{% endif %}`;

let srv, openai, ollama;

before(async () => {
  const dir = modelDir();
  // copies of the qwen model (registry copy files) with their own templates
  for (const [name, tmpl] of [["tooly", TOOL_TEMPLATE], ["hermes", HERMES_TEMPLATE], ["thinker", THINK_TEMPLATE]]) {
    fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify({ name: `${name}:test`, from: `${FILES.qwen}.gguf`, chat_template: tmpl }));
  }
  srv = await startServer({ dir });
  openai = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: "x", maxRetries: 0 });
  ollama = new Ollama({ host: srv.url });
});

after(async () => {
  await srv.stop();
  fs.rmSync(srv.dir, { recursive: true, force: true });
});

const PERSON = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 10 },
    age: { type: "integer", minimum: 0 },
    tags: { type: "array", items: { enum: ["a", "b", "c"] }, maxItems: 3 },
  },
  required: ["name", "age", "tags"],
};

function checkPerson(p) {
  assert.deepEqual(Object.keys(p), ["name", "age", "tags"]);
  assert.equal(typeof p.name, "string");
  assert.ok([...p.name].length <= 10);
  assert.ok(Number.isInteger(p.age) && p.age >= 0);
  assert.ok(Array.isArray(p.tags) && p.tags.length <= 3 && p.tags.every((t) => ["a", "b", "c"].includes(t)));
}

const WEATHER_TOOL = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

// Steers the random model into a call of get_weather.
const CALL_SCHEMA = {
  type: "object",
  properties: {
    name: { const: "get_weather" },
    arguments: { type: "object", properties: { city: { type: "string", maxLength: 12 } }, required: ["city"] },
  },
  required: ["name", "arguments"],
};

describe("JSON output", () => {
  test("OpenAI json_schema: every seed gives a matching document", async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = await openai.chat.completions.create({
        model: MODELS.qwen,
        messages: [{ role: "user", content: "Describe a person." }],
        response_format: { type: "json_schema", json_schema: { name: "person", schema: PERSON } },
        seed,
        temperature: 1,
        max_tokens: 300,
      });
      assert.equal(r.choices[0].finish_reason, "stop", r.choices[0].message.content);
      checkPerson(JSON.parse(r.choices[0].message.content));
    }
  });

  test("streamed JSON equals the whole answer", async () => {
    const req = {
      model: MODELS.llama,
      messages: [{ role: "user", content: "A person, please." }],
      response_format: { type: "json_schema", json_schema: { name: "person", schema: PERSON } },
      seed: 9,
      max_tokens: 300,
    };
    const whole = (await openai.chat.completions.create(req)).choices[0].message.content;
    let text = "";
    for await (const ch of await openai.chat.completions.create({ ...req, stream: true })) text += ch.choices[0]?.delta?.content ?? "";
    assert.equal(text, whole);
    checkPerson(JSON.parse(text));
  });

  test("json_object gives an object; Ollama format json and schema too", async () => {
    const r = await openai.chat.completions.create({
      model: MODELS.qwen, messages: [{ role: "user", content: "JSON!" }], response_format: { type: "json_object" }, seed: 4, max_tokens: 60,
    });
    assert.ok(r.choices[0].message.content.trimStart().startsWith("{"), r.choices[0].message.content);
    if (r.choices[0].finish_reason === "stop") assert.equal(typeof JSON.parse(r.choices[0].message.content), "object");
    const g = await ollama.generate({ model: MODELS.qwen, prompt: "a person", format: PERSON, stream: false, options: { seed: 3, num_predict: 300 } });
    assert.equal(g.done_reason, "stop");
    checkPerson(JSON.parse(g.response));
    const c = await ollama.chat({ model: MODELS.llama, messages: [{ role: "user", content: "a person" }], format: PERSON, stream: false, options: { seed: 8, num_predict: 300 } });
    checkPerson(JSON.parse(c.message.content));
  });

  test("schemas the constraint cannot enforce are refused", async () => {
    await assert.rejects(openai.chat.completions.create({
      model: MODELS.qwen, messages: [{ role: "user", content: "x" }],
      response_format: { type: "json_schema", json_schema: { name: "p", schema: { type: "string", pattern: "^a+$" } } },
    }), (e) => e.status === 400 && /pattern/.test(e.message));
    await assert.rejects(ollama.generate({ model: MODELS.qwen, prompt: "x", format: { type: "number", maximum: 3 } }), (e) => e.status_code === 400);
  });
});

describe("tool calls", () => {
  const ask = [{ role: "user", content: "What is the weather in Paris?" }];

  test("OpenAI: a call, then the tool result fed back", async () => {
    const first = await openai.chat.completions.create({
      model: "tooly:test", messages: ask, tools: [WEATHER_TOOL], seed: 2, max_tokens: 400,
      response_format: { type: "json_schema", json_schema: { name: "call", schema: CALL_SCHEMA } },
    });
    const choice = first.choices[0];
    assert.equal(choice.finish_reason, "tool_calls");
    assert.equal(choice.message.content, null);
    assert.equal(choice.message.tool_calls.length, 1);
    const call = choice.message.tool_calls[0];
    assert.equal(call.type, "function");
    assert.equal(call.function.name, "get_weather");
    assert.match(call.id, /^call_/);
    const args = JSON.parse(call.function.arguments);
    assert.equal(typeof args.city, "string");

    const second = await openai.chat.completions.create({
      model: "tooly:test", tools: [WEATHER_TOOL], seed: 2, max_tokens: 6,
      messages: [...ask, choice.message, { role: "tool", tool_call_id: call.id, content: "sunny, 24 C" }],
    });
    assert.equal(second.choices[0].finish_reason, "length");
    assert.equal(typeof second.choices[0].message.content, "string");
    // the call (re-rendered compactly by the template) and its result are in the prompt
    assert.ok(second.usage.prompt_tokens > first.usage.prompt_tokens + 20,
      `${second.usage.prompt_tokens} vs ${first.usage.prompt_tokens}`);
  });

  test("OpenAI streaming: tool call deltas assemble to the same call", async () => {
    const req = {
      model: "tooly:test", messages: ask, tools: [WEATHER_TOOL], seed: 6, max_tokens: 400,
      response_format: { type: "json_schema", json_schema: { name: "call", schema: CALL_SCHEMA } },
    };
    const whole = (await openai.chat.completions.create(req)).choices[0];
    const calls = [];
    let finish = null;
    for await (const ch of await openai.chat.completions.create({ ...req, stream: true })) {
      const c = ch.choices[0];
      if (!c) continue;
      if (c.finish_reason) finish = c.finish_reason;
      for (const tc of c.delta.tool_calls ?? []) {
        calls[tc.index] ??= { id: "", name: "", arguments: "" };
        if (tc.id) calls[tc.index].id = tc.id;
        if (tc.function?.name) calls[tc.index].name += tc.function.name;
        if (tc.function?.arguments) calls[tc.index].arguments += tc.function.arguments;
      }
    }
    assert.equal(finish, "tool_calls");
    assert.equal(calls.length, 1);
    assert.equal(calls[0].name, "get_weather");
    assert.deepEqual(JSON.parse(calls[0].arguments), JSON.parse(whole.message.tool_calls[0].function.arguments));
  });

  test("Ollama: tool_calls with arguments as an object, and the round trip", async () => {
    const r = await ollama.chat({
      model: "tooly:test", messages: ask, tools: [WEATHER_TOOL], format: CALL_SCHEMA, stream: false, options: { seed: 2, num_predict: 400 },
    });
    assert.equal(r.message.tool_calls.length, 1);
    const fn = r.message.tool_calls[0].function;
    assert.equal(fn.name, "get_weather");
    assert.equal(typeof fn.arguments.city, "string");
    assert.equal(r.message.content, "");
    const back = await ollama.chat({
      model: "tooly:test", tools: [WEATHER_TOOL], stream: false, options: { seed: 2, num_predict: 5 },
      messages: [...ask, r.message, { role: "tool", content: "sunny", tool_name: "get_weather" }],
    });
    assert.equal(back.eval_count, 5);
    let streamed = null;
    for await (const part of await ollama.chat({
      model: "tooly:test", messages: ask, tools: [WEATHER_TOOL], format: CALL_SCHEMA, stream: true, options: { seed: 2, num_predict: 400 },
    })) {
      if (part.message.tool_calls) streamed = part.message.tool_calls;
    }
    assert.deepEqual(streamed.map((c) => c.function), r.message.tool_calls.map((c) => c.function));
  });

  // tool_choice forces a call by constraining the answer to one; tight
  // parameter schemas keep the random model's arguments short
  const CITY_TOOL = { type: "function", function: { name: "get_weather", description: "Weather", parameters: { type: "object", properties: { city: { type: "string", maxLength: 8 } }, required: ["city"], additionalProperties: false } } };
  const TIME_TOOL = { type: "function", function: { name: "get_time", description: "Time", parameters: { type: "object", properties: { tz: { enum: ["utc", "cet"] } }, required: ["tz"], additionalProperties: false } } };

  for (const model of ["tooly:test", "hermes:test"]) {
    test(`tool_choice required and named force a call (${model})`, async () => {
      for (const seed of [1, 2, 3]) {
        const r = await openai.chat.completions.create({ model, messages: ask, tools: [CITY_TOOL, TIME_TOOL], tool_choice: "required", seed, max_tokens: 200 });
        const c = r.choices[0];
        assert.equal(c.finish_reason, "tool_calls", JSON.stringify(c.message));
        const call = c.message.tool_calls[0].function;
        assert.ok(["get_weather", "get_time"].includes(call.name));
        const args = JSON.parse(call.arguments);
        if (call.name === "get_time") assert.ok(["utc", "cet"].includes(args.tz));
        else assert.equal(typeof args.city, "string");
      }
      const named = await openai.chat.completions.create({ model, messages: ask, tools: [CITY_TOOL, TIME_TOOL], tool_choice: { type: "function", function: { name: "get_time" } }, seed: 4, max_tokens: 200 });
      const call = named.choices[0].message.tool_calls[0].function;
      assert.equal(call.name, "get_time");
      assert.ok(["utc", "cet"].includes(JSON.parse(call.arguments).tz));
      // streamed, the deltas assemble to the same call
      let name = "", args = "", finish = null;
      for await (const ch of await openai.chat.completions.create({ model, messages: ask, tools: [CITY_TOOL, TIME_TOOL], tool_choice: { type: "function", function: { name: "get_time" } }, seed: 4, max_tokens: 200, stream: true })) {
        const d = ch.choices[0];
        if (!d) continue;
        if (d.finish_reason) finish = d.finish_reason;
        for (const tc of d.delta.tool_calls ?? []) {
          name += tc.function?.name ?? "";
          args += tc.function?.arguments ?? "";
        }
      }
      assert.equal(finish, "tool_calls");
      assert.equal(name, "get_time");
      assert.deepEqual(JSON.parse(args), JSON.parse(call.arguments));
    });
  }

  test("tool_choice errors are clear", async () => {
    await assert.rejects(openai.chat.completions.create({ model: "tooly:test", messages: ask, tools: [CITY_TOOL], tool_choice: { type: "function", function: { name: "nope" } } }),
      (e) => e.status === 400 && e.param === "tool_choice" && /nope/.test(e.message));
    await assert.rejects(openai.chat.completions.create({ model: "tooly:test", messages: ask, tool_choice: "required" }),
      (e) => e.status === 400 && /no tools/.test(e.message));
    await assert.rejects(openai.chat.completions.create({ model: "tooly:test", messages: ask, tools: [CITY_TOOL], tool_choice: "sometimes" }),
      (e) => e.status === 400 && e.param === "tool_choice");
  });

  test("without tools in the request, call-shaped JSON stays content", async () => {
    const r = await openai.chat.completions.create({
      model: "tooly:test", messages: ask, seed: 2, max_tokens: 400,
      response_format: { type: "json_schema", json_schema: { name: "call", schema: CALL_SCHEMA } },
    });
    assert.equal(r.choices[0].finish_reason, "stop");
    assert.equal(r.choices[0].message.tool_calls, undefined);
    assert.equal(JSON.parse(r.choices[0].message.content).name, "get_weather");
  });
});

describe("reasoning", () => {
  test("text inside an open <think> is reasoning; think off keeps it content", async () => {
    const req = { model: "thinker:test", messages: [{ role: "user", content: "Think." }], seed: 5, max_tokens: 12 };
    const r = await openai.chat.completions.create(req);
    const msg = r.choices[0].message;
    assert.ok(msg.reasoning_content && msg.reasoning_content.length > 0);
    assert.equal(msg.content, "");
    let reasoning = "";
    for await (const ch of await openai.chat.completions.create({ ...req, stream: true })) reasoning += ch.choices[0]?.delta?.reasoning_content ?? "";
    assert.equal(reasoning, msg.reasoning_content);
    // the same sampling as OpenAI's defaults, so the same text
    const same = { seed: 5, num_predict: 12, temperature: 1, top_k: 0, top_p: 1, repeat_penalty: 1 };
    const o = await ollama.chat({ model: "thinker:test", messages: req.messages, stream: false, options: same });
    assert.equal(o.message.thinking, msg.reasoning_content);
    const off = await ollama.chat({ model: "thinker:test", messages: req.messages, think: false, stream: false, options: same });
    assert.equal(off.message.thinking, undefined);
    // the same text, only not split off (reasoning is trimmed of newlines)
    assert.equal(off.message.content.replace(/^\n+|\n+$/g, ""), o.message.thinking);
  });
});
