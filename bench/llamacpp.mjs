// The llama.cpp side of `make bench`: the same measurements as
// `rkserve bench`, through node-llama-cpp's prebuilt CPU library, on the same
// GGUF file and the same token ids. Prints one JSON object (or text).
//
// usage: node bench/llamacpp.mjs MODEL.gguf [-p|--prompt-tokens 512] [-n|--gen-tokens 128]
//        [--tg-prompt 16] [-t|--threads N] [-c|--ctx N] [-r|--reps R] [--no-pp] [--json]
//
// pp: a fresh sequence evaluates the prompt; the time runs until the first
// generated token is out (prefill plus one sampling), like rkserve's.
// tg: a short prompt, then greedy tokens with end-of-generation ignored; the
// rate counts the steps between the first and the last token. --no-pp runs
// tg only (run.sh uses it for a second, one-thread decode figure).
import fs from "node:fs";
import os from "node:os";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

// The benchmark runs offline: never fetch or compile llama.cpp.
process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";

function usage(code) {
  (code ? process.stderr : process.stdout).write(
    "usage: node bench/llamacpp.mjs MODEL.gguf [--prompt-tokens N] [--gen-tokens M] [--tg-prompt K]\n" +
      "       [--threads T] [--ctx C] [--reps R] [--no-pp] [--json]\n");
  process.exit(code);
}

function parseArgs(argv) {
  const o = {model: null, promptTokens: 512, genTokens: 128, tgPrompt: 16, threads: os.availableParallelism(),
             ctx: 0, reps: 3, json: false, pp: true};
  const ints = {"--prompt-tokens": "promptTokens", "-p": "promptTokens", "--gen-tokens": "genTokens",
                "-n": "genTokens", "--tg-prompt": "tgPrompt", "--threads": "threads", "-t": "threads",
                "--ctx": "ctx", "-c": "ctx", "--reps": "reps", "-r": "reps"};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") o.json = true;
    else if (a === "--no-pp") o.pp = false;
    else if (a === "-h" || a === "--help") usage(0);
    else if (a in ints) {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) {
        process.stderr.write(`llamacpp.mjs: invalid value for ${a}\n`);
        process.exit(2);
      }
      o[ints[a]] = v;
    } else if (!a.startsWith("-") && !o.model) o.model = a;
    else usage(2);
  }
  if (!o.model || o.promptTokens < 1 || o.genTokens < 2 || o.tgPrompt < 1 || o.threads < 1 || o.reps < 1) usage(2);
  o.tgPrompt = Math.min(o.tgPrompt, o.promptTokens);
  return o;
}

// The prompt ids, derived exactly as src/cli/bench.c does: splitmix64 from a
// fixed seed, mapped into [1000, n_vocab) (the whole vocabulary if smaller).
const MASK = (1n << 64n) - 1n;
export function benchTokens(n, nVocab) {
  let state = 0x5eedb0bn;
  const lo = nVocab > 2000 ? 1000 : 0;
  const span = BigInt(nVocab - lo);
  const out = [];
  for (let i = 0; i < n; i++) {
    state = (state + 0x9e3779b97f4a7c15n) & MASK;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
    z ^= z >> 31n;
    out.push(lo + Number(z % span));
  }
  return out;
}

// FNV-1a over the ids as little-endian int32, so the two sides can prove
// they fed the model the same prompt.
export function idsHash(ids) {
  let h = 0xcbf29ce484222325n;
  for (const id of ids) {
    let v = id >>> 0;
    for (let b = 0; b < 4; b++) {
      h ^= BigInt(v & 0xff);
      h = (h * 0x100000001b3n) & MASK;
      v >>>= 8;
    }
  }
  return h.toString(16).padStart(16, "0");
}

function packageVersion() {
  const url = new URL("../package.json", import.meta.resolve("node-llama-cpp"));
  return JSON.parse(fs.readFileSync(url, "utf8")).version;
}

const best = (xs) => Math.max(...xs);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function firstToken(seq, ids) {
  const t0 = performance.now();
  for await (const tok of seq.evaluate(ids, {temperature: 0, yieldEogToken: true})) {
    void tok;
    break;
  }
  return performance.now() - t0;
}

