// The small-NAR limits of the HTTP uploader at their edges (docs/backends.md): a group holds at
// most 64 NARs and 8 MiB before compression, and no new group is read while more than 16 MiB or
// 256 compressed NARs wait for their upload. (The count of a group is also seen through the real
// xz in test/integration/limits.test.ts.)
import assert from "node:assert/strict";
import { test } from "node:test";
import { groups, readAheadFull, type UploadablePath } from "../../../src/caches/http-binary-cache.js";

const MiB = 1024 * 1024;
const nars = (...sizes: number[]) =>
  sizes.map((narSize, i) => ({ path: `/nix/store/${String(i).padStart(32, "0")}-p`, narSize }) as UploadablePath);
const shape = (paths: UploadablePath[]) => groups(paths).map((group) => group.map((info) => info.narSize));

test("a group holds 8 MiB of NARs; a byte more starts the next", () => {
  assert.deepEqual(shape(nars(8 * MiB - 100, 100)), [[8 * MiB - 100, 100]]);
  assert.deepEqual(shape(nars(8 * MiB - 100, 101)), [[8 * MiB - 100], [101]]);
  const sixteen = Array.from({ length: 16 }, () => 512 * 1024);
  assert.deepEqual(shape(nars(...sixteen, 1)), [sixteen, [1]], "sixteen of the largest small NARs make one group");
});

test("a group holds 64 NARs; the 65th starts the next", () => {
  const ones = (n: number) => Array.from({ length: n }, () => 1);
  assert.deepEqual(shape(nars(...ones(64))), [ones(64)]);
  assert.deepEqual(shape(nars(...ones(65))), [ones(64), [1]]);
});

test("no group is read while more than 16 MiB or more than 256 compressed NARs wait", () => {
  assert.equal(readAheadFull(16 * MiB, 1), false);
  assert.equal(readAheadFull(16 * MiB + 1, 1), true);
  assert.equal(readAheadFull(0, 256), false);
  assert.equal(readAheadFull(0, 257), true);
});

test("where NARs are compressed in process the first group holds 4, and each next twice as many, up to 64", () => {
  const ones = (n: number) => Array.from({ length: n }, () => 1);
  const sizes = groups(nars(...ones(4 + 8 + 16 + 32 + 64 + 65)), 4).map((group) => group.length);
  assert.deepEqual(sizes, [4, 8, 16, 32, 64, 64, 1]);
  assert.deepEqual(
    groups(nars(8 * MiB - 100, 101, 1), 4).map((group) => group.map((info) => info.narSize)),
    [[8 * MiB - 100], [101, 1]],
    "the bytes bound holds from the first group",
  );
});
