// The old generation's bound (src/runtime/heap.ts): set once the closures a run read hold
// BOUND_FROM_PATHS different paths, each path counted once however many closures hold it, and
// set once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BOUND_FROM_PATHS, HeapBound } from "../../../src/runtime/heap.js";

const paths = (from: number, count: number) => Array.from({ length: count }, (_, i) => `/nix/store/p${from + i}`);

test("the heap is bounded once the closures read hold BOUND_FROM_PATHS different paths, and only once", () => {
  let bounds = 0;
  const heap = new HeapBound(() => bounds++);
  heap.closureRead(paths(0, BOUND_FROM_PATHS - 1));
  assert.equal(bounds, 0);
  assert.equal(heap.set, false);
  // A second closure (another profile's, a queue's next batch) adds the paths it holds that are new.
  heap.closureRead(paths(BOUND_FROM_PATHS - 1, 1));
  assert.equal(bounds, 1);
  assert.equal(heap.set, true);
  heap.closureRead(paths(0, 20_000));
  assert.equal(bounds, 1);
});

test("paths held by several closures count once: a generation and the one before it, mostly the same", () => {
  let bounds = 0;
  const heap = new HeapBound(() => bounds++);
  const half = BOUND_FROM_PATHS / 2;
  heap.closureRead(paths(0, half + 10));
  heap.closureRead(paths(10, half + 10));
  assert.equal(bounds, 0);
  assert.equal(heap.set, false);
  heap.closureRead(paths(0, BOUND_FROM_PATHS));
  assert.equal(bounds, 1);
});
