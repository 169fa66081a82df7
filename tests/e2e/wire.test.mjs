// Byte-level checks over raw sockets: chunked transfer encoding, SSE and
// NDJSON framing, persistent connections, CORS, and what happens when a
// client goes away or the queue is full.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";

import { MODELS, post, sleep, startServer } from "./server.mjs";

// Sends one request and resolves with the raw response once the server
// closes or `done(buffer)` says the response is complete.
function raw(port, text, done = () => false) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (done(buf)) {
        sock.destroy();
        resolve(buf);
      }
    });
    sock.on("end", () => resolve(buf));
    sock.on("error", reject);
    sock.write(text);
  });
}

function request(method, path, body, extra = "") {
  const b = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  return `${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n${extra}Connection: close\r\n\r\n${b}`;
}

// Splits a raw response into status, headers and the de-chunked body,
// checking the chunk framing on the way.
function parse(buf) {
  const s = buf.toString("latin1");
  const head = s.indexOf("\r\n\r\n");
  assert.ok(head > 0, "no end of headers");
  const lines = s.slice(0, head).split("\r\n");
  const status = Number(lines[0].split(" ")[1]);
  const headers = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  let rest = buf.subarray(Buffer.byteLength(s.slice(0, head + 4), "latin1"));
  let body = Buffer.alloc(0);
  let chunks = 0;
  if (headers["transfer-encoding"] === "chunked") {
    for (;;) {
      const eol = rest.indexOf("\r\n");
      assert.ok(eol > 0, "chunk size line");
      const sizeLine = rest.subarray(0, eol).toString();
      assert.match(sizeLine, /^[0-9a-fA-F]+$/, `chunk size '${sizeLine}'`);
      const size = parseInt(sizeLine, 16);
      const data = rest.subarray(eol + 2, eol + 2 + size);
      assert.equal(data.length, size, "chunk shorter than its size");
      assert.equal(rest.subarray(eol + 2 + size, eol + 4 + size).toString(), "\r\n", "CRLF after chunk");
      rest = rest.subarray(eol + 4 + size);
      if (size === 0) break;
      body = Buffer.concat([body, data]);
      chunks++;
    }
  } else {
    body = rest;
  }
  return { status, headers, body: body.toString("utf8"), chunks };
}

const longRun = { model: MODELS.llama, prompt: "a", max_tokens: 100000, ignore_eos: true, stream: true, temperature: 0 };

