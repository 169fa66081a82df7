"""Byte-level BPE in the GPT-2 format that llama.cpp reads as
tokenizer.ggml.model = "gpt2", tokenizer.ggml.pre = "gpt-2".

Text is pre-split with GPT-2's pattern
    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
(implemented by hand below, so no regex package is needed), each chunk's
UTF-8 bytes are mapped through GPT-2's byte-to-unicode table, and merges are
applied inside each chunk, lowest rank first.
"""
import collections
import unicodedata

CONTRACTIONS = ("s", "t", "re", "ve", "m", "ll", "d")

# Unicode White_Space, which is what \s means in the pattern
_WHITESPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def byte_to_unicode():
    """GPT-2's table: printable Latin-1 bytes map to themselves, the other 68
    bytes to U+0100 upwards in byte order, so every byte is a visible char."""
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1))
            + list(range(0xAE, 0xFF + 1)))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_TO_CHAR = byte_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def _kind(c):
    if c in _WHITESPACE:
        return "s"
    cat = unicodedata.category(c)
    if cat[0] == "L":
        return "L"
    if cat[0] == "N":
        return "N"
    return "o"


def pre_split(text):
    """The chunks GPT-2's pattern finds, tried alternative by alternative."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "'":
            hit = next((s for s in CONTRACTIONS if text.startswith(s, i + 1)), None)
            if hit:
                out.append(text[i:i + 1 + len(hit)])
                i += 1 + len(hit)
                continue
        # ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'
        j = i + 1 if c == " " and i + 1 < n else i
        k = _kind(text[j])
        if k != "s":
            e = j + 1
            while e < n and _kind(text[e]) == k:
                e += 1
            out.append(text[i:e])
            i = e
            continue
        # whitespace run: '\s+(?!\S)' leaves the last space to the next word
        e = i + 1
        while e < n and text[e] in _WHITESPACE:
            e += 1
        if e < n and e - i >= 2:
            e -= 1
        out.append(text[i:e])
        i = e
    return out


def to_symbols(chunk):
    return "".join(BYTE_TO_CHAR[b] for b in chunk.encode("utf-8"))


def train(texts, n_merges):
    """Returns merges [(a, b), ...] in rank order. Ties in pair count go to
    the pair that sorts first, so training is deterministic."""
    words = collections.Counter()
    for t in texts:
        for ch in pre_split(t):
            words[tuple(to_symbols(ch))] += 1
    words = [[list(w), c] for w, c in words.items()]
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for syms, c in words:
            for a, b in zip(syms, syms[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        if pairs[best] < 2:
            break
        merges.append(best)
        joined = best[0] + best[1]
        for w in words:
            syms = w[0]
            if len(syms) < 2:
                continue
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == best[0] and syms[i + 1] == best[1]:
                    out.append(joined)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            w[0] = out
    return merges


class Tokenizer:
    """tokens: list of token strings (ids are positions); merges in rank order."""

    def __init__(self, tokens, merges):
        self.tokens = tokens
        self.ids = {t: i for i, t in enumerate(tokens)}
        self.merges = merges
        self.rank = {m: r for r, m in enumerate(merges)}
        self._cache = {}

    def _bpe(self, chunk):
        syms = list(to_symbols(chunk))
        while len(syms) > 1:
            best, best_rank = None, None
            for i in range(len(syms) - 1):
                r = self.rank.get((syms[i], syms[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = i, r
            if best is None:
                break
            a, b = syms[best], syms[best + 1]
            out, i = [], 0
            while i < len(syms):  # merge every occurrence of this pair, left to right
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            syms = out
        return [self.ids[s] for s in syms]

    def encode(self, text):
        ids = []
        for ch in pre_split(text):
            if ch not in self._cache:
                self._cache[ch] = self._bpe(ch)
            ids.extend(self._cache[ch])
        return ids

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            t = self.tokens[i]
            if t.startswith("<|") and t.endswith("|>"):
                out += t.encode("utf-8")
            else:
                out += bytes(CHAR_TO_BYTE[c] for c in t)
        return out.decode("utf-8", errors="replace")
