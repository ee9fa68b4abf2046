// Every closure read from the real store counts toward the old generation's bound
// (src/runtime/heap.ts): a 20-path closure read as many times as the bound's paths need.
import assert from "node:assert/strict";
import { test } from "node:test";
import { queryClosure } from "../../src/nix/cli.js";
import { parseStorePath } from "../../src/nix/store-path.js";
import { BOUND_FROM_PATHS, heapBound } from "../../src/runtime/heap.js";
import { buildGeneration, newSeed } from "./harness/nix.js";

test("the closures genpush reads from the store bound the heap once they hold BOUND_FROM_PATHS paths", async () => {
  const generation = parseStorePath(buildGeneration({ seed: newSeed(), paths: 20 }).storePath);
  const reads = BOUND_FROM_PATHS / 20;
  for (let i = 1; i < reads; i++) {
    assert.equal((await queryClosure([generation])).infos.length, 20);
    assert.equal(heapBound.set, false, `bounded after ${i * 20} paths`);
  }
  await queryClosure([generation]);
  assert.equal(heapBound.set, true);
});
