// Differential check: random templates drawn from a grammar of the features
// chat templates use (fixed seeds, so every run is the same) rendered by
// @huggingface/jinja and by our render_tool; outputs must match byte for
// byte and a template the reference rejects must fail in ours too.
//   node differential.mjs --tool path/to/jinja_render_tool [--count N] [--seed S]
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Template } from "@huggingface/jinja";

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const tool = opt("--tool");
if (!tool) throw new Error("need --tool");
const count = Number(opt("--count", 300));
let seed = Number(opt("--seed", 20250307));
const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
const pick = (a) => a[Math.floor(rnd() * a.length)];

const ATOMS = ["1", "0", "-3", "2.5", "0.0", "-1.5", "'abc'", "''", "'A b'", "' x '", '"é😀"', "none", "true", "false",
  "undefined_x", "n", "f", "s", "l", "d", "e", "msgs", "[1, 2, 3]", "[]", "{'k': 1, 'j': [2]}", "{}", "(1, 2)", "ns", "loop",
  "range(3)", "'a,b'", "'10'", "'3.5x'"];
// only filters the reference implements (our extensions are tested elsewhere)
const FILTERS = ["length", "upper", "lower", "trim", "list", "string", "int", "float", "abs", "tojson", "items", "keys", "values",
  "reverse", "sort", "unique", "join", "title", "capitalize", "safe", "indent", "dictsort", "default('z')", "default('z', true)",
  "join('-')", "tojson(indent=2)", "tojson(sort_keys=true)", "int(9)", "float(1.5)", "map(attribute='role')",
  "selectattr('role', 'equalto', 'user')", "rejectattr('role')", "sort(reverse=true)", "replace('a', 'Z')", "indent(2, true)"];
const TESTS = ["defined", "undefined", "none", "string", "number", "integer", "mapping", "iterable", "sequence", "boolean", "true",
  "false", "odd", "even", "lower", "upper", "callable"];
const BINOPS = ["+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ">", "<=", ">=", "in", "not in", "and", "or"];
const METHODS = [".upper()", ".lower()", ".strip()", ".split(',')", ".split()", ".startswith('a')", ".endswith(('c', 'x'))",
  ".replace('b', 'Q')", ".get('k')", ".get('zz', 5)", ".items()", ".keys()", ".length", "[0]", "[-1]", "[1:]", "[::-1]", "[::2]",
  "['k']", ".role", ".content", ".title()", ".capitalize()", ".lstrip()", ".rstrip()"];

function expr(depth) {
  if (depth <= 0) return pick(ATOMS);
  switch (Math.floor(rnd() * 9)) {
    case 0: return `${expr(depth - 1)} ${pick(BINOPS)} ${expr(depth - 1)}`;
    case 1: return `${expr(depth - 1)} | ${pick(FILTERS)}`;
    case 2: return `${expr(depth - 1)} is ${rnd() < 0.3 ? "not " : ""}${pick(TESTS)}`;
    case 3: return `(${expr(depth - 1)})${pick(METHODS)}`;
    case 4: return `${expr(depth - 1)} if ${expr(depth - 1)} else ${expr(depth - 1)}`;
    case 5: return `not ${expr(depth - 1)}`;
    case 6: return `[${expr(depth - 1)}, ${expr(depth - 1)}]`;
    case 7: return `-${pick(ATOMS)}`;
    default: return pick(ATOMS);
  }
}

function stmt(depth) {
  const r = rnd();
  if (depth <= 0 || r < 0.35) return `{{ ${expr(2)} }}`;
  if (r < 0.5) return `{% if ${expr(2)} %}${stmt(depth - 1)}{% else %}${stmt(depth - 1)}{% endif %}`;
  if (r < 0.65) {
    const it = pick(["msgs", "l", "[1, 'a', none]", "d", "range(4)", "s", "e", "(1, 2)"]);
    return `{% for x in ${it}${rnd() < 0.3 ? " if x" : ""} %}{{ x }}${stmt(depth - 1)}{{ loop.index }}` +
      `{% if loop.last %}{% break %}{% endif %}{% else %}E{% endfor %}`;
  }
  if (r < 0.75) return `{% set ${pick(["n", "y", "ns.v", "a, b"])} = ${expr(2)} %}${stmt(depth - 1)}`;
  if (r < 0.85) return `{% macro mm(p, q=${pick(ATOMS)}) %}[{{ p }}|{{ q }}]{% endmacro %}{{ mm(${expr(1)}) }}`;
  return ` {%- if ${expr(1)} -%} \n text \n {%- endif %}\n`;
}

const ctx = { n: 7, f: 2.25, s: "Hello, World", l: [3, 1, 2], d: { b: 2, a: 1 }, e: [],
  msgs: [{ role: "user", content: "hi" }, { role: "assistant", content: "yo" }] };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jinja-diff-"));
const ctxFile = path.join(tmp, "ctx.json");
fs.writeFileSync(ctxFile, JSON.stringify([ctx]));
let pass = 0, fail = 0, bothFailed = 0;
try {
  for (let i = 0; i < count; i++) {
    const body = i % 2 ? `{{ ${expr(1 + (i % 3))} }}` : stmt(3) + stmt(2);
    const tpl = "{% set ns = namespace(v=1) %}" + body;
    const file = path.join(tmp, "t.jinja");
    fs.writeFileSync(file, tpl);
    const run = spawnSync(tool, [file, ctxFile], { encoding: "utf8" });
    if (run.status !== 0) throw new Error(`render tool failed: ${run.stderr}`);
    const got = JSON.parse(run.stdout)[0];
    let ref;
    try {
      ref = { output: new Template(tpl).render(structuredClone(ctx)) };
    } catch (e) {
      ref = { error: String(e.message) };
    }
    let ok;
    if (ref.error !== undefined) {
      ok = got.error !== undefined;
      if (ok) bothFailed++;
    } else {
      ok = got.output !== undefined && Buffer.from(got.output).equals(Buffer.from(ref.output));
    }
    if (ok) pass++;
    else {
      fail++;
      console.log(`FAIL ${JSON.stringify(tpl)}\n  reference: ${JSON.stringify(ref)}\n  ours:      ${JSON.stringify(got)}`);
    }
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`differential: ${pass} of ${count} agree (${bothFailed} rejected by both)`);
console.log(`${pass} passed, ${fail} failed`);
process.exit(fail === 0 ? 0 : 1);
