// Reference token ids from @lenml/tokenizers (a JS port of Hugging Face's
// tokenizers, as in transformers.js), one package per model.
//
// Settings, matched on our side by tokenize_tool:
//  - special-token text in the input is always parsed: the JS tokenizer
//    splits every added token (special or not) out of the text before
//    normalising, so our side runs with parse_special = true;
//  - add_special_tokens true/false is compared with add_bos true/false
//    (the GGUF's add_bos_token / add_eos_token decide what that adds).
//
// Usage as a script: node reference.mjs MODEL CORPUS.json [--add-special]
// prints one JSON array of ids per corpus string.
import { readFileSync } from "node:fs";

export const MODELS = {
  // nfc: the tokenizer.json normaliser is NFC, which llama.cpp (and this
  //      project) do not apply; compare.mjs feeds our side NFC text.
  // spacePrefix: SentencePiece-style models that prepend U+2581 to each text
  //      section (llama2's Prepend normaliser; gemma3 has none).
  // bosDefault: llama.cpp's add_bos default for the model's pre-tokenizer
  //      when the GGUF has no tokenizer.ggml.add_bos_token (llama-bpe: true),
  //      where the package's post-processor adds nothing.
  qwen3: { kind: "gpt2", nfc: true, spacePrefix: false, bosDefault: null },
  llama3: { kind: "gpt2", nfc: false, spacePrefix: false, bosDefault: 128000 },
  gemma3: { kind: "llama", nfc: false, spacePrefix: false, bosDefault: null },
  llama2: { kind: "llama", nfc: false, spacePrefix: true, bosDefault: null },
};

export async function loadReference(model) {
  if (!MODELS[model]) throw new Error(`unknown model ${model}`);
  const mod = await import(`@lenml/tokenizer-${model}`);
  return mod.fromPreTrained();
}

export function referenceIds(tok, text, addSpecial) {
  return Array.from(tok.encode(text, { add_special_tokens: addSpecial }));
}

// The text our decoder must give back for the ids of `text` (no BOS): the
// input itself for byte-level models. SentencePiece-style models decode
// U+2581 as a space, so a literal U+2581 in a text section comes back as a
// space, and they add one space in front of every text section when they
// prepend U+2581 there.
export function expectedDecode(tok, model, text) {
  const info = MODELS[model];
  if (info.kind !== "llama") return text;
  return tok.added_tokens_splitter
    .split(text)
    .map((s) => (tok.added_tokens_map.has(s) ? s : (info.spacePrefix ? " " : "") + s.replaceAll("\u2581", " ")))
    .join("");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [model, corpusPath, flag] = process.argv.slice(2);
  const tok = await loadReference(model);
  for (const s of JSON.parse(readFileSync(corpusPath, "utf8"))) {
    console.log(JSON.stringify(referenceIds(tok, s, flag === "--add-special")));
  }
}
