#!/usr/bin/python3
"""Generates tests/tokenizer/corpus.json, the strings the tokenizer tests
encode with both our tokenizer and the reference. Hand-written groups cover
prose, scripts, emoji, code, whitespace, numbers, contractions and special
token texts; seeded random strings then mix the hard cases together. The
output is committed; rerun only to change the corpus:
    /usr/bin/python3 tests/tokenizer/gen_corpus.py > tests/tokenizer/corpus.json

Left out on purpose, because the JS reference and the Unicode/llama.cpp
rules the C code follows disagree on them:
  U+0085 and U+FEFF  (\\s in JS regexes includes U+FEFF, not U+0085;
                      Unicode White_Space is the other way round)
  U+017F "long s"    (Rust's case-insensitive 's contraction matches it,
                      the JS port of the pattern does not)
  code points assigned after Unicode 15.0 (the generated tables' version)
  a literal "\u2581\u2581" (Gemma's added token, which llama.cpp's
                      converter turns into two spaces)
"""
import json
import random
import sys

PROSE = [
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times.",
    "Call me Ishmael. Some years ago - never mind how long precisely - having little or no money in my purse,",
    "In the beginning God created the heaven and the earth.",
    "To be, or not to be, that is the question:",
    "All happy families are alike; each unhappy family is unhappy in its own way.",
    "Hello, world!",
    "hello world",
    "HELLO WORLD",
    "Hello World",
    "This is a test. This is only a test.",
    "Mr. Smith went to Washington D.C. on Jan. 3rd, 2024 at 5:30 p.m.",
    "She said, \"I don't know,\" and walked away.",
    "Wait... what?!",
    "Is this the real life? Is this just fantasy?",
    "e-mail: john.doe@example.com, web: https://www.example.org/path?q=1&r=two#frag",
    "The price is $19.99 (excluding 20% VAT) or \u20ac17,50.",
    "C'est la vie, n'est-ce pas?",
    "Twas brillig, and the slithy toves did gyre and gimble in the wabe.",
    "One fish, two fish, red fish, blue fish.",
    "A man, a plan, a canal: Panama!",
    "Rock'n'roll isn't dead; it's just resting.",
    "Once upon a time\nthere was a princess\nwho lived in a tower.",
    "Line one\r\nLine two\r\nLine three\r\n",
    "Tab\tseparated\tvalues\there",
    "    Indented text with four spaces",
    "Trailing spaces   ",
    " Leading space",
    "Multiple   spaces   between   words",
    "UPPERCASE lowercase MiXeD CaSe camelCase snake_case kebab-case PascalCase",
    "The year 1984 was not like 1984.",
    "Supercalifragilisticexpialidocious is a long word; so is pneumonoultramicroscopicsilicovolcanoconiosis.",
    "I have 3 apples, 42 oranges and 1000000 bananas.",
    "Pi is approximately 3.14159265358979323846.",
    "Version 2.0.1-beta+build.123",
    "Q: What's 2+2? A: 4.",
    "The end.",
    "ok",
    "a",
    "I",
    "?",
    "...",
    "!!!",
    "--",
    "\u2014 an em dash \u2013 an en dash \u2026 an ellipsis",
    "\u201cCurly quotes\u201d and \u2018single ones\u2019",
    "It\u2019s a curly apostrophe, not a straight one.",
]

