// genpush push against a real Nix store and a real nginx binary cache: what it uploads,
// and what it asks the cache, counted from nginx's access log.
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { explain } from "./harness/cli.js";
import { hashOf, narinfoUris, onlyResult, scenario } from "./harness/fixture.js";
import { narinfo } from "./harness/nginx.js";
import { collectGarbage, deleteGeneration, isValid, minus, rollback } from "./harness/nix.js";

const PATHS = 120;

test("first push uploads the whole closure", async (t) => {
  const s = await scenario({ paths: PATHS });
  t.after(() => s.destroy());
  const gen = s.switchTo(0);

  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.json.ok, true, explain(r));
  const [profile] = r.json.profiles;
  assert.equal(profile.profile, "test");
  assert.equal(profile.status, "ok");
  assert.equal(profile.generation, 1);
  assert.equal(profile.storePath, gen.storePath);
  assert.equal(profile.system, "x86_64-linux");

  const res = onlyResult(r);
  assert.equal(res.profile, "test");
  assert.equal(res.cache, "local");
  assert.equal(res.generation, 1);
  assert.equal(res.storePath, gen.storePath);
  assert.equal(res.status, "pushed");
  assert.equal(res.counts.closure, PATHS);
  assert.equal(res.counts.missing, PATHS);
  assert.equal(res.counts.uploaded, PATHS);
  assert.ok(res.narBytes > 0, "narBytes");
  assert.equal(await s.cache.count("PUT", narinfo), PATHS);
  for (const p of gen.closure) {
    assert.ok(existsSync(join(s.cache.dir, `${hashOf(p)}.narinfo`)), `${p} is in the cache`);
  }
});

test("plain push prints one line per profile and cache", async (t) => {
  const s = await scenario({ paths: 30 });
  t.after(() => s.destroy());
  s.switchTo(0);

  const r = await s.run("push", "--profile", "test");
  assert.equal(r.code, 0, explain(r));
  const line = /^pushed (\d+) of (\d+) paths \(.+\) of test generation 1 to local in \S+$/m;
  const lines = r.stdout.split("\n").filter((l) => line.test(l));
  assert.equal(lines.length, 1, explain(r));
  const [, uploaded, closure] = line.exec(r.stdout) ?? [];
  assert.equal(Number(uploaded), 30);
  assert.equal(Number(closure), 30);
});

test("a switch that changes a few paths uploads exactly those", async (t) => {
  const s = await scenario({ paths: 150, changed: 3 });
  t.after(() => s.destroy());
  const g1 = s.switchTo(0);
  const first = await s.run("push", "--json");
  assert.equal(first.code, 0, explain(first));

  const g2 = s.switchTo(1);
  const added = minus(g2.closure, g1.closure);
  await s.cache.clearLog();
  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  const res = onlyResult(r);
  assert.equal(res.status, "pushed");
  assert.equal(res.generation, 2);
  assert.equal(res.storePath, g2.storePath);
  assert.equal(res.counts.closure, 150);
  assert.equal(res.counts.new, added.length);
  assert.equal(res.counts.uploaded, added.length);

  const requests = await s.cache.requests();
  const puts = requests.filter((q) => q.method === "PUT" && narinfo(q.uri)).map((q) => q.uri);
  assert.deepEqual(puts.sort(), narinfoUris(added));
  const asked = requests.filter((q) => ["HEAD", "GET"].includes(q.method) && narinfo(q.uri));
  assert.ok(asked.length <= 4 * added.length + 5, `${asked.length} narinfo queries for ${added.length} changed paths`);
});

test("a push with nothing new makes no request to the cache", async (t) => {
  const s = await scenario({ paths: 40 });
  t.after(() => s.destroy());
  s.switchTo(0);
  const first = await s.run("push", "--json");
  assert.equal(first.code, 0, explain(first));

  await s.cache.clearLog();
  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  const res = onlyResult(r);
  assert.equal(res.status, "up-to-date");
  assert.equal(res.generation, 1);
  assert.equal(res.counts.uploaded, 0);
  assert.equal(res.counts.closure, 40, "the closure's size as recorded when it was pushed");
  assert.deepEqual(await s.cache.requests(), []);
  const text = await s.run("push");
  assert.match(text.stdout, /^test generation 1 is already in local: nothing to push$/m, explain(text));
});

test("rollback to a generation already pushed uploads nothing", async (t) => {
  const s = await scenario({ paths: 60, changed: 4 });
  t.after(() => s.destroy());
  const g1 = s.switchTo(0);
  assert.equal((await s.run("push", "--json")).code, 0);
  s.switchTo(1);
  assert.equal((await s.run("push", "--json")).code, 0);

  rollback(s.profile);
  await s.cache.clearLog();
  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  const res = onlyResult(r);
  assert.equal(res.generation, 1);
  assert.equal(res.storePath, g1.storePath);
  assert.ok(["up-to-date", "pushed"].includes(res.status), res.status);
  assert.equal(res.counts.uploaded, 0);
  assert.equal(await s.cache.count("PUT"), 0);
});

