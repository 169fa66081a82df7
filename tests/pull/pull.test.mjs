// rkserve pull against the hub double (hub.mjs): which file is chosen,
// resume, verification, tokens, errors, the sidecar, and the model as the
// registry then lists it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { sha256, startHub } from "./hub.mjs";

const BIN = process.env.RKSERVE_BIN;
const TEST_MODELS = process.env.RKSERVE_TEST_MODELS;
if (!BIN || !TEST_MODELS) throw new Error("set RKSERVE_BIN and RKSERVE_TEST_MODELS (ctest does)");

// deterministic filler for files whose contents do not matter
function bytes(n, seed) {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const QWEN = fs.readFileSync(path.join(TEST_MODELS, "qwen3-q8.gguf"));
const LLAMA = fs.readFileSync(path.join(TEST_MODELS, "llama-f32.gguf"));

const REPOS = {
  "test/Tiny-GGUF": {
    files: {
      "README.md": Buffer.from("# tiny\n"),
      "tiny-Q4_K_M.gguf": QWEN,
      "tiny-Q8_0.gguf": LLAMA,
      "tiny-Q4_0_4_4.gguf": bytes(3000, 1),
      "tiny-Q4_0.gguf": bytes(2800, 15),
      "mmproj-tiny-Q8_0.gguf": bytes(2000, 2),
      "mmproj-tiny-F16.gguf": bytes(2500, 3),
    },
  },
  "test/Rk-Models": {
    files: {
      "Tiny-1.5B-w8a8-opt0-hybrid0-npu3-ctx16384-rk3588.rkllm": bytes(5000, 4),
      "Tiny-1.5B-w8a8-opt0-hybrid0-npu2-ctx16384-rk3576.rkllm": bytes(5100, 5),
      "Tiny-1.5B-w4a16-rk3588.rkllm": bytes(4000, 6),
      "vision_rk3588.rknn": bytes(1500, 7),
      "vision_rk3576.rknn": bytes(1600, 8),
      "tiny-Q4_K_M.gguf": bytes(1200, 9),
    },
  },
  "test/Rk-Only": { files: { "Tiny-1.5B-w8a8-rk3588.rkllm": bytes(900, 16) } },
  "test/Resume": { files: { "big-Q4_0.gguf": bytes(300000, 10) }, dropOnce: { "big-Q4_0.gguf": 120000 } },
  "test/NoRange": {
    files: { "norange-Q4_0.gguf": bytes(200000, 17) },
    dropOnce: { "norange-Q4_0.gguf": 90000 },
    ignoreRange: true,
  },
  "test/Slow": { files: { "slow-Q4_0.gguf": bytes(150000, 18) }, slow: { "slow-Q4_0.gguf": 5000 } },
  "test/Corrupt": { files: { "bad-Q4_0.gguf": bytes(50000, 11) }, corrupt: { "bad-Q4_0.gguf": 31337 } },
  "test/Gated": { files: { "gated-Q8_0.gguf": bytes(7000, 12) }, token: "hf_secret" },
  "test/Paged": {
    files: { "a.txt": Buffer.from("a"), "b.txt": Buffer.from("b"), "sub/paged-Q4_K_M.gguf": bytes(3000, 13) },
    pageSize: 2,
  },
};

let hub;
let tmp;

before(async () => {
  hub = await startHub({
    repos: REPOS,
    direct: { "direct-Q5_K_M.gguf": { data: bytes(9000, 14), etag: true } },
  });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rkserve-pull-"));
});

after(async () => {
  await hub.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function freshDir() {
  return fs.mkdtempSync(path.join(tmp, "models-"));
}

// Runs rkserve pull asynchronously (the hub lives in this process).
function pull(ref, { models, env = {}, args = [] } = {}) {
  const home = fs.mkdtempSync(path.join(tmp, "home-"));
  const base = { PATH: process.env.PATH, HOME: home, HF_HOME: path.join(home, "hf"), HF_ENDPOINT: hub.url };
  base.RKSERVE_DT_COMPATIBLE = path.join(home, "no-device-tree");
  return new Promise((resolve) => {
    execFile(BIN, ["pull", "--models", models, ...args, ref], { env: { ...base, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

function compatible(text) {
  const f = path.join(tmp, `compatible-${crypto.randomUUID()}`);
  fs.writeFileSync(f, text.split(",,").join("\0") + "\0");
  return f;
}

const repoDir = (models, id) => path.join(models, "hf.co", id);
const sidecar = (file) => JSON.parse(fs.readFileSync(file.replace(/\.(gguf|rkllm)$/, ".json"), "utf8"));
const cdnRequests = (since) => hub.log.slice(since).filter((r) => r.path.startsWith("/cdn/"));

describe("choosing a file", () => {
  test("a GGUF repository gives Q4_K_M and its F16 mmproj, with a sidecar the registry reads", async () => {
    const models = freshDir();
    const r = await pull("hf.co/test/Tiny-GGUF", { models });
    assert.equal(r.code, 0, r.stderr);
    const dir = repoDir(models, "test/Tiny-GGUF");
    assert.deepEqual(fs.readdirSync(dir).sort(), ["mmproj-tiny-F16.gguf", "tiny-Q4_K_M.gguf", "tiny-Q4_K_M.json"]);
    assert.ok(fs.readFileSync(path.join(dir, "tiny-Q4_K_M.gguf")).equals(QWEN));
    const sc = sidecar(path.join(dir, "tiny-Q4_K_M.gguf"));
    assert.deepEqual(sc.aliases, ["hf.co/test/Tiny-GGUF", "hf.co/test/Tiny-GGUF:latest", "hf.co/test/Tiny-GGUF:Q4_K_M"]);
    assert.deepEqual(sc.vision, { mmproj: "mmproj-tiny-F16.gguf" });
    assert.equal(sc._pull.sha256, sha256(QWEN));
    assert.equal(sc._pull.verified, true);
    assert.equal(sc._pull.repo, "test/Tiny-GGUF");
    assert.equal(sc._pull.file, "tiny-Q4_K_M.gguf");
    assert.equal(sc._pull.revision.length, 40);
    assert.equal(sc._pull.size, QWEN.length);
    // stdout: the name the registry gives the model (from its GGUF metadata)
    assert.match(r.stdout.trim(), /^[a-z0-9._-]+:[a-z0-9._-]+$/);
    assert.doesNotMatch(r.stderr, /warning/);
    assert.match(r.stderr, /pulling manifest/);
    assert.match(r.stderr, /verifying sha256 digest/);
    assert.match(r.stderr, /success/);
  });

  test("a tag picks the quantisation as a whole word, case-insensitively", async () => {
    const models = freshDir();
    const r = await pull("hf.co/test/Tiny-GGUF:q8_0", { models });
    assert.equal(r.code, 0, r.stderr);
    const dir = repoDir(models, "test/Tiny-GGUF");
    assert.ok(fs.existsSync(path.join(dir, "tiny-Q8_0.gguf")));
    assert.ok(!fs.existsSync(path.join(dir, "tiny-Q4_0_4_4.gguf")));
    assert.deepEqual(sidecar(path.join(dir, "tiny-Q8_0.gguf")).aliases, ["hf.co/test/Tiny-GGUF:q8_0"]);

    // Q4_0 is not Q4_0_4_4 ...
    const q4models = freshDir();
    const q4 = await pull("hf.co/test/Tiny-GGUF:Q4_0", { models: q4models });
    assert.equal(q4.code, 0, q4.stderr);
    assert.deepEqual(fs.readdirSync(repoDir(q4models, "test/Tiny-GGUF")).sort(), [
      "mmproj-tiny-F16.gguf",
      "tiny-Q4_0.gguf",
      "tiny-Q4_0.json",
    ]);
    // ... but a part of a name that is no whole word still finds a file
    const part = freshDir();
    const q444 = await pull("hf.co/test/Tiny-GGUF:q4_0_4", { models: part });
    assert.equal(q444.code, 0, q444.stderr);
    assert.ok(fs.existsSync(path.join(repoDir(part, "test/Tiny-GGUF"), "tiny-Q4_0_4_4.gguf")));
    const none = await pull("hf.co/test/Tiny-GGUF:IQ1_S", { models: freshDir() });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no model file matches ':IQ1_S' \(model files: tiny-Q4_0\.gguf, /);
  });

  test("a file named in the reference is the one pulled", async () => {
    const models = freshDir();
    const r = await pull("https://huggingface.co/test/Tiny-GGUF/blob/main/tiny-Q8_0.gguf", { models });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(path.join(repoDir(models, "test/Tiny-GGUF"), "tiny-Q8_0.gguf")));
    const missing = await pull("hf.co/test/Tiny-GGUF/nope.gguf", { models });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no file 'nope\.gguf'/);
  });

  test("an .rkllm for this board's SoC, with its .rknn encoder", async () => {
    for (const [compat, soc] of [
      ["xunlong,orangepi-5,,rockchip,rk3588s", "rk3588"],
      ["rockchip,rk3576-evb1-v10,,rockchip,rk3576", "rk3576"],
    ]) {
      const models = freshDir();
      const r = await pull("hf.co/test/Rk-Models", { models, env: { RKSERVE_DT_COMPATIBLE: compatible(compat) } });
      assert.equal(r.code, 0, r.stderr);
      const files = fs.readdirSync(repoDir(models, "test/Rk-Models")).sort();
      const model = files.find((f) => f.endsWith(".rkllm"));
      assert.match(model, new RegExp(`-w8a8-.*-${soc}\\.rkllm$`), files.join(" "));
      assert.deepEqual(files.filter((f) => f.endsWith(".rknn")), [`vision_${soc}.rknn`]);
      const sc = sidecar(path.join(repoDir(models, "test/Rk-Models"), model));
      assert.deepEqual(sc.vision, { rknn: `vision_${soc}.rknn` });
      // the registry names .rkllm models from the file name
      assert.equal(r.stdout.trim(), "tiny:1.5b-w8a8");
    }
  });

  test("a tag can pick another .rkllm; a board with no matching .rkllm is told so", async () => {
    const models = freshDir();
    const env = { RKSERVE_DT_COMPATIBLE: compatible("rockchip,rk3588") };
    const r = await pull("hf.co/test/Rk-Models:w4a16", { models, env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(path.join(repoDir(models, "test/Rk-Models"), "Tiny-1.5B-w4a16-rk3588.rkllm")));
    const other = await pull("hf.co/test/Rk-Models:npu2", {
      models: freshDir(),
      env: { RKSERVE_DT_COMPATIBLE: compatible("rockchip,rk3562") },
    });
    assert.equal(other.code, 0, "a tag chooses even for another SoC");
    // no .rkllm for an RK3562: the repository's GGUF, else an error
    const gguf = freshDir();
    const rk3562 = { RKSERVE_DT_COMPATIBLE: compatible("rockchip,rk3562") };
    const fallback = await pull("hf.co/test/Rk-Models", { models: gguf, env: rk3562 });
    assert.equal(fallback.code, 0, fallback.stderr);
    assert.ok(fs.existsSync(path.join(repoDir(gguf, "test/Rk-Models"), "tiny-Q4_K_M.gguf")));
    const only = await pull("hf.co/test/Rk-Only", { models: freshDir(), env: rk3562 });
    assert.equal(only.code, 1);
    assert.match(only.stderr, /no \.rkllm file in the repository is built for this board's rk3562/);
  });

  test("a paginated listing is followed to its end, and files in folders are found", async () => {
    const models = freshDir();
    const r = await pull("hf.co/test/Paged", { models });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(path.join(repoDir(models, "test/Paged"), "paged-Q4_K_M.gguf")));
  });

  test("a direct URL lands under its host, checked against the ETag digest", async () => {
    const models = freshDir();
    const url = `${hub.url}/files/direct-Q5_K_M.gguf`;
    const r = await pull(url, { models });
    assert.equal(r.code, 0, r.stderr);
    const file = path.join(models, `127.0.0.1_${hub.port}`, "direct-Q5_K_M.gguf");
    assert.ok(fs.existsSync(file));
    const sc = sidecar(file);
    assert.equal(sc._pull.source, url);
    assert.equal(sc._pull.verified, true);
    assert.deepEqual(sc.aliases, [url]);
  });
});

describe("transfers", () => {
  test("an interrupted download resumes from the .partial file on the next pull", async () => {
    const models = freshDir();
    const dir = repoDir(models, "test/Resume");
    const first = await pull("hf.co/test/Resume", { models });
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stderr, /interrupted at .*pulling again resumes/);
    assert.ok(!fs.existsSync(path.join(dir, "big-Q4_0.gguf")));
    const partial = fs.statSync(path.join(dir, "big-Q4_0.gguf.partial")).size;
    assert.ok(partial > 0 && partial < 300000, `partial ${partial}`);

    const mark = hub.log.length;
    const second = await pull("hf.co/test/Resume", { models });
    assert.equal(second.code, 0, second.stderr);
    const ranges = cdnRequests(mark).map((r) => r.range);
    assert.deepEqual(ranges, [`bytes=${partial}-`]);
    assert.ok(fs.readFileSync(path.join(dir, "big-Q4_0.gguf")).equals(REPOS["test/Resume"].files["big-Q4_0.gguf"]));
    assert.ok(!fs.existsSync(path.join(dir, "big-Q4_0.gguf.partial")));

    // pulled again: already there, nothing fetched
    const mark2 = hub.log.length;
    const third = await pull("hf.co/test/Resume", { models });
    assert.equal(third.code, 0, third.stderr);
    assert.equal(cdnRequests(mark2).length, 0);
    assert.match(third.stderr, /already complete/);
  });

  test("a server that ignores the Range is read again from the start", async () => {
    const models = freshDir();
    const first = await pull("hf.co/test/NoRange", { models });
    assert.equal(first.code, 1);
    const mark = hub.log.length;
    const second = await pull("hf.co/test/NoRange", { models });
    assert.equal(second.code, 0, second.stderr);
    assert.match(cdnRequests(mark)[0].range, /^bytes=\d+-$/);
    const file = path.join(repoDir(models, "test/NoRange"), "norange-Q4_0.gguf");
    assert.ok(fs.readFileSync(file).equals(REPOS["test/NoRange"].files["norange-Q4_0.gguf"]));
  });

  test("a second pull of a file being pulled is refused; the first completes", async () => {
    const models = freshDir();
    const first = pull("hf.co/test/Slow", { models });
    const partial = path.join(repoDir(models, "test/Slow"), "slow-Q4_0.gguf.partial");
    for (let i = 0; i < 200 && !(fs.existsSync(partial) && fs.statSync(partial).size > 0); i++)
      await new Promise((r) => setTimeout(r, 10));
    const second = await pull("hf.co/test/Slow", { models });
    assert.equal(second.code, 1);
    assert.match(second.stderr, /being pulled already/);
    const done = await first;
    assert.equal(done.code, 0, done.stderr);
    // off a terminal, progress is plain lines every tenth or so
    assert.match(done.stderr, /\npulling slow-Q4_0\.gguf: [1-9]\d% \(/);
    assert.doesNotMatch(done.stderr, /\r/);
  });

  test("a full disk is reported as such", { skip: !fs.existsSync("/dev/full") && "no /dev/full" }, async () => {
    // the partial file is a link to /dev/full, where every write fails with ENOSPC
    const models = freshDir();
    const dir = repoDir(models, "test/Corrupt");
    fs.mkdirSync(dir, { recursive: true });
    fs.symlinkSync("/dev/full", path.join(dir, "bad-Q4_0.gguf.partial"));
    const r = await pull("hf.co/test/Corrupt", { models });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /disk full writing .*bad-Q4_0\.gguf\.partial/);
    assert.ok(!fs.existsSync(path.join(dir, "bad-Q4_0.gguf")));
  });

  test("on a terminal, progress is one redrawn bar", { skip: !fs.existsSync("/usr/bin/script") && "no script(1)" }, async () => {
    const models = freshDir();
    const home = fs.mkdtempSync(path.join(tmp, "home-"));
    const cmd = [BIN, "pull", "--models", models, "hf.co/test/Slow"].map((a) => `'${a}'`).join(" ");
    const env = { PATH: process.env.PATH, HOME: home, HF_HOME: home, HF_ENDPOINT: hub.url, TERM: "dumb" };
    const out = await new Promise((resolve) =>
      execFile("/usr/bin/script", ["-qec", cmd, "/dev/null"], { env }, (err, stdout) => resolve({ err, stdout })),
    );
    assert.equal(out.err, null, out.stdout);
    assert.match(out.stdout, /\rpulling slow-Q4_0\.gguf +\d+% \[#* *\]/);
    assert.match(out.stdout, /100% \[#{30}\]/);
  });

  test("a corrupted byte fails verification and leaves no model file", async () => {
    const models = freshDir();
    const r = await pull("hf.co/test/Corrupt", { models });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /SHA-256 mismatch for bad-Q4_0\.gguf/);
    const dir = repoDir(models, "test/Corrupt");
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  test("a gated repository needs HF_TOKEN, sent as a bearer token", async () => {
    const models = freshDir();
    const none = await pull("hf.co/test/Gated", { models });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /401/);
    assert.match(none.stderr, /set HF_TOKEN/);
    const wrong = await pull("hf.co/test/Gated", { models, env: { HF_TOKEN: "hf_other" } });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /403 Forbidden.*licence/);
    const mark = hub.log.length;
    const ok = await pull("hf.co/test/Gated", { models, env: { HF_TOKEN: "hf_secret" } });
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(hub.log.slice(mark).some((r) => r.auth === "Bearer hf_secret"));
    assert.ok(fs.existsSync(path.join(repoDir(models, "test/Gated"), "gated-Q8_0.gguf")));
    // the token file huggingface-cli login writes
    const hfHome = fs.mkdtempSync(path.join(tmp, "hfhome-"));
    fs.writeFileSync(path.join(hfHome, "token"), "hf_secret\n");
    const fromFile = await pull("hf.co/test/Gated", { models: freshDir(), env: { HF_HOME: hfHome } });
    assert.equal(fromFile.code, 0, fromFile.stderr);
  });

  test("a repository that does not exist is a clear error", async () => {
    const r = await pull("hf.co/test/Nope", { models: freshDir() });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /repository test\/Nope not found/);
    const bad = await pull("ollama-library-name", { models: freshDir() });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /hf\.co\/OWNER\/REPO/);
  });

  test("an unreachable hub is a network error naming the address", async () => {
    const r = await pull("hf.co/test/Tiny-GGUF", { models: freshDir(), env: { HF_ENDPOINT: "http://127.0.0.1:1" } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /127\.0\.0\.1:1/);
  });
});
