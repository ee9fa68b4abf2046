// The queue's promises (docs/guarantees.md, "Queued builds are held too"), each tried against
// the real Nix store and real nginx caches: an entry leaves the queue only when every cache
// serving it has its closure, a cache that moved counting as having nothing; a dry run of the
// queue or of given paths uploads nothing; paths gone from the local store are dropped with a
// warning and hold nothing up; roots an enqueue left without an entry go after the grace
// period (an hour) and not before.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { explain } from "./harness/cli.js";
import { hashOf, type Scenario, scenario } from "./harness/fixture.js";
import { type Cache, startCache } from "./harness/nginx.js";
import { buildDerivations, closureOf, collectGarbage, isValid, nix } from "./harness/nix.js";

/** The entries in the queue (recorded and pending), as files hold them. */
function entries(s: Scenario): { id: string; paths: string[]; done: { cache: string; target: string }[] }[] {
  return ["new", "pending"].flatMap((dir) => {
    const path = join(s.stateDir, "queue", dir);
    if (!existsSync(path)) return [];
    return readdirSync(path)
      .filter((name) => name.endsWith(".json"))
      .map((name) => JSON.parse(readFileSync(join(path, name), "utf8")));
  });
}

function holds(cache: Cache, paths: string[]): boolean {
  return paths.every((path) => existsSync(join(cache.dir, `${hashOf(path)}.narinfo`)));
}