UNICODE = [
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade co\u00f6perate se\u00f1or \u00fcber",
    "Z\u00fcrich M\u00fcnchen K\u00f6ln D\u00fcsseldorf Stra\u00dfe",
    "\u00c5ngstr\u00f6m \u00d8resund \u00c6sir",
    "Cr\u00e8me br\u00fbl\u00e9e \u00e0 la fran\u00e7aise",
    "Pr\u00edli\u0161 \u017elu\u0165ou\u010dk\u00fd k\u016f\u0148 \u00fap\u011bl \u010f\u00e1belsk\u00e9 \u00f3dy",
    "Za\u017c\u00f3\u0142\u0107 g\u0119\u015bl\u0105 ja\u017a\u0144",
    "\u00bfD\u00f3nde est\u00e1 la biblioteca? \u00a1Aqu\u00ed!",
    "Stra\u00dfe vs. STRASSE vs. \u1e9e",
    "\u0130stanbul \u0131\u015f\u0131k \u011f\u00fc\u00e7l\u00fc",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac: \u03ba\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5",
    "\u0420\u0443\u0441\u0441\u043a\u0438\u0439 \u044f\u0437\u044b\u043a: \u041f\u0440\u0438\u0432\u0435\u0442, \u043a\u0430\u043a \u0434\u0435\u043b\u0430?",
    "\u0423\u043a\u0440\u0430\u0457\u043d\u0441\u044c\u043a\u0430 \u043c\u043e\u0432\u0430 \u2014 \u0491\u0430\u043d\u043e\u043a",
    "\u0411\u044a\u043b\u0433\u0430\u0440\u0441\u043a\u0438 \u0435\u0437\u0438\u043a",
    "\u0540\u0561\u0575\u0565\u0580\u0565\u0576 \u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8",
    # combining marks (NFC would compose some of them)
    "e\u0301 a\u0300 o\u0302 u\u0308 n\u0303",
    "cafe\u0301 re\u0301sume\u0301",
    "q\u0303 x\u0304 z\u030c",
    "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u036b\u0357\u0334\u0362\u0335\u031c\u0330\u0354L\u0368\u0367\u0369\u0358\u0320G\u0311\u0357\u030e\u0305\u035b\u0341\u0334\u033b\u0348\u034d\u0354\u0339O\u0342\u030c\u030c\u0358\u0328\u0335\u0339\u033b\u031d\u0333",
    "\u1e9b\u0323 \u212b \u2126",
    "\u00bd \u00bc \u00be \u2153 \u2154 \u00b2 \u00b3 \u00b9 \u2070",
    "\u2160 \u2161 \u2162 \u216b \u2170",
    "\uff21\uff22\uff23 \uff11\uff12\uff13 \uff01\uff1f",
    "\u0661\u0662\u0663 \u06f4\u06f5\u06f6 \u0967\u0968\u0969 \u0e51\u0e52\u0e53",
    "\U0001d400\U0001d401\U0001d402 \U0001d7ce\U0001d7cf",
    "\u00a0non-breaking\u00a0spaces\u00a0",
    "ideographic\u3000space\u3000here",
    "thin\u2009space and hair\u200aspace and em\u2003space",
    "zero\u200bwidth\u200cnon\u200djoiner",
    "soft\u00adhyphen",
    "line\u2028separator\u2029paragraph",
    "\u00a9 \u00ae \u2122 \u00a7 \u00b6 \u2020 \u2021 \u2022 \u00b0 \u00b1 \u00d7 \u00f7",
    "\u2190 \u2192 \u2191 \u2193 \u21d2 \u21d4 \u2200 \u2203 \u2208 \u2211 \u220f \u221a \u221e \u2260 \u2264 \u2265",
    "\u2200x\u2208\u211d: x\u00b2 \u2265 0",
    "\u266a \u266b \u2600 \u2601 \u2602 \u2603 \u2605 \u2606 \u2660 \u2663 \u2665 \u2666",
    "\u2500\u2500\u2510\n\u2502  \u2502\n\u2514\u2500\u2500\u2518",
    "\u0000nul and \u0007bell and \u001bescape",
    "\u00ff\u00fe\u00fd\u0100\u0101\u0143",
    "\u2581single lower block",
]

EMOJI = [
    "\U0001f600\U0001f603\U0001f604\U0001f601\U0001f606",
    "I love you \u2764\ufe0f",
    "\U0001f44d\U0001f3fb \U0001f44d\U0001f3fc \U0001f44d\U0001f3fd \U0001f44d\U0001f3fe \U0001f44d\U0001f3ff",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family",
    "\U0001f469\U0001f3fd\u200d\U0001f4bb coder",
    "\U0001f3f3\ufe0f\u200d\U0001f308 \U0001f3f4\u200d\u2620\ufe0f",
    "\U0001f1fa\U0001f1f8 \U0001f1ef\U0001f1f5 \U0001f1e9\U0001f1ea \U0001f1eb\U0001f1f7",
    "\U0001f9d1\u200d\U0001f91d\u200d\U0001f9d1",
    "\U0001f680 launch! \U0001f525\U0001f525\U0001f525",
    "\U0001f914\U0001f4ad thinking...",
    "\u2615\ufe0f coffee \u2615",
    "1\ufe0f\u20e3 2\ufe0f\u20e3 #\ufe0f\u20e3",
    "\U0001f436\U0001f431\U0001f42d\U0001f439\U0001f430\U0001f98a\U0001f43b\U0001f43c",
    "emoji\U0001f389in\U0001f38amiddle",
    "\U0001f468\U0001f3ff\u200d\U0001f9b0 \U0001f9d4\U0001f3fb\u200d\u2642\ufe0f",
    "\U0001f636\u200d\U0001f32b\ufe0f \U0001f999\U0001f999",
]

