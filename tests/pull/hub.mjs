// A stand-in for the Hugging Face hub on 127.0.0.1 with the layout rkserve
// pull relies on:
//   GET /api/models/OWNER/REPO/tree/REV?recursive=true   file listing (JSON
//       array of {type, oid, size, path, lfs: {oid, size, pointerSize}}),
//       paginated with a Link: <...>; rel="next" header when pageSize is set
//   GET /OWNER/REPO/resolve/REV/PATH   LFS files: 302 to /cdn/SHA256 with
//       X-Repo-Commit, X-Linked-Etag, X-Linked-Size; small files: 200 with a
//       git-style ETag
//   GET /cdn/SHA256                    the bytes, with Range support
//   GET /files/NAME                    plain files for direct URLs
// Repositories can be gated (401 without the token, 403 with another one),
// drop the connection partway through a file once, or serve a corrupted byte.
import crypto from "node:crypto";
import http from "node:http";

export const sha256 = (buf) => crypto.createHash("sha256").update(buf).digest("hex");
const sha1 = (buf) => crypto.createHash("sha1").update(buf).digest("hex");

// repos: { "owner/repo": { files: { path: Buffer }, commit, token, pageSize,
//   dropOnce: { path: bytes }, corrupt: { path: offset },
//   slow: { path: bytes per 20 ms }, ignoreRange: true } }
// direct: { name: { data: Buffer, etag: true } }
export async function startHub({ repos = {}, direct = {} } = {}) {
  const log = [];
  const blobs = new Map(); // sha256 -> { data, repo, path }
  for (const [id, repo] of Object.entries(repos)) {
    repo.commit ??= sha1(Buffer.from(id)).slice(0, 40);
    repo.dropped = new Set();
    for (const [p, data] of Object.entries(repo.files)) {
      if (data.length >= 64) blobs.set(sha256(data), { data, id, path: p });
    }
  }

  function auth(req, res, repo) {
    if (!repo.token) return true;
    const h = req.headers.authorization;
    if (!h) {
      res.writeHead(401, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ error: "Access to model is restricted. You must be authenticated to access it." }));
      return false;
    }
    if (h !== `Bearer ${repo.token}`) {
      res.writeHead(403, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ error: "Access to model is restricted and you are not in the authorized list." }));
      return false;
    }
    return true;
  }

  function listing(repo, url, res) {
    const entries = [];
    const dirs = new Set();
    for (const [p, data] of Object.entries(repo.files)) {
      const parts = p.split("/");
      for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
      const e = { type: "file", oid: sha1(data), size: data.length, path: p };
      if (data.length >= 64) e.lfs = { oid: sha256(data), size: data.length, pointerSize: 134 };
      entries.push(e);
    }
    for (const d of dirs) entries.push({ type: "directory", oid: sha1(Buffer.from(d)), size: 0, path: d });
    entries.sort((a, b) => a.path.localeCompare(b.path));
    const headers = { "Content-Type": "application/json" };
    let page = entries;
    if (repo.pageSize) {
      const cursor = Number(url.searchParams.get("cursor") ?? 0);
      page = entries.slice(cursor, cursor + repo.pageSize);
      if (cursor + repo.pageSize < entries.length) {
        const next = new URL(url);
        next.searchParams.set("cursor", String(cursor + repo.pageSize));
        headers.Link = `<${next.href}>; rel="next"`;
      }
    }
    res.writeHead(200, headers);
    res.end(JSON.stringify(page));
  }

  function sendBytes(req, res, data, { etag, dropAt, corruptAt, slow, ignoreRange } = {}) {
    let body = data;
    if (corruptAt !== undefined) {
      body = Buffer.from(data);
      body[corruptAt] ^= 0x5a;
    }
    const headers = { "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream" };
    if (etag) headers.ETag = etag;
    let start = 0;
    const range = !ignoreRange && req.headers.range && /^bytes=(\d+)-$/.exec(req.headers.range);
    if (range) {
      start = Number(range[1]);
      if (start >= body.length) {
        res.writeHead(416, { "Content-Range": `bytes */${body.length}` });
        res.end();
        return;
      }
      headers["Content-Range"] = `bytes ${start}-${body.length - 1}/${body.length}`;
    }
    headers["Content-Length"] = String(body.length - start);
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === "HEAD") return res.end();
    if (dropAt !== undefined && dropAt > start) {
      // half the file, then the connection goes away
      res.write(body.subarray(start, dropAt), () => setTimeout(() => req.socket.destroy(), 50));
      return;
    }
    if (slow) {
      let pos = start;
      const tick = () => {
        if (res.destroyed) return;
        const end = Math.min(pos + slow, body.length);
        res.write(body.subarray(pos, end));
        pos = end;
        if (pos >= body.length) res.end();
        else setTimeout(tick, 20);
      };
      return tick();
    }
    res.end(body.subarray(start));
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    const path = decodeURIComponent(url.pathname);
    log.push({ method: req.method, path, range: req.headers.range, auth: req.headers.authorization });
    let m;
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(path))) {
      const repo = repos[m[1]];
      if (!repo) {
        // the hub answers 401 for repositories it will not admit exist
        res.writeHead(401, { "Content-Type": "application/json" });
        return res.end(JSON.stringify({ error: "Repository not found" }));
      }
      return listing(repo, url, res);
    }
    if ((m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path))) {
      const repo = repos[m[1]];
      const data = repo?.files[m[3]];
      if (repo && !auth(req, res, repo)) return;
      if (!data) {
        res.writeHead(404, { "Content-Type": "application/json", "X-Error-Code": "EntryNotFound" });
        return res.end(JSON.stringify({ error: "Entry not found" }));
      }
      const common = { "X-Repo-Commit": repo.commit };
      if (data.length >= 64) {
        const digest = sha256(data);
        res.writeHead(302, {
          ...common,
          Location: `/cdn/${digest}?name=${encodeURIComponent(m[3])}`,
          "X-Linked-Etag": `"${digest}"`,
          "X-Linked-Size": String(data.length),
          ETag: `"${sha1(data)}"`,
        });
        return res.end();
      }
      res.setHeader("X-Repo-Commit", repo.commit);
      return sendBytes(req, res, data, { etag: `"${sha1(data)}"` });
    }
    if ((m = /^\/cdn\/([0-9a-f]{64})$/.exec(path))) {
      const blob = blobs.get(m[1]);
      if (!blob) {
        res.writeHead(404);
        return res.end("no such blob");
      }
      const repo = repos[blob.id];
      const opts = { etag: `"${crypto.createHash("md5").update(blob.data).digest("hex")}"` };
      const drop = repo.dropOnce?.[blob.path];
      if (drop !== undefined && !repo.dropped.has(blob.path)) {
        repo.dropped.add(blob.path);
        opts.dropAt = drop;
      }
      if (repo.corrupt?.[blob.path] !== undefined) opts.corruptAt = repo.corrupt[blob.path];
      opts.slow = repo.slow?.[blob.path];
      opts.ignoreRange = repo.ignoreRange;
      return sendBytes(req, res, blob.data, opts);
    }
    if ((m = /^\/files\/([^/]+)$/.exec(path)) && direct[m[1]]) {
      const f = direct[m[1]];
      return sendBytes(req, res, f.data, { etag: f.etag ? `"${sha256(f.data)}"` : undefined });
    }
    res.writeHead(404, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ error: "not found" }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = server.address().port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}