// Returns the times (ms since the call) at which each of m tokens came out.
async function generate(seq, ids, m) {
  const t0 = performance.now();
  const times = [];
  const tokens = [];
  for await (const tok of seq.evaluate(ids, {temperature: 0, yieldEogToken: true})) {
    times.push(performance.now() - t0);
    tokens.push(tok);
    if (times.length >= m) break;
  }
  return {times, tokens};
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const ctxSize = o.ctx || Math.max(o.promptTokens, o.tgPrompt + o.genTokens) + 16;

  const llama = await getLlama({gpu: false, build: "never", usePrebuiltBinaries: true, logLevel: LlamaLogLevel.error,
                                maxThreads: o.threads});
  const t0 = performance.now();
  const model = await llama.loadModel({modelPath: o.model, gpuLayers: 0});
  const context = await model.createContext({contextSize: ctxSize, batchSize: 512, threads: {ideal: o.threads, min: o.threads},
                                             sequences: 1});
  const loadMs = performance.now() - t0;
  const seq = context.getSequence();
  const embd = (model.fileInfo.fullTensorInfo ?? model.fileInfo.tensorInfo ?? []).find((t) => t.name === "token_embd.weight");
  if (!embd) throw new Error(`${o.model}: no token_embd.weight`);
  const nVocab = Number(embd.dimensions[1]);
  const prompt = benchTokens(o.promptTokens, nVocab);
  const tgPrompt = prompt.slice(0, o.tgPrompt);

  // Warm-up: fault the mapped weights in and let the thread pool start.
  await generate(seq, tgPrompt, 4);
  await seq.clearHistory();

  const pp = [];
  const tg = [];
  let genTokens = null;
  for (let r = 0; r < o.reps; r++) {
    if (o.pp) {
      await seq.clearHistory();
      const ms = await firstToken(seq, prompt);
      pp.push(o.promptTokens / (ms / 1000));
    }
    await seq.clearHistory();
    const g = await generate(seq, tgPrompt, o.genTokens);
    if (g.times.length < o.genTokens) throw new Error(`generation stopped after ${g.times.length} tokens`);
    const span = g.times[g.times.length - 1] - g.times[0];
    tg.push((g.times.length - 1) / (span / 1000));
    genTokens = g.tokens;
  }
  await seq.clearHistory();

  const res = {
    engine: "llama.cpp",
    impl: `node-llama-cpp ${packageVersion()}, llama.cpp ${llama.llamaCppRelease.release}`,
    gpu: llama.gpu,
    build: llama.buildType,
    system_info: llama.systemInfo,
    model: o.model,
    n_vocab: nVocab,
    threads: context.currentThreads ?? o.threads,
    n_ctx: context.contextSize,
    batch: context.batchSize,
    flash_attention: context.flashAttention,
    load_ms: loadMs,
    prompt_tokens: o.promptTokens,
    tg_prompt_tokens: o.tgPrompt,
    gen_tokens: o.genTokens,
    reps: o.reps,
    ids_hash: idsHash(prompt),
    pp_tps: pp,
    pp_tps_best: o.pp ? best(pp) : null,
    pp_tps_median: o.pp ? median(pp) : null,
    tg_tps: tg,
    tg_tps_best: best(tg),
    tg_tps_median: median(tg),
    tg_first_tokens: genTokens.slice(0, 8),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  };
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  if (o.json) {
    process.stdout.write(JSON.stringify(res) + "\n");
  } else {
    const f = (x) => x.toFixed(1);
    process.stdout.write(
      `llama.cpp (${res.impl}, ${res.threads} threads) ${o.model}\n` +
        `  load ${f(loadMs)} ms, peak RSS ${f(res.peak_rss_mb)} MB (includes node)\n` +
        (o.pp ? `  pp${o.promptTokens}: best ${f(res.pp_tps_best)} tok/s, median ${f(res.pp_tps_median)}\n` : "") +
        `  tg${o.genTokens}: best ${f(res.tg_tps_best)} tok/s, median ${f(res.tg_tps_median)}\n`);
  }
}

await main();
