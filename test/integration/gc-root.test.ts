// A generation that could not be pushed is held against garbage collection until it is.
import assert from "node:assert/strict";
import { existsSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { explain } from "./harness/cli.js";
import { onlyResult, scenario } from "./harness/fixture.js";
import { collectGarbage, isValid, minus, switchProfile } from "./harness/nix.js";

test("a pending generation survives its links being deleted and a GC, and is pushed later", async (t) => {
  const s = await scenario({ paths: 20, changed: 3 });
  t.after(() => s.destroy());
  const g1 = s.switchTo(0);
  assert.equal((await s.run("push", "--json")).code, 0);
  const root = join(s.stateDir, "gcroots", "test");
  assert.equal(existsSync(root), false, "nothing held once pushed");

  const g2 = s.switchTo(1);
  await s.cache.stop();
  const failed = await s.run("push", "--json");
  assert.equal(failed.code, 1, explain(failed));
  assert.equal(readlinkSync(root), g2.storePath, "the pending generation is held");

  // As comin does: the links go; then the garbage collector comes.
  rmSync(s.profile);
  rmSync(`${s.profile}-2-link`);
  assert.throws(() => collectGarbage(minus(g2.closure, g1.closure)), /still alive/);
  assert.ok(isValid(g2.storePath), "the pending generation is still in the store");

  await s.cache.start();
  switchProfile(s.profile, g2.storePath);
  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(onlyResult(r).status, "pushed");
  assert.equal(existsSync(root), false, "released once pushed");
});

test("a newer generation supersedes a pending one: the GC root moves to it, the old one may be collected", async (t) => {
  const s = await scenario({ paths: 12, changed: 3 });
  t.after(() => s.destroy());
  const g1 = s.switchTo(0);
  assert.equal((await s.run("push")).code, 0);
  const root = join(s.stateDir, "gcroots", "test");

  await s.cache.stop();
  const g2 = s.switchTo(1);
  assert.equal((await s.run("push")).code, 1);
  assert.equal(readlinkSync(root), g2.storePath, "the pending generation is held");
  const g3 = s.switchTo(2);
  assert.equal((await s.run("push")).code, 1);
  assert.equal(readlinkSync(root), g3.storePath, "the root moved to the generation that superseded it");

  // Only what g2 alone had: no profile link and no root holds it any more.
  rmSync(`${s.profile}-2-link`);
  const onlyG2 = minus(minus(g2.closure, g3.closure), g1.closure);
  assert.ok(onlyG2.length > 0);
  collectGarbage(onlyG2);
  assert.ok(!isValid(g2.storePath), "the superseded generation was collected");
  assert.ok(isValid(g3.storePath), "the pending one is still held");

  await s.cache.start();
  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(onlyResult(r).storePath, g3.storePath);
  assert.equal(existsSync(root), false, "released once pushed");
});
