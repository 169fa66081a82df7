// Starts `rkserve serve` on 127.0.0.1 with a port the kernel picks (--port 0;
// the server prints the one it got) and a private model directory of
// symbolic links to the synthetic test models, and stops it again.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const BIN = process.env.RKSERVE_BIN;
export const TEST_MODELS = process.env.RKSERVE_TEST_MODELS;
export const SOURCE_DIR = process.env.RKSERVE_SOURCE_DIR ?? path.resolve(import.meta.dirname, "..", "..");

if (!BIN || !TEST_MODELS) {
  throw new Error("set RKSERVE_BIN and RKSERVE_TEST_MODELS (ctest does)");
}

// The synthetic models every server gets: file (in the test-models
// directory) and the name a sidecar gives it.
export const FILES = { qwen: "qwen3-q8", llama: "llama-f32" };
export const MODELS = { qwen: "qwen3:test", llama: "llama:test" };

// A directory of links to the test models, each with a sidecar naming it
// (sidecars: false leaves the names to the GGUF metadata).
export function modelDir({ sidecars = true, extra = {} } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rkserve-e2e-"));
  for (const key of Object.keys(FILES)) {
    fs.symlinkSync(path.join(TEST_MODELS, `${FILES[key]}.gguf`), path.join(dir, `${FILES[key]}.gguf`));
    if (sidecars) fs.writeFileSync(path.join(dir, `${FILES[key]}.json`), JSON.stringify({ name: MODELS[key] }));
  }
  for (const [name, target] of Object.entries(extra)) {
    fs.symlinkSync(target, path.join(dir, `${name}.gguf`));
  }
  return dir;
}

// opts.args: extra flags; opts.env: extra environment; opts.dir: model directory.
export async function startServer(opts = {}) {
  const dir = opts.dir ?? modelDir({ sidecars: opts.sidecars ?? true });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "rkserve-home-"));
  // one compute thread: results do not depend on how busy the machine is
  const args = ["serve", "--host", "127.0.0.1", "--port", "0", "--models", dir, "--threads", "1", ...(opts.args ?? [])];
  const env = { ...process.env, HOME: home, HF_HOME: path.join(home, "hf"), ...(opts.env ?? {}) };
  for (const k of Object.keys(env)) if (k.startsWith("RKSERVE_") && !(opts.env && k in opts.env)) delete env[k];
  const proc = spawn(BIN, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}`)), 10000);
    proc.stderr.on("data", (d) => {
      stderr += d.toString();
      const m = stderr.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${stderr}`));
    });
  });
  proc.stdout.resume();
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    dir,
    proc,
    stderr: () => stderr,
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      const exited = new Promise((resolve) => proc.on("exit", (code, sig) => resolve(code ?? sig)));
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10000);
      const code = await exited;
      clearTimeout(timer);
      fs.rmSync(home, { recursive: true, force: true });
      if (!opts.dir) fs.rmSync(dir, { recursive: true, force: true });
      // a crash, a sanitizer report or a leak at exit fails the test file
      if (code !== 0) throw new Error(`rkserve exited with ${code}:\n${stderr.slice(-4000)}`);
      return code;
    },
  };
}

// fetch + JSON, for the checks the SDKs cannot express.
export async function post(url, body, headers = {}) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export function norm(v) {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
