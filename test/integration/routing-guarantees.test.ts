// Nothing goes where it should not (docs/guarantees.md, docs/configuration.md): queued paths
// and `push --paths` respect each cache's `hosts` and `systemFeatures`, a cache naming both
// takes this host only when both match, and `exclude` keeps what it names out of every cache.
// Real Nix and four real nginx caches; Nix's system-features set through NIX_CONFIG, as
// nix.conf would.
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { explain, runGenpush } from "./harness/cli.js";
import { hashOf, scenario } from "./harness/fixture.js";
import { type Cache, startCache } from "./harness/nginx.js";
import { buildDerivations, closureOf, nixEnv } from "./harness/nix.js";

const TUNED = { NIX_CONFIG: `${nixEnv.NIX_CONFIG}\nsystem-features = gccarch-genpushtest` };

/** The store paths whose narinfo the cache holds. */
function held(cache: Cache, paths: string[]): string[] {
  return paths.filter((path) => existsSync(join(cache.dir, `${hashOf(path)}.narinfo`)));
}

function empty(cache: Cache): boolean {
  return readdirSync(cache.dir).every((name) => name === "nix-cache-info");
}

test("queued paths and push --paths go only to the caches whose hosts and systemFeatures both take this host", async (t) => {
  const s = await scenario();
  const caches = {
    otherHosts: await startCache(),
    tuned: await startCache(),
    hostAndFeature: await startCache(),
    featureOtherHost: await startCache(),
  };
  t.after(async () => {
    for (const cache of Object.values(caches)) await cache.destroy();
    await s.destroy();
  });
  const nixCache = (name: string, cache: Cache, match: object) => ({
    name,
    type: "nix",
    systems: ["x86_64-linux"],
    store: cache.url,
    ...match,
  });
  s.config.caches.push(
    nixCache("other-hosts", caches.otherHosts, { hosts: ["build-*"] }),
    nixCache("tuned", caches.tuned, { systemFeatures: ["gccarch-genpushtest"] }),
    nixCache("host-and-feature", caches.hostAndFeature, {
      hosts: [hostname()],
      systemFeatures: ["gccarch-genpushtest"],
    }),
    nixCache("feature-other-host", caches.featureOtherHost, {
      hosts: ["build-*"],
      systemFeatures: ["gccarch-genpushtest"],
    }),
  );
  const config = s.configFile();
  const [queued, given, queuedTuned, givenTuned] = buildDerivations(s.seed, 4) as [string, string, string, string];

  // This host, without the feature: only `local` (which names neither) takes anything.
  assert.equal((await runGenpush(["enqueue", queued], { config })).code, 0);
  const plain = await runGenpush(["push", "--queue", "--json"], { config });
  assert.equal(plain.code, 0, explain(plain));
  assert.deepEqual(
    plain.json.queue.results.map((r: { cache: string }) => r.cache),
    ["local"],
  );
  assert.equal(plain.json.queue.done, 1, explain(plain));
  const paths = await runGenpush(["push", "--paths", given, "--json"], { config });
  assert.equal(paths.code, 0, explain(paths));
  assert.deepEqual(
    paths.json.paths.map((r: { cache: string }) => r.cache),
    ["local"],
  );
  for (const [name, cache] of Object.entries(caches)) assert.ok(empty(cache), `nothing went to ${name}`);
  assert.deepEqual(held(s.cache, [queued, given]), [queued, given]);

  // With the feature: `tuned` and `host-and-feature` take them too; `other-hosts` still not,
  // nor `feature-other-host`, whose feature matches but whose hosts do not.
  assert.equal((await runGenpush(["enqueue", queuedTuned], { config, env: TUNED })).code, 0);
  const tuned = await runGenpush(["push", "--queue", "--json"], { config, env: TUNED });
  assert.equal(tuned.code, 0, explain(tuned));
  assert.equal(tuned.json.queue.done, 1, explain(tuned));
  const pathsTuned = await runGenpush(["push", "--paths", givenTuned, "--json"], { config, env: TUNED });
  assert.equal(pathsTuned.code, 0, explain(pathsTuned));
  for (const r of [tuned.json.queue.results, pathsTuned.json.paths]) {
    assert.deepEqual(
      r.map((x: { cache: string }) => x.cache),
      ["local", "tuned", "host-and-feature"],
    );
  }
  for (const cache of [caches.tuned, caches.hostAndFeature]) {
    assert.deepEqual(held(cache, [queued, given, queuedTuned, givenTuned]), [queuedTuned, givenTuned]);
  }
  assert.ok(empty(caches.otherHosts), "nothing went to other-hosts");
  assert.ok(empty(caches.featureOtherHost), "nothing went to feature-other-host: its hosts do not match");
});

test("exclude keeps what it names out of the cache, for queued paths and push --paths alike", async (t) => {
  const s = await scenario();
  t.after(() => s.destroy());
  const [kept, queuedOut, givenOut] = buildDerivations(s.seed, 3) as [string, string, string];
  s.config.exclude = ["gpq-*-top-1", "gpq-*-top-2"];
  s.configFile();
  assert.equal((await s.run("enqueue", kept, queuedOut)).code, 0);

  const queue = await s.run("push", "--queue", "--json");
  assert.equal(queue.code, 0, explain(queue));
  assert.equal(queue.json.queue.results[0].counts.excluded, 1, explain(queue));
  assert.equal(queue.json.queue.done, 1, "the entry is done: the cache has all of it that it takes");
  const paths = await s.run("push", "--paths", givenOut, "--json");
  assert.equal(paths.code, 0, explain(paths));
  assert.equal(paths.json.paths[0].counts.excluded, 1, explain(paths));

  assert.deepEqual(held(s.cache, closureOf(kept)), closureOf(kept), "what is not excluded is pushed");
  assert.deepEqual(held(s.cache, [queuedOut, givenOut]), [], "no excluded path reached the cache");
});
