// The committed fortune GGUF under llama.cpp itself (node-llama-cpp's
// prebuilt binding): every memorised passage in passages.json must come back
// greedily. This pins the file format — metadata names, tensor layout, RoPE
// pair order, the gpt-2 vocabulary — against the reference implementation,
// independently of our engine.
//   node llama_cpp_check.mjs [--model F.gguf] [--passages passages.json]
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { getLlama, LlamaCompletion } from "node-llama-cpp";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const spec = JSON.parse(fs.readFileSync(opt("--passages", path.join(here, "passages.json")), "utf8"));
const modelPath = opt("--model", path.join(root, spec.model));

const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath });
let hits = 0;
for (const [i, p] of spec.passages.entries()) {
  const context = await model.createContext({ contextSize: 256, threads: 1 });
  const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
  const out = await completion.generateCompletion(p.prompt, {
    maxTokens: spec.n_predict, temperature: 0, repeatPenalty: false,
  });
  await context.dispose();
  const ok = out.startsWith(p.expected);
  hits += ok;
  console.log(`[${ok ? "ok" : "MISS"}] ${i} ${p.source}: ${JSON.stringify(p.prompt)}`);
  if (!ok) console.log(`    expected ${JSON.stringify(p.expected)}\n    got      ${JSON.stringify(out)}`);
}
await model.dispose();
console.log(`${hits}/${spec.passages.length} passages reproduced by llama.cpp (need all)`);
process.exit(hits === spec.passages.length ? 0 : 1);
