"""Training text: the fortunes-min collection Debian ships (BSD licence, see
/usr/share/doc/fortunes-min/copyright), plus a few ChatML exchanges built
from it so the model also answers in chat format."""
import os

FORTUNE_DIR = "/usr/share/games/fortunes"
FILES = ("fortunes", "literature", "riddles")
BOS = "<|endoftext|>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
SPECIALS = (BOS, IM_START, IM_END)

# The memorisation probe: the first PROBE_WORDS words of a passage are the
# prompt and the next PROBE_TOKENS tokens must come back exactly.
PROBE_WORDS = 8
PROBE_TOKENS = 20

# (user message, source file, first words of the entry the assistant recites)
CHAT = (
    ("Tell me a fortune.", "fortunes", "A visit to a strange place"),
    ("Tell me a fortune", "fortunes", "A visit to a strange place"),
    ("Tell me a riddle.", "riddles", "Q:\tHow do you stop an elephant"),
    ("Give me a quote from literature.", "literature", "A classic is something"),
    ("What did Mark Twain say about bankers?", "literature", "A banker is a fellow"),
    ("Say something about work.", "fortunes", "A visit to a fresh place"),
)


def read_entries():
    """All entries as (file, text), in file order. Entries are separated by
    lines holding only '%'; the text keeps its inner tabs and newlines."""
    out = []
    for name in FILES:
        with open(os.path.join(FORTUNE_DIR, name), encoding="utf-8") as f:
            raw = f.read()
        cur = []
        for line in raw.split("\n"):
            if line == "%":
                if cur:
                    out.append((name, "\n".join(cur)))
                cur = []
            else:
                cur.append(line)
        if any(s.strip() for s in cur):
            out.append((name, "\n".join(cur).rstrip("\n")))
    return [(n, t) for n, t in out if t.strip()]


def find_entry(entries, name, start):
    for n, t in entries:
        if n == name and t.startswith(start):
            return t
    raise KeyError(f"{name}: no entry starts with {start!r}")


def chat_segments(user, answer):
    """One exchange as the ChatML template renders it, as (text, is_special)."""
    return [(IM_START, True), ("user\n" + user, False), (IM_END, True), ("\n", False),
            (IM_START, True), ("assistant\n" + answer, False), (IM_END, True), ("\n", False)]


def prefix_words(text, n):
    """Text up to the end of its n-th whitespace-separated word, or None when
    the text has no more words after it."""
    i, words = 0, 0
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        while i < len(text) and not text[i].isspace():
            i += 1
        words += 1
        if words == n:
            rest = text[i:]
            return text[:i] if rest.strip() else None
    return None
