// A generation's push to an HTTP cache asks about its candidates and uploads at once
// (Cache.pushMissing) only when every question reaches the HTTP client before the first upload
// can: beyond that, later questions would wait in the client's queue behind NAR PUTs, which on a
// slow uplink can outlast a question's retry budget. Then the push asks first (pushMissing says
// undefined, having asked nothing), and uploads after, as it always did.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { asksAllAtOnce } from "../../../src/caches/http-binary-cache.js";
import { openCache } from "../../../src/caches/index.js";
import type { PathInfo } from "../../../src/nix/path-info.js";
import type { StorePath } from "../../../src/nix/store-path.js";
import { nixCacheConfig } from "../helpers/cache-config.js";

test("up to 1,024 candidates are asked about at once; more are asked about first", () => {
  assert.equal(asksAllAtOnce(1), true);
  assert.equal(asksAllAtOnce(1024), true);
  assert.equal(asksAllAtOnce(1025), false);
});

test("pushMissing with more candidates than go to the client at once asks nothing and leaves the push to ask first", async (t) => {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    res.writeHead(req.url === "/nix-cache-info" ? 200 : 404).end("StoreDir: /nix/store\n");
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  t.after(() => new Promise<void>((ok) => server.close(() => ok())));
  const cache = openCache(
    nixCacheConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}?compression=none`),
  );
  t.after(() => cache.close());
  // Paths genpush's own uploader would take (each has its narinfo fields).
  const candidates: PathInfo[] = Array.from({ length: 1025 }, (_, i) => ({
    path: `/nix/store/${String(i)
      .padStart(32, "0")
      .replace(/[0-9]/g, (d) => "abcdfghijk"[Number(d)] ?? "a")}-p${i}` as StorePath,
    narSize: 1000,
    references: [],
    signedBy: [],
    ultimate: true,
    narinfo: { narHash: { algorithm: "sha256", digest: Buffer.alloc(32) }, signatures: [] },
  }));
  let told = false;
  const result = await cache.pushMissing?.(candidates, { onMissing: () => (told = true) }, AbortSignal.timeout(10_000));
  assert.equal(result, undefined);
  assert.equal(told, false);
  assert.deepEqual(requests, []);
});
