// Questions (a narinfo's HEAD or GET) go on connections of their own: a push asks about its
// candidates and uploads at once (Cache.pushMissing), however many candidates it has, and no
// question waits in the client's queue behind an upload, which on a slow uplink can hold every
// connection for longer than a question's retry budget.
import assert from "node:assert/strict";
import http from "node:http";
import { test } from "node:test";
import { HttpClient } from "../../../src/caches/http.js";
import { openCache } from "../../../src/caches/index.js";
import type { PathInfo } from "../../../src/nix/path-info.js";
import type { StorePath } from "../../../src/nix/store-path.js";
import { nixCacheConfig } from "../helpers/cache-config.js";
import { listenOnLoopback } from "../helpers/loopback.js";

/** A server of the test's own: `answer` decides each request's status, or holds it (undefined). */
async function server(
  t: { after(fn: () => unknown): void },
  answer: (req: http.IncomingMessage) => number | undefined,
) {
  const requests: string[] = [];
  const held: http.ServerResponse[] = [];
  const srv = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    const status = answer(req);
    if (status === undefined) held.push(res);
    else res.writeHead(status, { "content-length": "0" }).end();
  });
  return { url: await listenOnLoopback(t, srv), requests, held };
}

test("a question is answered while every connection for uploads is taken by one the server holds", async (t) => {
  const s = await server(t, (req) => (req.method === "PUT" ? undefined : 404));
  const client = new HttpClient({ cacheName: "local", maxSockets: 1, timeoutMs: 60_000, authHint: "" });
  t.after(() => client.close());
  const upload = client.request(new URL("/nar/x.nar", s.url), { method: "PUT", body: Buffer.from("nar") });
  upload.catch(() => {});
  // The upload holds the one connection an origin gets for requests that are not questions.
  while (s.held.length === 0) await new Promise((ok) => setTimeout(ok, 5));
  const started = performance.now();
  const answer = await client.request(new URL("/x.narinfo", s.url), {
    method: "HEAD",
    accept: [404],
    question: true,
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(answer.status, 404);
  assert.ok(performance.now() - started < 5_000);
  for (const res of s.held) res.writeHead(201, { "content-length": "0" }).end();
  assert.equal((await upload).status, 201);
});

test("pushMissing asks about more candidates than go to the client at once itself, each once", async (t) => {
  // The cache has every path: nothing is uploaded, and every candidate is asked about.
  const s = await server(t, () => 200);
  const cache = openCache(nixCacheConfig(`${s.url}?compression=none`));
  t.after(() => cache.close());
  // Paths genpush's own uploader would take (each has its narinfo fields).
  const candidates: PathInfo[] = Array.from({ length: 1500 }, (_, i) => ({
    path: `/nix/store/${String(i)
      .padStart(32, "0")
      .replace(/[0-9]/g, (d) => "abcdfghijk"[Number(d)] ?? "a")}-p${i}` as StorePath,
    narSize: 1000,
    references: [],
    signedBy: [],
    ultimate: true,
    narinfo: { narHash: { algorithm: "sha256", digest: Buffer.alloc(32) }, signatures: [] },
  }));
  let told: PathInfo[] | undefined;
  const result = await cache.pushMissing?.(candidates, { onMissing: (m) => (told = m) }, AbortSignal.timeout(30_000));
  assert.deepEqual(result, []);
  assert.deepEqual(told, []);
  const heads = s.requests.filter((r) => r.startsWith("HEAD "));
  assert.equal(heads.length, candidates.length);
  assert.equal(new Set(heads).size, candidates.length);
  assert.deepEqual(
    s.requests.filter((r) => !r.startsWith("HEAD ")),
    ["GET /nix-cache-info"],
  );
});

test("the questions go out before the paths' GC root is made (`rooted`), and no NAR is read before it is", async (t) => {
  // The cache lacks everything: each path is to be uploaded, once it may be read.
  const s = await server(t, (req) => (req.method === "HEAD" ? 404 : 201));
  const cache = openCache(nixCacheConfig(`${s.url}?compression=none`));
  t.after(() => cache.close());
  // Paths not in the store: reading one fails the push at once, so the push still under way
  // is a push that has read nothing.
  const candidates: PathInfo[] = ["a", "b", "c"].map((c) => ({
    path: `/nix/store/${c.repeat(32)}-unrooted` as StorePath,
    narSize: 1000,
    references: [],
    signedBy: [],
    ultimate: true,
    narinfo: { narHash: { algorithm: "sha256", digest: Buffer.alloc(32) }, signatures: [] },
  }));
  let root!: () => void;
  const rooted = new Promise<void>((resolve) => {
    root = resolve;
  });
  let settled = false;
  const pushing = cache.pushMissing?.(candidates, { rooted }, AbortSignal.timeout(30_000));
  pushing?.then(
    () => (settled = true),
    () => (settled = true),
  );
  const asking = Date.now();
  while (s.requests.filter((r) => r.startsWith("HEAD ")).length < candidates.length) {
    assert.ok(Date.now() - asking < 10_000, `the questions did not go out before the root: ${s.requests.join(", ")}`);
    await new Promise((ok) => setTimeout(ok, 5));
  }
  // Every answer is in; a while later nothing has been read, nor sent but the questions.
  await new Promise((ok) => setTimeout(ok, 300));
  assert.equal(settled, false, "the push read nothing before the root was made");
  assert.deepEqual(
    s.requests.filter((r) => !r.startsWith("HEAD ")),
    ["GET /nix-cache-info"],
  );
  root();
  await assert.rejects(pushing as Promise<unknown>, /unrooted/, "once the root is made, the NARs are read");
});
