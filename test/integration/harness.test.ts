// The harness itself, without genpush: real nginx, real Nix store, real pulls.
import assert from "node:assert/strict";
import { existsSync, readFileSync, readlinkSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { hashOf } from "./harness/fixture.js";
import { type Cache, narinfo, startCache } from "./harness/nginx.js";
import {
  buildGeneration,
  closureOf,
  collectGarbage,
  deleteGeneration,
  isValid,
  makeKey,
  minus,
  newSeed,
  nix,
  pullIntoFreshStore,
  rollback,
  switchProfile,
  tempDir,
} from "./harness/nix.js";

let cache: Cache;
before(async () => {
  cache = await startCache();
});
after(async () => {
  await cache.destroy();
});

test("nginx serves nix-cache-info and counts requests", async () => {
  const res = await fetch(`${cache.url}/nix-cache-info`);
  assert.equal(res.status, 200);
  assert.match(await res.text(), /^StoreDir: \/nix\/store\n/);
  const put = await fetch(`${cache.url}/a/b/c.narinfo`, { method: "PUT", body: "x" });
  assert.ok(put.status === 201 || put.status === 204, `PUT answered ${put.status}`);
  assert.equal(readFileSync(join(cache.dir, "a/b/c.narinfo"), "utf8"), "x");
  const head = await fetch(`${cache.url}/missing.narinfo`, { method: "HEAD" });
  assert.equal(head.status, 404);
  const requests = await cache.requests();
  assert.deepEqual(
    requests.map((r) => `${r.method} ${r.uri} ${r.status}`),
    ["GET /nix-cache-info 200", "PUT /a/b/c.narinfo 201", "HEAD /missing.narinfo 404"],
  );
  assert.equal(await cache.count("PUT", narinfo), 1);
  await cache.clearLog();
  assert.deepEqual(await cache.requests(), []);
});

test("stop and start keep the port and the files", async () => {
  await cache.stop();
  await assert.rejects(fetch(`${cache.url}/nix-cache-info`));
  await cache.start();
  assert.equal((await fetch(`${cache.url}/nix-cache-info`)).status, 200);
  await cache.clearLog();
});

test("a generation of 120 paths builds, pushes by hand and pulls with its key only", async () => {
  const seed = newSeed();
  const started = Date.now();
  const gen = buildGeneration({ seed, paths: 120 });
  const buildMs = Date.now() - started;
  assert.ok(buildMs < 30_000, `building 120 paths took ${buildMs} ms`);
  assert.equal(gen.closure.length, 120);
  assert.ok(gen.closure.includes(gen.storePath));
  assert.equal(readFileSync(join(gen.storePath, "system"), "utf8"), "x86_64-linux");
  assert.ok(
    gen.closure.every((p) => p.includes(`-gp-${seed}-`)),
    "every path carries the seed",
  );

  const key = makeKey(`harness-${seed}`);
  assert.match(key.publicKey, new RegExp(`^harness-${seed}:`));
  await cache.clearLog();
  nix("nix", ["copy", "--to", `${cache.url}?secret-key=${key.secretKeyFile}`, gen.storePath]);
  assert.equal(await cache.count("PUT", narinfo), 120);
  for (const p of gen.closure) assert.ok(existsSync(join(cache.dir, `${hashOf(p)}.narinfo`)), p);

  const pulled = pullIntoFreshStore(cache.url, gen.storePath, key.publicKey);
  assert.ok(pulled.ok, pulled.stderr);
  const other = makeKey(`other-${seed}`);
  assert.equal(pullIntoFreshStore(cache.url, gen.storePath, other.publicKey).ok, false);

  // A cache that lost one narinfo cannot give the whole closure any more.
  unlinkSync(join(cache.dir, `${hashOf(gen.closure[0] ?? "")}.narinfo`));
  assert.equal(pullIntoFreshStore(cache.url, gen.storePath, key.publicKey).ok, false);
});

test("versions differ in the changed leaves, their packages and the top", () => {
  const seed = newSeed();
  const v0 = buildGeneration({ seed, paths: 40, changed: 2, version: 0 });
  const v1 = buildGeneration({ seed, paths: 40, changed: 2, version: 1 });
  const again = buildGeneration({ seed, paths: 40, changed: 2, version: 0 });
  assert.equal(again.storePath, v0.storePath);
  const added = minus(v1.closure, v0.closure);
  assert.equal(added.filter((p) => p.includes("-leaf-")).length, 2);
  assert.ok(added.includes(v1.storePath));
  assert.ok(added.length >= 4 && added.length <= 6, `changed ${added.length}`);
  assert.equal(v1.closure.length, 40);
});

test("profiles switch, roll back, lose generations and their paths", () => {
  const seed = newSeed();
  const profile = join(tempDir(), "test");
  const v0 = buildGeneration({ seed, paths: 20, changed: 2, version: 0 });
  const v1 = buildGeneration({ seed, paths: 20, changed: 2, version: 1 });
  switchProfile(profile, v0.storePath);
  switchProfile(profile, v1.storePath);
  assert.equal(readlinkSync(profile), "test-2-link");
  assert.equal(readlinkSync(`${profile}-2-link`), v1.storePath);
  rollback(profile);
  assert.equal(readlinkSync(profile), "test-1-link");
  // Nix reuses the newest generation when it already points to the same path.
  switchProfile(profile, v1.storePath);
  assert.equal(readlinkSync(profile), "test-2-link");

  deleteGeneration(profile, 1);
  assert.equal(existsSync(`${profile}-1-link`), false);
  const oldOnly = minus(v0.closure, v1.closure);
  collectGarbage(oldOnly);
  assert.equal(isValid(v0.storePath), false);
  assert.ok(oldOnly.every((p) => !existsSync(p)));
  assert.ok(isValid(v1.storePath));
  assert.deepEqual(closureOf(v1.storePath), v1.closure);
});
