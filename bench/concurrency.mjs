// Aggregate decode throughput of one model with 1, 2, 4 and 8 concurrent
// streaming clients (DESIGN: 8 streams >= 3x one stream on the CPU engine).
// usage: RKSERVE_BIN=build/rkserve node bench/concurrency.mjs MODEL.gguf [threads]
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const [model, threads = "2"] = process.argv.slice(2);
const BIN = process.env.RKSERVE_BIN ?? "build/rkserve";
if (!model) throw new Error("usage: node bench/concurrency.mjs MODEL.gguf [threads]");
const TOKENS = Number(process.env.BENCH_TOKENS ?? 128);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rkserve-conc-"));
fs.symlinkSync(path.resolve(model), path.join(dir, "m.gguf"));
fs.writeFileSync(path.join(dir, "m.json"), JSON.stringify({ name: "bench:model" }));
const srv = spawn(BIN, ["serve", "--port", "0", "--models", dir, "--threads", threads, "--parallel", "8"], { stdio: ["ignore", "ignore", "pipe"] });
const url = await new Promise((resolve, reject) => {
  let err = "";
  srv.stderr.on("data", (d) => {
    err += d;
    const m = err.match(/listening on (http:\/\/\S+)/);
    if (m) resolve(m[1]);
  });
  srv.on("exit", () => reject(new Error(err)));
});

async function stream(i) {
  const r = await fetch(`${url}/api/generate`, {
    method: "POST",
    body: JSON.stringify({ model: "bench:model", prompt: `Story number ${i}:`, raw: true, options: { num_predict: TOKENS, seed: i, temperature: 1 } }),
  });
  let last;
  for (const line of (await r.text()).trim().split("\n")) last = JSON.parse(line);
  if (last.error) throw new Error(last.error);
  return last.eval_count;
}

await stream(0); // load
const rows = [];
for (const n of [1, 2, 4, 8]) {
  const t0 = performance.now();
  const counts = await Promise.all(Array.from({ length: n }, (_, i) => stream(i + 1)));
  const s = (performance.now() - t0) / 1000;
  const tokens = counts.reduce((a, b) => a + b, 0);
  rows.push({ streams: n, tokens, seconds: s, tps: tokens / s });
}
srv.kill("SIGTERM");
fs.rmSync(dir, { recursive: true, force: true });
console.log(`model ${path.basename(model)}, ${threads} threads, ${TOKENS} tokens per stream (prompt included in the time)`);
console.log("| streams | tokens | seconds | aggregate tok/s | vs 1 stream |");
console.log("|---|---|---|---|---|");
for (const r of rows) console.log(`| ${r.streams} | ${r.tokens} | ${r.seconds.toFixed(2)} | ${r.tps.toFixed(1)} | ${(r.tps / rows[0].tps).toFixed(2)}x |`);