function rootDirs(s: Scenario): string[] {
  const dir = join(s.stateDir, "queue", "roots");
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

test("with two caches, an entry leaves the queue only once both have its closure; a cache that moved has nothing", async (t) => {
  const s = await scenario();
  const second = await startCache();
  const moved = await startCache();
  t.after(async () => {
    await moved.destroy();
    await second.destroy();
    await s.destroy();
  });
  s.config.caches.push({
    name: "second",
    systems: ["x86_64-linux"],
    type: "nix",
    store: second.url,
    timeoutSeconds: 1,
  });
  s.configFile();
  const [first, later] = buildDerivations(s.seed, 2) as [string, string];
  assert.equal((await s.run("enqueue", first)).code, 0);

  // `second` is down: `local` gets the closure, the entry stays, and so do its roots.
  await second.stop();
  const half = await s.run("push", "--queue", "--json");
  assert.equal(half.code, 1, explain(half));
  assert.equal(half.json.queue.done, 0, explain(half));
  assert.ok(holds(s.cache, closureOf(first)), "local has the closure");
  const [entry] = entries(s);
  assert.deepEqual(entry?.paths, [first], "the entry is still queued while second lacks it");
  assert.deepEqual(
    entry?.done.map((d) => d.cache),
    ["local"],
  );
  assert.throws(() => collectGarbage([first]), /still alive/, "and its paths are still held");

  // Back: only second is asked for it, and the entry leaves.
  await second.start();
  await s.cache.clearLog();
  const whole = await s.run("push", "--queue", "--json");
  assert.equal(whole.code, 0, explain(whole));
  assert.equal(whole.json.queue.done, 1, explain(whole));
  assert.deepEqual(
    whole.json.queue.results.map((r: { cache: string }) => r.cache),
    ["second"],
  );
  assert.equal((await s.cache.requests()).length, 0, "local, which has it, is not asked again");
  assert.ok(holds(second, closureOf(first)));
  assert.deepEqual(entries(s), []);
  assert.deepEqual(rootDirs(s), []);

  // A second entry reaches local; then local is pointed at an empty cache. What local had
  // from us is not there: the entry stays until the moved cache has its closure too.
  assert.equal((await s.run("enqueue", later)).code, 0);
  await second.stop();
  assert.equal((await s.run("push", "--queue")).code, 1);
  assert.ok(holds(s.cache, closureOf(later)));
  s.config.caches[0].store = moved.url;
  s.configFile();
  const stillDown = await s.run("push", "--queue", "--json");
  assert.equal(stillDown.code, 1, explain(stillDown));
  assert.equal(stillDown.json.queue.done, 0, "second still lacks it");
  assert.ok(holds(moved, closureOf(later)), "the moved cache was sent the closure");
  assert.equal(entries(s).length, 1);
  await second.start();
  const done = await s.run("push", "--queue", "--json");
  assert.equal(done.code, 0, explain(done));
  assert.equal(done.json.queue.done, 1, explain(done));
  assert.ok(holds(second, closureOf(later)));
  assert.deepEqual(entries(s), []);
});

test("a dry run of the queue or of given paths uploads nothing and leaves the queue as it was", async (t) => {
  const s = await scenario();
  t.after(() => s.destroy());
  const [queuedPath, given] = buildDerivations(s.seed, 2) as [string, string];
  assert.equal((await s.run("enqueue", queuedPath)).code, 0);
  const before = entries(s);

  const queue = await s.run("push", "--queue", "--dry-run", "--json");
  assert.equal(queue.code, 0, explain(queue));
  assert.equal(queue.json.queue.results[0].status, "planned", explain(queue));
  assert.equal(queue.json.queue.results[0].counts.missing, 2, explain(queue));
  const paths = await s.run("push", "--paths", given, "--dry-run", "--json");
  assert.equal(paths.code, 0, explain(paths));
  assert.equal(paths.json.paths[0].status, "planned", explain(paths));
  const plain = await s.run("push", "--dry-run");
  assert.equal(plain.code, 0, explain(plain));
  assert.match(plain.stdout, /^would push 2 of 2 paths .* of 1 queued entry/m, explain(plain));

  assert.equal(await s.cache.count("PUT"), 0, "nothing was uploaded");
  assert.deepEqual(
    readdirSync(s.cache.dir).filter((name) => name !== "nix-cache-info"),
    [],
  );
  assert.deepEqual(entries(s), before, "the entry is queued as it was");
  assert.deepEqual(readdirSync(join(s.stateDir, "queue", "pending")), [], "not even taken up");
  assert.throws(() => collectGarbage([queuedPath]), /still alive/);
});

test("queued paths gone from the local store are dropped with a warning, and hold the queue up no longer", async (t) => {
  const s = await scenario();
  t.after(() => s.destroy());
  const [gone, alsoGone, live] = buildDerivations(s.seed, 3) as [string, string, string];
  assert.equal((await s.run("enqueue", gone)).code, 0);
  assert.equal((await s.run("enqueue", alsoGone, live)).code, 0);
  // Their roots deleted by hand, and the paths collected.
  for (const id of rootDirs(s)) {
    for (const link of readdirSync(join(s.stateDir, "queue", "roots", id))) {
      rmSync(join(s.stateDir, "queue", "roots", id, link));
    }
  }
  collectGarbage([gone, alsoGone]);
  assert.ok(!isValid(gone) && !isValid(alsoGone) && isValid(live));

  const r = await s.run("push", "--queue", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(
    r.json.warnings.sort(),
    [
      `queued ${alsoGone} is no longer in the local store: dropped from the queue`,
      `queued ${gone} is no longer in the local store: dropped from the queue`,
    ].sort(),
  );
  assert.equal(r.json.queue.done, 2, explain(r));
  assert.ok(holds(s.cache, closureOf(live)), "the live path of the same entry is pushed");
  assert.deepEqual(entries(s), []);
  assert.deepEqual(rootDirs(s), []);
  const again = await s.run("push", "--queue");
  assert.equal(again.code, 0, explain(again));
  assert.match(again.stdout, /^queue: nothing queued$/m);
});

test("roots without an entry are removed an hour after their enqueue began, not before", async (t) => {
  const s = await scenario();
  t.after(() => s.destroy());
  const [young, old, queued] = buildDerivations(s.seed, 3) as [string, string, string];
  assert.equal((await s.run("enqueue", queued)).code, 0);
  // Roots as an enqueue makes them before its entry appears (queue.ts): a directory named by
  // the time the enqueue began, one indirect root in it. Five minutes each side of the hour.
  const hour = 60 * 60 * 1000;
  const roots = join(s.stateDir, "queue", "roots");
  const ids = {
    young: `${Date.now() - hour + 5 * 60_000}-4242-0000000a`,
    old: `${Date.now() - hour - 5 * 60_000}-4242-0000000b`,
  };
  for (const [id, path] of [
    [ids.young, young],
    [ids.old, old],
  ] as const) {
    mkdirSync(join(roots, id), { recursive: true });
    nix("nix-store", ["--realise", "--add-root", join(roots, id, "path"), "--indirect", path]);
  }

  const r = await s.run("push", "--queue", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.json.queue.done, 1, explain(r));
  assert.deepEqual(rootDirs(s), [ids.young], "the young roots stay, the old and the pushed entry's go");
  assert.throws(() => collectGarbage([young]), /still alive/, "what an enqueue under way holds stays held");
  collectGarbage([old]);
  assert.ok(!isValid(old), "the old roots hold nothing any more");
});
