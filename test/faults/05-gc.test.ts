// Garbage collection while a generation is pending: the cache down, the profile's links deleted
// (as comin deletes its links), then the garbage collector. A machine-wide `nix-store --gc` (or
// `nix-collect-garbage -d`) is not run: on a shared machine it deletes every unreferenced path,
// other test runs' fresh builds among them, and `--gc --print-dead` took 4 to 25 s here over a
// store of 35,000 to 73,000 dead paths. Instead the collector's decision path by path:
// `nix-store --delete` of each path of the pending generation must refuse ("still alive"), the
// old generation's own paths, dead, are really deleted, and `--query --roots` names the root.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { explain, runGenpush } from "../integration/harness/cli.js";
import { onlyResult, scenario } from "../integration/harness/fixture.js";
import { type Generation, isValid, minus, nixEnv, switchProfile, tempDir } from "../integration/harness/nix.js";
import { assertKept, Ledger, summary } from "./lib/ledger.js";
import { installShims, which } from "./lib/shims.js";

/** The GC roots that keep `path` alive (`nix-store --query --roots`): their link names. */
function rootsOf(path: string): string[] {
  const r = spawnSync("nix-store", ["--query", "--roots", path], { env: nixEnv, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" -> ")[0] ?? line);
}

/** `nix-store --delete PATH` for each path, one at a time: what each said. */
function deleteEach(paths: string[]): { path: string; deleted: boolean; said: string }[] {
  return paths.map((path) => {
    const r = spawnSync("nix-store", ["--delete", path], { env: nixEnv, encoding: "utf8" });
    return { path, deleted: r.status === 0, said: r.stderr.trim() };
  });
}

/** Every link of the profile gone: the profile and each PROFILE-N-link. */
function deleteLinks(profile: string): void {
  const dir = dirname(profile);
  for (const name of readdirSync(dir)) if (name === "test" || /^test-\d+-link$/.test(name)) rmSync(join(dir, name));
}

async function pendingAfterFailure(t: { after(fn: () => unknown): void }, books: Ledger) {
  const s = await scenario({ paths: 16, changed: 6, sign: true });
  t.after(() => s.destroy());
  const track = (gen: Generation, n: number) => books.switchedTo({ ...gen, label: `test generation ${n}` });
  const g1 = s.switchTo(0);
  track(g1, 1);
  books.reported((await s.run("push", "--json")).json);
  const g2 = s.switchTo(1);
  track(g2, 2);
  await s.cache.stop();
  books.fault("nginx stopped");
  const failed = await s.run("push", "--json");
  assert.equal(failed.code, 1, explain(failed));
  const root = join(s.stateDir, "gcroots", "test");
  assert.equal(readlinkSync(root), g2.storePath, "the pending generation is held");
  deleteLinks(s.profile);
  books.fault("every link of the profile deleted");
  return { s, g1, g2, root };
}

test("a pending generation survives its links being deleted and the collector, and is pushed", async (t) => {
  const books = new Ledger("gc");
  const { s, g1, g2, root } = await pendingAfterFailure(t, books);

  const started = Date.now();
  books.fault("garbage collection");
  const onlyG1 = minus(g1.closure, g2.closure);
  assert.deepEqual(rootsOf(g2.storePath), [root], "the pending generation is alive through genpush's root alone");
  assert.deepEqual(rootsOf(g1.storePath), [], "the old generation is unreferenced");
  const refused = deleteEach(g2.closure);
  assert.deepEqual(
    refused.filter((r) => r.deleted),
    [],
    "a path of the pending generation was deleted",
  );
  for (const r of refused) assert.match(r.said, /still alive/, r.path);
  // The old generation is collected for real (one call: Nix deletes referrers first).
  const collected = spawnSync("nix-store", ["--delete", ...onlyG1], { env: nixEnv, encoding: "utf8" });
  assert.equal(collected.status, 0, collected.stderr);
  assert.ok(!onlyG1.some(isValid), "the old generation's own paths are gone");
  t.diagnostic(`${refused.length} refused deletes and the old generation collected in ${Date.now() - started} ms`);
  assert.ok(g2.closure.every(isValid), "the pending generation is whole");

  // The cache back, and the generation current again (a re-deployment): pushed, asking only about what is new.
  await s.cache.start();
  switchProfile(s.profile, g2.storePath);
  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.json.results[0].status, "pushed");
  assert.equal(r.json.results[0].storePath, g2.storePath);
  books.reported(r.json);
  const added = minus(g2.closure, g1.closure).length;
  assert.equal(
    r.json.results[0].counts.candidates,
    added,
    "asked only about the new paths: the old generation is not needed",
  );
  assert.doesNotMatch(r.stderr, /no longer in the local store/, explain(r));
  assert.equal(existsSync(root), false, "released once pushed");
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: s.key?.publicKey })));
});