CJK = [
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01",
    "\u6211\u60f3\u5728apple\u5de5\u4f5c1314151\u5929\uff5e",
    "\u4eca\u5929\u5929\u6c14\u5f88\u597d\uff0c\u6211\u4eec\u53bb\u516c\u56ed\u6563\u6b65\u5427\u3002",
    "\u4e2d\u534e\u4eba\u6c11\u5171\u548c\u56fd\u6210\u7acb\u4e8e1949\u5e7410\u67081\u65e5\u3002",
    "\u6f22\u5b57\u3068\u3072\u3089\u304c\u306a\u3068\u30ab\u30bf\u30ab\u30ca",
    "\u3053\u3093\u306b\u3061\u306f\u3001\u4e16\u754c\uff01\u304a\u5143\u6c17\u3067\u3059\u304b\uff1f",
    "\u6771\u4eac\u90fd\u6e0b\u8c37\u533a\u3067\u30e9\u30fc\u30e1\u30f3\u3092\u98df\u3079\u307e\u3057\u305f\u3002",
    "\u30b3\u30f3\u30d4\u30e5\u30fc\u30bf\u30fc\u30fb\u30b5\u30a4\u30a8\u30f3\u30b9",
    "\uc548\ub155\ud558\uc138\uc694, \uc138\uacc4! \ud55c\uad6d\uc5b4\ub97c \ubc30\uc6cc\uc694.",
    "\ub300\ud55c\ubbfc\uad6d \uc11c\uc6b8\ud2b9\ubcc4\uc2dc",
    "\u7e41\u9ad4\u4e2d\u6587\u8207\u7c21\u4f53\u4e2d\u6587",
    "\u300c\u5f15\u7528\u300d\u3010\u62ec\u5f27\u3011\u300a\u4e66\u540d\u300b",
    "\u9f8d\u9f98\u9f49 \U00020000\U0002a6d6",
    "\u4e00\u4e8c\u4e09\u56db\u4e94\u516d\u4e03\u516b\u4e5d\u5341\u767e\u5343\u4e07\u4ebf",
]

SCRIPTS = [
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u0627\u0644\u0644\u063a\u0629 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u062c\u0645\u064a\u0644\u0629 \u062c\u062f\u0627\u064b.",
    "\u0628\u0650\u0633\u0652\u0645\u0650 \u0671\u0644\u0644\u0651\u064e\u0647\u0650",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd",
    "\u05e2\u05b4\u05d1\u05b0\u05e8\u05b4\u05d9\u05ea \u05e2\u05dd \u05e0\u05d9\u05e7\u05d5\u05d3",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e \u092e\u0947\u0902 \u0932\u093f\u0916\u093e \u0917\u092f\u093e \u092a\u093e\u0920\u0964",
    "\u0938\u0902\u0938\u094d\u0915\u0943\u0924\u092e\u094d",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01",
    "\u1780\u17b6\u1793\u17cb\u178f\u17c2\u1796\u17b7\u179f\u17c1\u179f\u17a2\u17b6\u1785\U0001f601",
    "\u09ac\u09be\u0982\u09b2\u09be \u09ad\u09be\u09b7\u09be",
    "\u0ba4\u0bae\u0bbf\u0bb4\u0bcd \u0bae\u0bca\u0bb4\u0bbf",
    "\u12a0\u121b\u122d\u129b",
    "\u0dc3\u0dd2\u0d82\u0dc4\u0dbd",
    "Mixed: English \u0639\u0631\u0628\u064a \u05e2\u05d1\u05e8\u05d9\u05ea \u4e2d\u6587 \u0939\u093f\u0928\u094d\u0926\u0940 \u0440\u0443\u0441\u0441\u043a\u0438\u0439",
    "\u0641\u064a \u0639\u0627\u0645 2024 \u0648\u0635\u0644 \u0627\u0644\u0639\u062f\u062f \u0625\u0644\u0649 \u0661\u0662\u0663\u0664\u0665.",
]

