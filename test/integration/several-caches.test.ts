// Several caches for one system: each has its own state and result, and one
// cache down never stops the others.
import assert from "node:assert/strict";
import { test } from "node:test";
import { explain } from "./harness/cli.js";
import { scenario } from "./harness/fixture.js";
import { narinfo, startCache } from "./harness/nginx.js";

test("one cache down: the other is pushed, exit 1, status shows each", async (t) => {
  const s = await scenario({ paths: 30 });
  const second = await startCache();
  t.after(async () => {
    await s.destroy();
    await second.destroy();
  });
  s.config.caches.push({ name: "second", systems: ["x86_64-linux"], type: "nix", store: second.url });
  s.configFile();
  s.switchTo(0);
  await second.stop();

  const r = await s.run("push", "--json");
  assert.equal(r.code, 1, explain(r));
  const byCache = Object.fromEntries(r.json.results.map((x: { cache: string }) => [x.cache, x]));
  assert.equal(byCache.local.status, "pushed");
  assert.equal(byCache.local.counts.uploaded, 30);
  assert.equal(byCache.second.status, "failed");
  assert.match(byCache.second.error.message, /cache second is unreachable/);
  assert.equal(byCache.second.counts.closure, 30, "a cache that cannot be reached still gets the closure's size");
  assert.equal(await s.cache.count("PUT", narinfo), 30);

  const status = await s.run("status", "--json");
  const caches = Object.fromEntries(status.json.profiles[0].caches.map((c: { cache: string }) => [c.cache, c]));
  assert.equal(caches.local.pending, false);
  assert.equal(caches.local.lastResult.status, "ok");
  assert.equal(caches.second.pending, true);
  assert.equal(caches.second.lastResult.status, "failed");

  await second.start();
  await s.cache.clearLog();
  const again = await s.run("push", "--json");
  assert.equal(again.code, 0, explain(again));
  const results = Object.fromEntries(again.json.results.map((x: { cache: string }) => [x.cache, x]));
  assert.equal(results.local.status, "up-to-date");
  assert.equal(results.second.status, "pushed");
  assert.equal(results.second.counts.uploaded, 30);
  assert.deepEqual(await s.cache.requests(), [], "the cache that had it is not asked again");
});
