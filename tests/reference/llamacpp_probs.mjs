// Runs GGUF models through llama.cpp (the prebuilt library node-llama-cpp
// ships) and prints next-token probabilities at every prompt position, so the
// PyTorch reference and the synthetic model files can be checked against the
// implementation that defines the GGUF conventions.
//
// stdin: JSON [{"model": PATH, "n_vocab": V, "tokens": [ids]}, ...]
// stdout: JSON [{"probs": [[p(token 0), ..., p(token V-1)] per position]}, ...]
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const jobs = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
// plain softmax of the logits: no truncation, temperature 1
const sampling = {temperature: 1, topK: 0, topP: 1, minP: 0};
const results = [];
for (const job of jobs) {
  const model = await llama.loadModel({modelPath: job.model, gpuLayers: 0});
  const n = job.tokens.length;
  // F32 KV cache and no flash attention: keep llama.cpp's own rounding small
  const ctx = await model.createContext({
    contextSize: Math.max(64, n + 8), batchSize: Math.max(64, n), threads: 2,
    flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
  });
  const seq = ctx.getSequence();
  const input = job.tokens.map((t) => [t, {generateNext: {probabilities: true, options: sampling}}]);
  const out = await seq.controlledEvaluate(input);
  const probs = out.map((r) => {
    const row = new Array(job.n_vocab).fill(0);
    for (const [tok, p] of r.next.probabilities) row[tok] = p;
    return row;
  });
  results.push({probs});
  await ctx.dispose();
  await model.dispose();
}
// exit only once the pipe has taken everything (large writes are asynchronous)
process.stdout.write(JSON.stringify(results), () => process.exit(0));