CODE = [
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "import numpy as np\nx = np.arange(10, dtype=np.float32).reshape(2, 5)\nprint(x.T @ x)\n",
    "class Foo(Bar):\n    \"\"\"Docstring.\"\"\"\n\n    def __init__(self, *args, **kwargs):\n        super().__init__(*args, **kwargs)\n",
    "#include <stdio.h>\n\nint main(void) {\n\tprintf(\"Hello, %s!\\n\", \"world\");\n\treturn 0;\n}\n",
    "for (size_t i = 0; i < n; ++i) { sum += a[i] * b[i]; }",
    "static inline uint32_t rotl(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }",
    "const add = (a, b) => a + b;\nconsole.log(`sum: ${add(1, 2)}`);\n",
    "function* gen() { yield* [1, 2, 3]; }\nlet [x, ...rest] = gen();",
    "fn main() {\n    let v: Vec<i32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}\n",
    "impl<'a, T: Clone + 'a> Iterator for Foo<'a, T> { type Item = &'a T; }",
    "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tfmt.Println(\"hi\")\n}\n",
    "SELECT u.id, COUNT(*) AS n FROM users u JOIN orders o ON o.user_id = u.id WHERE o.total > 100 GROUP BY u.id;",
    "<!DOCTYPE html>\n<html>\n  <head><title>Test</title></head>\n  <body><h1>Title</h1><p class=\"x\">Text</p></body>\n</html>\n",
    "<div><span>nested</span><a href=\"#\">link</a></div>",
    "{\"name\": \"rkserve\", \"version\": \"0.1.0\", \"tags\": [\"llm\", \"npu\"], \"nested\": {\"a\": null, \"b\": true}}",
    "#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do\n  echo \"$f\" | tr a-z A-Z\ndone\n",
    "if [[ -z \"${VAR:-}\" ]]; then exit 1; fi",
    "x = [i**2 for i in range(100) if i % 3 == 0]",
    "a += b; c -= d; e *= f; g /= h; i %= j; k <<= 2; l >>= 3; m &&= n; o ||= p;",
    "    \t  mixed indentation\n\t    more of it\n",
    "// comment\n/* block\n   comment */\n# hash comment\n-- sql comment\n",
    "regex = r\"^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)@example\\.com$\"",
    "std::vector<std::unique_ptr<Node>> children;",
    "public static void main(String[] args) throws IOException {}",
    "$ ls -la /usr/local/bin | grep -v '^d' > out.txt 2>&1",
    "0x7fffffff 0b1010 0o755 1e-9 6.022e23 -0.0 NaN",
    "matrix[i][j] = matrix[i-1][j-1] + 1 if s[i-1] == t[j-1] else 0",
    "```python\nprint('fenced')\n```",
    "| col1 | col2 |\n|------|------|\n| a    | b    |",
    "- item one\n- item two\n  - nested item\n1. first\n2. second",
]

SPECIAL_TEXT = [
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nhello<|im_end|>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    "<|eot_id|>",
    "text<|eot_id|>more text",
    "<|end_of_text|>",
    "<s>[INST] Hello [/INST] Hi there</s>",
    "<s>",
    "</s>",
    " <s> ",
    "a<s>b</s>c",
    "<unk>",
    "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
    "<start_of_turn>",
    "<end_of_turn>",
    "<pad><eos><mask>",
    "<unused0> <unused99> <unused6241>",
    "[multimodal]",
    "<think>\nreasoning here\n</think>\n\nanswer",
    "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>",
    "<|endoftext|>",
    "<|fim_prefix|>def f():<|fim_suffix|>\n    return 1<|fim_middle|>",
    "<h1>Heading</h1><table><tr><td>cell</td></tr></table>",
    "<|im_start|><|im_start|><|im_end|><|im_end|>",
    "<|im_start",
    "im_start|>",
    "<|im_start|",
    "<<|im_start|>>",
    "<|reserved_special_token_5|>",
    "<start_of_image><end_of_image>",
    "<|image_pad|><|vision_start|>",
    "<img><span>x</span></img>",
]

WHITESPACE = [
    "",
    " ",
    "  ",
    "   ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "\n\n",
    "\n\n\n",
    " \n",
    "\n ",
    " \n ",
    "\t\n",
    "a\n",
    "\na",
    "a b",
    "a  b",
    "a   b",
    "a\tb",
    "a\t\tb",
    "a\nb",
    "a\n\nb",
    "a\r\nb",
    "a \n b",
    "a \n\n b",
    " \t \n \t ",
    "x" + " " * 40 + "y",
    " " * 100,
    "\t" * 12,
    "\n" * 40,
    "\r\n" * 10,
    "a" + " \t" * 10 + "b",
    "end with newline\n",
    "end with spaces  ",
    "   \n   \n   ",
    "word\u3000\u3000word",
    "\u00a0 \u00a0",
    "  leading two",
    "trailing two  ",
    " . ",
    "  !",
    " !",
    "\n!",
    "!\n\n",
    "?\r\n",
]


def numbers():
    out = []
    digits = "31415926535897932384626433832795028841971"
    for n in range(1, 22):
        out.append(digits[:n])
    out += ["0", "00", "007", "1,000", "1,234,567.89", "-42", "+7", "3.3", "3..3", "3...3",
            "12:30", "2024-01-31", "1e10", "99%", "$5", "#1", "v1.2.3", "192.168.0.1",
            "+1 (555) 123-4567", "a1b22c333d4444e55555", "x=1;y=22;z=333",
            "3 33 333 3333 33333 333333 3333333 33333333",
            "1234567890" * 3, "0.000001", "10^6", "2\u00b3", "\u0663\u0664\u0665", "\uff11\uff12\uff13\uff14",
            "\u2460\u2461\u2462", "CVE-2021-44228", "ISBN 978-3-16-148410-0"]
    return out


