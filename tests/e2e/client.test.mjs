// rkserve list / ps / show / rm as clients of a running server.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, test } from "node:test";
import { Ollama } from "ollama";

import { BIN, MODELS, startServer } from "./server.mjs";

let srv;

before(async () => {
  srv = await startServer({ args: ["--api-key", "k3y"] });
});

after(async () => {
  await srv.stop();
});

function cli(args, env = {}) {
  const r = spawnSync(BIN, args, {
    env: { ...process.env, RKSERVE_HOST: `127.0.0.1:${srv.port}`, RKSERVE_API_KEY: "k3y", ...env },
    encoding: "utf8",
    timeout: 20000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test("list shows every model with its id and size", () => {
  const r = cli(["list"]);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trim().split("\n");
  assert.match(lines[0], /^NAME\s+ID\s+SIZE\s+MODIFIED/);
  for (const name of Object.values(MODELS)) assert.ok(lines.some((l) => l.startsWith(name + " ")), r.out);
  assert.match(r.out, /[0-9a-f]{12}/);
});

test("ps shows what is loaded, show describes a model", async () => {
  assert.equal(cli(["ps"]).out.trim().split("\n").length, 1, "nothing loaded yet");
  await new Ollama({ host: srv.url, headers: { Authorization: "Bearer k3y" } }).generate({ model: MODELS.qwen, prompt: "" });
  const ps = cli(["ps"]);
  assert.equal(ps.code, 0);
  assert.match(ps.out, new RegExp(`^${MODELS.qwen.replace(".", "\\.")}\\s+[0-9a-f]{12}\\s+.*from now`, "m"));
  const show = cli(["show", MODELS.llama]);
  assert.equal(show.code, 0, show.err);
  assert.match(show.out, /architecture\s+llama/);
  assert.match(show.out, /context length\s+\d+/);
});

test("rm deletes through the server; errors name the cause and exit non-zero", async () => {
  const o = new Ollama({ host: srv.url, headers: { Authorization: "Bearer k3y" } });
  await o.copy({ source: MODELS.qwen, destination: "spare:v1" });
  const rm = cli(["rm", "spare:v1"]);
  assert.equal(rm.code, 0, rm.err);
  assert.match(rm.out, /deleted 'spare:v1'/);
  assert.ok(!cli(["list"]).out.includes("spare:v1"));
  const missing = cli(["show", "no-such-model"]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /not found \(HTTP 404\)/);
  const nokey = cli(["list"], { RKSERVE_API_KEY: "" });
  assert.equal(nokey.code, 1);
  assert.match(nokey.err, /HTTP 401/);
  const down = cli(["list"], { RKSERVE_HOST: "127.0.0.1:1" });
  assert.equal(down.code, 1);
  assert.match(down.err, /cannot reach rkserve/);
  assert.equal(cli(["ps", "--help"]).code, 0);
  assert.equal(cli(["show"]).code, 2);
});