test("last pushed generation garbage-collected: state knows what the cache holds, only new paths are asked", async (t) => {
  const s = await scenario({ paths: 100, changed: 3 });
  t.after(() => s.destroy());
  const g1 = s.switchTo(0);
  assert.equal((await s.run("push", "--json")).code, 0);
  const g2 = s.switchTo(1);
  const added = minus(g2.closure, g1.closure);

  deleteGeneration(s.profile, 1);
  collectGarbage(minus(g1.closure, g2.closure));
  assert.equal(isValid(g1.storePath), false, "generation 1 is gone from the store");

  await s.cache.clearLog();
  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  const res = onlyResult(r);
  assert.equal(res.status, "pushed");
  assert.equal(res.counts.new, added.length);
  assert.equal(res.counts.uploaded, added.length);
  const requests = await s.cache.requests();
  const puts = requests.filter((q) => q.method === "PUT" && narinfo(q.uri)).map((q) => q.uri);
  assert.deepEqual(puts.sort(), narinfoUris(added));
  const asked = requests.filter((q) => ["HEAD", "GET"].includes(q.method) && narinfo(q.uri));
  assert.ok(asked.length <= 4 * added.length + 5, `${asked.length} narinfo queries for ${added.length} new paths`);
});

test("no record of what the cache holds and the old generation collected: ask about all, upload only what is missing", async (t) => {
  const s = await scenario({ paths: 100, changed: 3 });
  t.after(() => s.destroy());
  const g1 = s.switchTo(0);
  assert.equal((await s.run("push", "--json")).code, 0);
  // A state without `held`, as for a closure over the state's bound.
  const file = join(s.stateDir, "profiles", "test.json");
  const state = JSON.parse(readFileSync(file, "utf8"));
  state.caches.local.held = null;
  writeFileSync(file, JSON.stringify(state));
  const g2 = s.switchTo(1);
  const added = minus(g2.closure, g1.closure);
  deleteGeneration(s.profile, 1);
  collectGarbage(minus(g1.closure, g2.closure));

  await s.cache.clearLog();
  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  const res = onlyResult(r);
  assert.equal(res.counts.new, g2.closure.length, "the whole closure is a candidate");
  assert.equal(res.counts.uploaded, added.length);
  const asked = (await s.cache.count("HEAD", narinfo)) + (await s.cache.count("GET", narinfo));
  assert.ok(asked >= g2.closure.length, `asked about ${asked} of ${g2.closure.length} paths`);
  const requests = await s.cache.requests();
  const puts = requests.filter((q) => q.method === "PUT" && narinfo(q.uri)).map((q) => q.uri);
  assert.deepEqual(puts.sort(), narinfoUris(added));
});

test("--dry-run plans without uploading or recording", async (t) => {
  const s = await scenario({ paths: 40 });
  t.after(() => s.destroy());
  const gen = s.switchTo(0);

  const dry = await s.run("push", "--dry-run", "--json");
  assert.equal(dry.code, 0, explain(dry));
  const planned = onlyResult(dry);
  assert.equal(planned.status, "planned");
  assert.equal(planned.counts.missing, 40);
  assert.equal(await s.cache.count("PUT"), 0);
  assert.equal(existsSync(join(s.cache.dir, `${hashOf(gen.storePath)}.narinfo`)), false);

  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(onlyResult(r).counts.uploaded, 40);
});

test("diff names the paths each cache lacks, without uploading", async (t) => {
  const s = await scenario({ paths: 80, changed: 2 });
  t.after(() => s.destroy());
  const g1 = s.switchTo(0);
  assert.equal((await s.run("push", "--json")).code, 0);
  const g2 = s.switchTo(1);
  const added = minus(g2.closure, g1.closure);

  await s.cache.clearLog();
  const r = await s.run("diff", "--profile", "test", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.json.profile, "test");
  assert.equal(r.json.to.generation, 2);
  assert.equal(r.json.to.storePath, g2.storePath);
  const [c] = r.json.caches;
  assert.equal(c.cache, "local");
  assert.equal(c.from?.generation, 1);
  assert.equal(c.from?.storePath, g1.storePath);
  assert.deepEqual([...c.missing].sort(), [...added].sort());
  assert.equal(c.counts.missing, added.length);
  assert.ok(c.narBytes > 0, "narBytes");
  assert.equal(await s.cache.count("PUT"), 0);
});

test("a configured profile that does not exist yet is absent, not an error", async (t) => {
  const s = await scenario({ paths: 10 });
  t.after(() => s.destroy());

  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.json.ok, true);
  const [profile] = r.json.profiles;
  assert.equal(profile.profile, "test");
  assert.equal(profile.status, "absent");
  assert.equal(profile.generation, null);
  assert.deepEqual(r.json.results, []);
  assert.equal(await s.cache.count("PUT"), 0);
});
