// Every closure read from the real store counts toward the old generation's bound
// (src/runtime/heap.ts), each path once: a generation read twice, then a newer one that
// shares some of its paths.
import assert from "node:assert/strict";
import { test } from "node:test";
import { queryClosure } from "../../src/nix/cli.js";
import { parseStorePath } from "../../src/nix/store-path.js";
import { BOUND_FROM_PATHS, heapBound } from "../../src/runtime/heap.js";
import { buildGeneration } from "./harness/nix.js";

test("the closures genpush reads from the store bound the heap once they hold BOUND_FROM_PATHS different paths", async () => {
  // Fixed: built once on a machine, found valid by later runs.
  const seed = "genpush-test-heap-bound";
  const older = buildGeneration({ seed, paths: 600, version: 1 });
  const newer = buildGeneration({ seed, paths: 600, changed: 500, version: 2 });
  const different = new Set([...older.closure, ...newer.closure]).size;
  assert.ok(older.closure.length < BOUND_FROM_PATHS && different >= BOUND_FROM_PATHS, `${different} paths`);
  for (let i = 0; i < 2; i++) {
    assert.equal((await queryClosure([parseStorePath(older.storePath)])).infos.length, 600);
    assert.equal(heapBound.set, false);
  }
  await queryClosure([parseStorePath(newer.storePath)]);
  assert.equal(heapBound.set, true);
});
