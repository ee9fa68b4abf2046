// The old generation's bound (src/runtime/heap.ts): set once the closures a run read hold
// BOUND_FROM_PATHS paths, counted over every closure read, and set once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BOUND_FROM_PATHS, HeapBound } from "../../../src/runtime/heap.js";

test("the heap is bounded once the closures read hold BOUND_FROM_PATHS paths, and only once", () => {
  let bounds = 0;
  const heap = new HeapBound(() => bounds++);
  heap.closureRead(BOUND_FROM_PATHS - 1);
  assert.equal(bounds, 0);
  assert.equal(heap.set, false);
  // A second closure (another profile's, a queue's next batch) adds to what is held.
  heap.closureRead(1);
  assert.equal(bounds, 1);
  assert.equal(heap.set, true);
  heap.closureRead(20_000);
  assert.equal(bounds, 1);
});

test("a small closure leaves V8 to size the heap", () => {
  let bounds = 0;
  const heap = new HeapBound(() => bounds++);
  heap.closureRead(250);
  assert.equal(bounds, 0);
});
