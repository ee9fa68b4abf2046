// A cache whose name stays while what it points at changes: state about the old place says
// nothing about the new one. Two real nginx caches, A and B, under the one name `local`: after
// the move, status says the target changed and the work is pending, and the next push leaves
// the whole closure in B (every narinfo and the NAR it names), not only what is new since A.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { missingFromCache } from "../faults/lib/ledger.js";
import { explain } from "./harness/cli.js";
import { onlyResult, type Scenario, scenario } from "./harness/fixture.js";
import { narinfo, startCache } from "./harness/nginx.js";

/** A second, empty cache; `local` is pointed at it. */
async function moveTo(s: Scenario, t: { after: (fn: () => Promise<void>) => void }) {
  const b = await startCache();
  t.after(() => b.destroy());
  s.config.caches[0].store = b.url;
  s.configFile();
  return b;
}

// biome-ignore lint/suspicious/noExplicitAny: the JSON shape of status --json
function onlyCache(json: any): any {
  assert.equal(json?.profiles?.[0]?.caches?.length, 1, JSON.stringify(json));
  return json.profiles[0].caches[0];
}

test("the same generation, `local` moved to an empty cache: status says so, and the push fills it", async (t) => {
  const s = await scenario({ paths: 20 });
  t.after(() => s.destroy());
  const gen = s.switchTo(0);
  const first = await s.run("push", "--json");
  assert.equal(first.code, 0, explain(first));

  const b = await moveTo(s, t);
  const status = await s.run("status", "--json");
  assert.equal(status.code, 0, explain(status));
  const c = onlyCache(status.json);
  assert.equal(c.pending, true, explain(status));
  assert.equal(c.targetChanged, true, explain(status));
  assert.equal(c.lastPushed, null, "nothing pushed to where `local` points now");
  const text = await s.run("status");
  assert.match(
    text.stdout,
    /^ {2}local: PENDING, never pushed to its target: it changed since the last push/m,
    explain(text),
  );

  // diff plans from the same fact: the new place got nothing from us.
  const diff = await s.run("diff", "--profile", "test", "--json");
  assert.equal(diff.code, 0, explain(diff));
  assert.equal(diff.json.caches[0].counts.missing, gen.closure.length, explain(diff));

  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(missingFromCache(b.dir, gen.closure), [], "the whole closure is in the new cache");
  const res = onlyResult(r);
  assert.equal(res.status, "pushed", explain(r));
  assert.equal(res.counts.uploaded, gen.closure.length);
  const after = onlyCache((await s.run("status", "--json")).json);
  assert.equal(after.targetChanged, false);
  assert.equal(after.pending, false);
});

test("a switch and a move: the new cache gets the whole closure, not only the paths new since the old one", async (t) => {
  const s = await scenario({ paths: 30, changed: 3 });
  t.after(() => s.destroy());
  s.switchTo(0);
  assert.equal((await s.run("push", "--json")).code, 0);
  const g2 = s.switchTo(1);

  const b = await moveTo(s, t);
  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(missingFromCache(b.dir, g2.closure), [], "the whole closure is in the new cache");
  assert.equal(onlyResult(r).counts.new, g2.closure.length, "every path of the closure is a candidate");
});

test("the same cache written another way, or with settings that do not change where: still up to date", async (t) => {
  const s = await scenario({ paths: 20 });
  t.after(() => s.destroy());
  s.switchTo(0);
  assert.equal((await s.run("push", "--json")).code, 0);

  s.config.caches[0].store = `${s.cache.url}/?priority=30&want-mass-query=true&compression=xz`;
  s.configFile();
  assert.equal(onlyCache((await s.run("status", "--json")).json).targetChanged, false);
  await s.cache.clearLog();
  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(onlyResult(r).status, "up-to-date");
  assert.deepEqual(await s.cache.requests(), [], "not a request: nothing to ask");
});

test("state from a genpush that recorded no target: read as changed, one query about the whole closure, no upload", async (t) => {
  const s = await scenario({ paths: 20 });
  t.after(() => s.destroy());
  const gen = s.switchTo(0);
  assert.equal((await s.run("push", "--json")).code, 0);
  const file = join(s.stateDir, "profiles", "test.json");
  const state = JSON.parse(readFileSync(file, "utf8"));
  delete state.caches.local.target;
  writeFileSync(file, JSON.stringify(state));

  const status = onlyCache((await s.run("status", "--json")).json);
  assert.equal(status.pending, true);
  assert.equal(status.targetChanged, true);
  const text = await s.run("status");
  assert.match(text.stdout, /local: PENDING, .*an older genpush did not record/, explain(text));

  await s.cache.clearLog();
  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(onlyResult(r).counts.uploaded, 0, explain(r));
  assert.equal(await s.cache.count("PUT"), 0, "nothing uploaded: the cache has it all");
  const asked = (await s.cache.count("HEAD", narinfo)) + (await s.cache.count("GET", narinfo));
  assert.ok(asked >= gen.closure.length, `asked about ${asked} of ${gen.closure.length} paths`);
  assert.equal(onlyCache((await s.run("status", "--json")).json).targetChanged, false, "the target is recorded now");
});
