// `fleet` on a cache (docs/fleet.md): only a cache configured as a fleet's is probed for claims
// and claims paths; any other is pushed to as one host alone would, with no MKCOL or DELETE, and
// verify lists no claims in it. Against genpush's real cache and HTTP client, and a loopback
// server that takes MKCOL as nginx with `dav_methods PUT DELETE MKCOL` does.
import assert from "node:assert/strict";
import http from "node:http";
import { describe, it, type TestContext } from "node:test";
import { openCache } from "../../../src/caches/index.js";
import type { NixCacheConfig } from "../../../src/config/config.js";
import { nixCacheConfig } from "../helpers/cache-config.js";
import { listenOnLoopback } from "../helpers/loopback.js";

/** A cache that takes everything: its `nix-cache-info`, MKCOL 201, DELETE 204; the requests' methods and paths. */
async function davCache(t: TestContext): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      requests.push(`${req.method} ${path}`);
      if (req.method === "GET" && path === "/nix-cache-info") res.writeHead(200).end("StoreDir: /nix/store\n");
      else if (req.method === "MKCOL") res.writeHead(201).end();
      else if (req.method === "DELETE") res.writeHead(204).end();
      else if (req.method === "GET" && path === "/claims/") res.writeHead(200).end("[]");
      else res.writeHead(404).end();
    });
  });
  return { url: await listenOnLoopback(t, server), requests };
}

function nixCache(store: string, fleet: boolean): NixCacheConfig {
  return nixCacheConfig(store, { queryConcurrency: 4, timeoutSeconds: 5, fleet });
}

describe("fleet: claims only where the configuration asks for them", () => {
  it("a cache without `fleet` that takes MKCOL: no probe, no claim, and verify lists none", async (t) => {
    const server = await davCache(t);
    const cache = openCache(nixCache(server.url, false));
    t.after(() => cache.close());
    await cache.push([], {}, AbortSignal.timeout(20_000));
    assert.deepEqual(
      server.requests.filter((r) => !r.startsWith("GET ") && !r.startsWith("HEAD ")),
      [],
      "nothing but questions",
    );
    assert.equal(await cache.claims?.(AbortSignal.timeout(20_000)), undefined);
    assert.ok(!server.requests.some((r) => r.includes("/claims/")), server.requests.join("\n"));
  });

  it("a fleet's cache: probed for claims (MKCOL, then DELETE), and verify lists its claims", async (t) => {
    const server = await davCache(t);
    const cache = openCache(nixCache(server.url, true));
    t.after(() => cache.close());
    await cache.push([], {}, AbortSignal.timeout(20_000));
    const probe = server.requests.filter((r) => /^(MKCOL|DELETE) \/claims\/probe-/.test(r));
    assert.deepEqual(
      probe.map((r) => r.split(" ")[0]),
      ["MKCOL", "DELETE"],
      server.requests.join("\n"),
    );
    assert.deepEqual(await cache.claims?.(AbortSignal.timeout(20_000)), []);
  });
});
