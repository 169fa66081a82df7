// Renders every template of a family with @huggingface/jinja and with our C
// interpreter (render_tool) over every conversation, and asserts the outputs
// are byte-identical. Where the reference throws, ours must fail too, with
// the same message when it is one the template raises itself.
//
//   node reference.mjs --family qwen3 --tool path/to/jinja_render_tool
//   node reference.mjs --list            (families in templates.json)
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));

// strftime_now must see one fixed instant on both sides: 2025-03-07 09:05 UTC.
const FIXED_MS = Date.UTC(2025, 2, 7, 9, 5, 0);
const RealDate = Date;
class FixedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(FIXED_MS);
    else super(...args);
  }
  static now() {
    return FIXED_MS;
  }
}
globalThis.Date = FixedDate;

const { Template } = await import("@huggingface/jinja");

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--family") out.family = argv[++i];
    else if (a === "--tool") out.tool = argv[++i];
    else if (a === "--list") out.list = true;
    else if (a === "--verbose") out.verbose = true;
    else throw new Error(`unknown argument ${a}`);
  }
  return out;
}

function escapeForDisplay(s) {
  return JSON.stringify(s).slice(1, -1);
}

function showDiff(expected, actual) {
  let i = 0;
  while (i < expected.length && i < actual.length && expected[i] === actual[i]) i++;
  const from = Math.max(0, i - 60);
  const line = expected.slice(0, i).split("\n").length;
  console.log(`    first difference at character ${i} (line ${line})`);
  console.log(`    expected: ...${escapeForDisplay(expected.slice(from, i + 60))}`);
  console.log(`    actual:   ...${escapeForDisplay(actual.slice(from, i + 60))}`);
}

function renderReference(source, context) {
  try {
    return { output: new Template(source).render(structuredClone(context)) };
  } catch (e) {
    return { error: String(e && e.message !== undefined ? e.message : e) };
  }
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const manifest = JSON.parse(fs.readFileSync(path.join(HERE, "templates.json"), "utf8"));
  if (args.list) {
    console.log(Object.keys(manifest.families).join("\n"));
    return 0;
  }
  if (!args.family || !args.tool) throw new Error("need --family and --tool");
  const family = manifest.families[args.family];
  if (!family) throw new Error(`no family ${args.family} in templates.json`);
  const conversations = JSON.parse(fs.readFileSync(path.join(HERE, "conversations.json"), "utf8"));
  if (conversations.length < 20) throw new Error("conversations.json must hold at least 20 conversations");

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "jinja-ref-"));
  let pass = 0;
  let fail = 0;
  let bothFailed = 0;
  try {
    for (const tpl of family) {
      const file = path.resolve(HERE, tpl.file);
      const source = fs.readFileSync(file, "utf8");
      const contexts = conversations.map((conv) => {
        const { name, ...vars } = conv;
        return { bos_token: tpl.bos_token, eos_token: tpl.eos_token, ...vars };
      });
      const ctxFile = path.join(tmp, "contexts.json");
      fs.writeFileSync(ctxFile, JSON.stringify(contexts));
      const run = spawnSync(args.tool, [file, ctxFile, String(FIXED_MS / 1000)], {
        encoding: "utf8",
        maxBuffer: 1 << 28,
        env: { ...process.env, TZ: process.env.TZ ?? "UTC" },
      });
      if (run.status !== 0) {
        console.log(`FAIL ${tpl.file}: render tool exited ${run.status}: ${run.stderr}`);
        fail += contexts.length;
        continue;
      }
      const ours = JSON.parse(run.stdout);
      let shown = false;
      contexts.forEach((ctx, i) => {
        const label = `${tpl.file} x ${conversations[i].name}`;
        const ref = renderReference(source, ctx);
        const got = ours[i];
        let ok;
        let why = "";
        if (ref.error !== undefined) {
          const raised = ref.error.length > 0 && source.includes(ref.error);
          ok = got.error !== undefined && (!raised || got.error === ref.error);
          if (!ok) why = `reference failed with ${JSON.stringify(ref.error)}, ours gave ${JSON.stringify(got.error ?? got.output)}`;
          if (ok) bothFailed++;
        } else {
          // byte-identical once encoded as UTF-8, as the server would send it
          ok = got.output !== undefined && Buffer.from(got.output).equals(Buffer.from(ref.output));
          if (!ok) why = got.error !== undefined ? `ours failed: ${got.error}` : "outputs differ";
        }
        if (ok) {
          pass++;
          if (args.verbose) console.log(`ok   ${label}${ref.error !== undefined ? " (both fail)" : ""}`);
        } else {
          fail++;
          console.log(`FAIL ${label}: ${why}`);
          if (!shown && ref.error === undefined && got.output !== undefined) {
            showDiff(ref.output, got.output);
            shown = true;
          }
        }
      });
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`family ${args.family}: ${pass} byte-identical or equally failing (${bothFailed} failing on both sides)`);
  console.log(`${pass} passed, ${fail} failed`);
  return fail === 0 && pass > 0 ? 0 : 1;
}

process.exit(main());