describe("framing", () => {
  let srv;
  before(async () => {
    srv = await startServer();
  });
  after(async () => {
    await srv.stop();
  });

  test("OpenAI stream: chunked SSE, every event JSON, ending with [DONE]", async () => {
    const r = parse(await raw(srv.port, request("POST", "/v1/chat/completions", {
      model: MODELS.qwen, messages: [{ role: "user", content: "hi" }], max_tokens: 8, seed: 1, stream: true,
      stream_options: { include_usage: true },
    })));
    assert.equal(r.status, 200);
    assert.equal(r.headers["transfer-encoding"], "chunked");
    assert.match(r.headers["content-type"], /^text\/event-stream/);
    assert.ok(r.chunks >= 1);
    assert.ok(r.body.endsWith("data: [DONE]\n\n"));
    const events = r.body.split("\n\n").filter((e) => e.length);
    for (const e of events) assert.ok(e.startsWith("data: "), e);
    const json = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)));
    assert.equal(json[0].choices[0].delta.role, "assistant");
    const finish = json.filter((j) => j.choices[0]?.finish_reason);
    assert.equal(finish.length, 1);
    assert.equal(finish[0].choices[0].finish_reason, "length");
    assert.equal(json.at(-1).usage.completion_tokens, 8);
    assert.equal(json.at(-1).choices.length, 0);
    assert.equal(new Set(json.map((j) => j.id)).size, 1, "one id per stream");
  });

  test("Ollama stream: chunked NDJSON, final object with every field", async () => {
    const r = parse(await raw(srv.port, request("POST", "/api/generate", { model: MODELS.qwen, prompt: "hi", options: { num_predict: 5, seed: 1 } })));
    assert.equal(r.status, 200);
    assert.equal(r.headers["transfer-encoding"], "chunked");
    assert.equal(r.headers["content-type"], "application/x-ndjson");
    assert.ok(r.body.endsWith("}\n"));
    const lines = r.body.trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.ok(lines.slice(0, -1).every((l) => l.done === false && typeof l.response === "string"));
    const last = lines.at(-1);
    assert.equal(last.done, true);
    assert.equal(last.done_reason, "length");
    assert.equal(last.eval_count, 5);
    for (const k of ["total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration"]) {
      assert.ok(Number.isInteger(last[k]), `${k}: ${last[k]}`);
    }
    assert.ok(!Number.isNaN(Date.parse(last.created_at)));
  });

  test("a non-streamed answer has a Content-Length; a connection serves several requests", async () => {
    const body = JSON.stringify({ model: MODELS.qwen, prompt: "hi", max_tokens: 2 });
    const one = `POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const buf = await raw(srv.port, one + one.replace("HTTP/1.1\r\n", "HTTP/1.1\r\nConnection: close\r\n"));
    const text = buf.toString();
    const answers = text.split("HTTP/1.1 200").length - 1;
    assert.equal(answers, 2, text);
    assert.match(text, /Content-Length: \d+/i);
  });

  test("405 names the allowed methods; CORS is off by default", async () => {
    const r = parse(await raw(srv.port, request("GET", "/api/chat")));
    assert.equal(r.status, 405);
    assert.match(r.headers.allow ?? JSON.parse(r.body).error, /POST/);
    assert.ok(JSON.parse(r.body).error);
    const m = parse(await raw(srv.port, request("GET", "/v1/models", undefined, "Origin: http://evil.example\r\n")));
    assert.equal(m.headers["access-control-allow-origin"], undefined);
  });
});

describe("CORS", () => {
  test("--cors answers preflights and labels responses", async () => {
    const s = await startServer({ args: ["--cors", "http://app.example"] });
    try {
      const pre = parse(await raw(s.port, request("OPTIONS", "/v1/chat/completions", undefined,
        "Origin: http://app.example\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization, content-type\r\n")));
      assert.equal(pre.status, 204);
      assert.equal(pre.headers["access-control-allow-origin"], "http://app.example");
      assert.match(pre.headers["access-control-allow-methods"], /POST/);
      assert.match(pre.headers["access-control-allow-headers"], /authorization/);
      const r = parse(await raw(s.port, request("GET", "/api/tags")));
      assert.equal(r.headers["access-control-allow-origin"], "http://app.example");
    } finally {
      await s.stop();
    }
  });
});

describe("cancellation and back-pressure", () => {
  let srv;
  before(async () => {
    // one session, a context long enough that longRun would take minutes
    srv = await startServer({ args: ["--parallel", "1", "--max-queue", "1", "--ctx", "32768"] });
  });
  after(async () => {
    assert.equal(await srv.stop(), 0);
  });

  async function metric(name) {
    const page = await (await fetch(`${srv.url}/metrics`)).text();
    const m = page.match(new RegExp(`^${name} (\\d+)`, "m"));
    return m ? Number(m[1]) : NaN;
  }

  // Starts a long stream and resolves with its socket once text flows.
  function startLong(path = "/v1/completions", body = longRun) {
    return new Promise((resolve, reject) => {
      const sock = net.connect(srv.port, "127.0.0.1");
      let seen = "";
      sock.on("data", (d) => {
        seen += d.toString();
        if (seen.includes("data: {") || seen.includes("\"response\"")) {
          sock.removeAllListeners("data");
          resolve(sock);
        }
      });
      sock.on("error", reject);
      sock.write(request("POST", path, body));
    });
  }

  test("a client that disconnects mid-stream frees the only session at once", async () => {
    const before = await metric("rkserve_cancelled_total");
    const sock = await startLong();
    sock.destroy();
    const t0 = Date.now();
    const r = await post(`${srv.url}/v1/completions`, { model: MODELS.llama, prompt: "b", max_tokens: 4 });
    const ms = Date.now() - t0;
    assert.equal(r.status, 200);
    assert.equal(r.json.usage.completion_tokens, 4);
    assert.ok(ms < 3000, `the next request waited ${ms} ms`);
    assert.equal(await metric("rkserve_cancelled_total"), before + 1);
  });

  test("Ollama streams are cancelled the same way", async () => {
    const before = await metric("rkserve_cancelled_total");
    const sock = await startLong("/api/generate", { model: MODELS.llama, prompt: "a", raw: true, options: { num_predict: 100000, temperature: 0 } });
    sock.destroy();
    const t0 = Date.now();
    const r = await post(`${srv.url}/api/generate`, { model: MODELS.llama, prompt: "b", stream: false, options: { num_predict: 3 } });
    assert.equal(r.status, 200);
    assert.ok(Date.now() - t0 < 3000);
    assert.equal(await metric("rkserve_cancelled_total"), before + 1);
  });

  test("a full queue answers 503 with Retry-After; leaving the queue frees it", async () => {
    const running = await startLong();
    // the second waits in the queue (its answer does not start)
    const queued = net.connect(srv.port, "127.0.0.1");
    queued.write(request("POST", "/v1/completions", longRun));
    let depth = 0;
    for (let i = 0; i < 100 && depth < 1; i++) {
      depth = await metric("rkserve_queue_depth");
      if (depth < 1) await sleep(10);
    }
    assert.equal(depth, 1);
    const full = await post(`${srv.url}/v1/completions`, { model: MODELS.llama, prompt: "c", max_tokens: 2 });
    assert.equal(full.status, 503);
    assert.ok(Number(full.headers.get("retry-after")) >= 1);
    assert.equal(full.json.error.type, "server_overloaded");
    const ol = await post(`${srv.url}/api/generate`, { model: MODELS.llama, prompt: "c", stream: false });
    assert.equal(ol.status, 503);
    assert.equal(typeof ol.json.error, "string");
    queued.destroy();
    for (let i = 0; i < 100 && depth > 0; i++) {
      depth = await metric("rkserve_queue_depth");
      if (depth > 0) await sleep(10);
    }
    assert.equal(depth, 0, "the queued request left when its client did");
    running.destroy();
    const ok = await post(`${srv.url}/v1/completions`, { model: MODELS.llama, prompt: "d", max_tokens: 2 });
    assert.equal(ok.status, 200);
  });
});