test("the trigger that deleting the links fires (the path unit) does not release the pending generation", async (t) => {
  const books = new Ledger("gc");
  const { s, g2, root } = await pendingAfterFailure(t, books);
  // The deletion changes the watched directory: systemd starts a push, which finds no profile.
  const trigger = await s.run("push", "--json");
  assert.equal(trigger.code, 0, explain(trigger));
  assert.equal(trigger.json.profiles[0].status, "absent");
  const held = existsSync(root);
  const roots = rootsOf(g2.storePath);

  await s.cache.start();
  switchProfile(s.profile, g2.storePath);
  const r = await s.run("push", "--json");
  books.reported(r.json);
  const tally = books.close(s.cache.dir, { cacheUrl: s.cache.url, publicKey: s.key?.publicKey });
  t.diagnostic(summary(tally));
  assert.ok(held, `${root} was released by a push that found no profile: the pending generation is unprotected`);
  assert.deepEqual(roots, [root], "nothing keeps the pending generation from the collector");
  assert.equal(r.code, 0, explain(r));
  assertKept(tally);
});

test("the GC root is made while the cache is asked about the closure, and before any NAR is uploaded", async (t) => {
  const s = await scenario({ paths: 12 });
  t.after(() => s.destroy());
  const generation = s.switchTo(0);
  const nixStore = which("nix-store");
  assert.ok(nixStore, "nix-store is installed");
  // The root's `nix-store --add-root` waits until the cache has been asked about every path
  // (nginx's access log; 30 s at most), a second more, then notes how many questions that was
  // and what the cache had been sent by then (its nar/ directory): a second in which the
  // uploads would have been done, were they not waiting for the root.
  const seen = tempDir("genpush-root-seen-");
  const log = join(dirname(s.cache.dir), "access.log");
  const shims = installShims(
    { "nix-store": nixStore },
    `case " $* " in *" --add-root "*)
  i=0
  while [ "$(grep -c '^HEAD ' '${log}' || :)" -lt ${generation.closure.length} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  sleep 1
  grep -c '^HEAD ' '${log}' >'${seen}/heads' || :
  ls '${s.cache.dir}/nar' 2>/dev/null | wc -l >'${seen}/nars';;
esac`,
  );
  const pushed = await runGenpush(["push", "--json"], { config: s.configFile(), env: { PATH: shims.path } });
  assert.equal(pushed.code, 0, explain(pushed));
  assert.equal(onlyResult(pushed).counts.uploaded, generation.closure.length, explain(pushed));
  assert.ok(
    shims.calls().some((c) => c.name === "nix-store" && c.args.includes("--add-root")),
    "the root was made through the shim",
  );
  const heads = Number(readFileSync(join(seen, "heads"), "utf8").trim());
  assert.equal(heads, generation.closure.length, "every question went out while the root was made");
  assert.equal(
    readFileSync(join(seen, "nars"), "utf8").trim(),
    "0",
    "no NAR reached the cache before the root was there",
  );
});