def contractions():
    out = []
    for c in ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]:
        out.append("it" + c)
        out.append("IT" + c.upper())
        out.append("It" + c[0] + c[1:].capitalize())
        out.append(c)
        out.append(" " + c + " ")
    out += ["I'm", "I'M", "you're", "YOU'RE", "You'Re", "we've", "WE'VE", "they'll", "THEY'LL",
            "she'd", "SHE'D", "don't", "DON'T", "Don'T", "can't", "won't", "y'all", "o'clock",
            "rock 'n' roll", "''", "'''", "' '", "'", "'x", "'S", "'Ll", "'lL", "'rE",
            "He said 'hello'", "'quoted'", "the dog's bone", "the dogs' bones",
            "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
            "l'homme d'affaires", "aujourd'hui", "\u0645'\u0633", "\u4e2d's", "1's 2'S"]
    return out


def long_strings():
    para = " ".join(PROSE[:12])
    return [
        para,
        (para + "\n") * 3,
        "\n\n".join(CODE[:5]),
        "".join(CJK[:6]),
        "abc" * 200,
        "a" * 300,
        "=" * 80,
        "-" * 64 + "\n" + "*" * 32,
        "!" * 50 + "?" * 50,
        "\U0001f600" * 30,
        "The " + "very " * 100 + "end.",
    ]


# characters the random strings draw from, weighted towards the tricky ones
POOL = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        + list("0123456789") * 2
        + list(" " * 12 + "\t\n\r" + "\n" * 3)
        + list(".,;:!?'\"()[]{}<>/\\|-_=+*&^%$#@~`")
        + list("'" * 6)
        + ["\u00e9", "\u00fc", "\u00df", "\u00f1", "\u0301", "\u0308", "\u0327",
           "\u4e2d", "\u6587", "\u5b57", "\u3042", "\u30a2", "\ud55c", "\uae00",
           "\u0639", "\u0631", "\u05d0", "\u05e9", "\u0915", "\u094d", "\u0937",
           "\u0e01", "\u0e34", "\u0416", "\u03a9",
           "\U0001f600", "\U0001f44d", "\U0001f3fd", "\u200d", "\ufe0f", "\u2764", "\U0001f468", "\U0001f469",
           "\u00a0", "\u3000", "\u2009", "\u200b",
           "\u00b2", "\u00bd", "\u0663", "\uff11", "\u2160",
           "\u00a9", "\u20ac", "\u2192", "\u221e", "\u2014", "\u2026", "\u201c", "\u201d"])

WORDS = ["the", "The", "THE", "and", "token", "izer", "hello", "world", "don't", "it's", "I'm",
         "we'll", "x", "42", "3.14", "1000000", "\u4f60\u597d", "\u3053\u3093\u306b\u3061\u306f",
         "\u0645\u0631\u062d\u0628\u0627", "\u0928\u092e\u0938\u094d\u0924\u0947", "\U0001f680",
         "<|im_start|>", "<|im_end|>", "<|eot_id|>", "<s>", "</s>", "<bos>", "<end_of_turn>",
         "<think>", "<h1>", "\n", "\n\n", "\t", "  ", "   ", "\r\n", "...", "--", "==", "()",
         "foo_bar", "fooBar", "caf\u00e9", "na\u00efve", "'s", "'LL", "O'Neil"]


def random_strings(rng, count):
    out = []
    for i in range(count):
        if i % 2 == 0:
            n = rng.randint(1, 40)
            out.append("".join(rng.choice(POOL) for _ in range(n)))
        else:
            n = rng.randint(1, 14)
            parts = []
            for _ in range(n):
                parts.append(rng.choice(WORDS))
                parts.append(rng.choice(["", " ", " ", " ", "  ", "\n", "\t", ",", ". ", "'"]))
            out.append("".join(parts))
    return out


def main():
    rng = random.Random(20240531)
    corpus = (PROSE + UNICODE + EMOJI + CJK + SCRIPTS + CODE + SPECIAL_TEXT + WHITESPACE
              + numbers() + contractions() + long_strings())
    corpus += random_strings(rng, 560 - len(corpus) if len(corpus) < 400 else 200)
    json.dump(corpus, sys.stdout, ensure_ascii=False, indent=0)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
