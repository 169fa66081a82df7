// Server overhead, for `make bench` (not a test: prints figures, never
// fails on them). On the tiny synthetic llama model the engine's own time is
// small, so what the server adds shows: start-up time, idle RSS, time to
// first token beyond the engine's prefill, time per streamed token beyond
// the engine's decode, and requests/s with p50/p99 latency at 1, 8 and 32
// concurrent clients.
//
//   RKSERVE_BIN=build/rkserve RKSERVE_TEST_MODELS=build/test-models node tests/e2e/bench_overhead.mjs
import fs from "node:fs";
import http from "node:http";

import { MODELS, startServer } from "./server.mjs";

const t0 = performance.now();
const srv = await startServer({ args: ["--ctx", "4096", "--parallel", "8"] });
const listenMs = performance.now() - t0;
const rssMB = () => Number(fs.readFileSync(`/proc/${srv.proc.pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1]) / 1024;
await new Promise((r) => setTimeout(r, 200));
const idle = rssMB();

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function completion(body, onData) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify({ model: MODELS.llama, temperature: 0, ...body });
    const req = http.request(
      { host: "127.0.0.1", port: srv.port, method: "POST", path: "/v1/completions", agent,
        headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) } },
      (res) => {
        let text = "";
        res.on("data", (d) => {
          text += d;
          onData?.(d);
        });
        res.on("end", () => resolve(text));
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}
const usageOf = (sse) => JSON.parse(sse.split("\n\n").find((e) => e.includes('"usage"')).slice(6));
const sorted = (a) => a.slice().sort((x, y) => x - y);
const pct = (a, p) => sorted(a)[Math.min(a.length - 1, Math.floor(a.length * p))];

await completion({ prompt: "hello", max_tokens: 1 });
const loaded = rssMB();

// time to first token: the prompt is kept from the previous request, so the
// engine's prefill is one token and the rest is the server
const ttft = [], prefill = [];
for (let i = 0; i < 200; i++) {
  const s = performance.now();
  let first = 0;
  const out = await completion({ prompt: "hello", max_tokens: 1, stream: true, stream_options: { include_usage: true } }, (d) => {
    if (!first && d.toString().includes('"text":"')) first = performance.now();
  });
  ttft.push(first - s);
  prefill.push(usageOf(out).timings.prompt_ms);
}

// per streamed token: a streamed answer timed at the client against the
// engine time of the same answer not streamed (the engine's own timings of a
// streamed answer include the time its token callbacks spend streaming);
// best of three each, as the machine may be shared
const n = 2000;
const long = { prompt: "x", max_tokens: n, ignore_eos: true };
let clientMs = Infinity, engineMs = Infinity;
for (let i = 0; i < 3; i++) {
  const whole = JSON.parse(await completion(long)).timings;
  engineMs = Math.min(engineMs, whole.prompt_ms + whole.predicted_ms);
  const s = performance.now();
  await completion({ ...long, stream: true });
  clientMs = Math.min(clientMs, performance.now() - s);
}

console.log(`start to listening          ${listenMs.toFixed(1)} ms`);
console.log(`idle RSS                    ${idle.toFixed(1)} MB (tiny model loaded, 8 sessions of 4096: ${loaded.toFixed(1)} MB)`);
console.log(`TTFT beyond engine prefill  ${(pct(ttft, 0.5) - pct(prefill, 0.5)).toFixed(3)} ms median (client ${pct(ttft, 0.5).toFixed(3)} ms, p99 ${pct(ttft, 0.99).toFixed(3)} ms)`);
console.log(`per streamed token          ${(((clientMs - engineMs) * 1000) / n).toFixed(2)} us beyond the engine (${n} tokens: streamed to the client in ${clientMs.toFixed(1)} ms, engine alone ${engineMs.toFixed(1)} ms)`);
for (const c of [1, 8, 32]) {
  const total = 320;
  const lat = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: c }, async () => {
    while (next < total) {
      next++;
      const t = performance.now();
      await completion({ prompt: "hello", max_tokens: 1 });
      lat.push(performance.now() - t);
    }
  }));
  const el = performance.now() - start;
  console.log(`${String(c).padStart(2)} concurrent clients        ${((total / el) * 1000).toFixed(0)} req/s, p50 ${pct(lat, 0.5).toFixed(2)} ms, p99 ${pct(lat, 0.99).toFixed(2)} ms (1-token completions)`);
}
agent.destroy();
await srv.stop();
