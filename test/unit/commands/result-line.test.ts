// push's one line per profile and cache, as a person reads it on a terminal.
import assert from "node:assert/strict";
import { test } from "node:test";
import { resultLine } from "../../../src/commands/push.js";
import type { PushResult } from "../../../src/push/push.js";

const result = (over: Partial<PushResult>): PushResult => ({
  profile: "system",
  cache: "lan",
  generation: 42,
  storePath: "/nix/store/00000000000000000000000000000000-nixos-system",
  status: "pushed",
  counts: { closure: 900, new: 9, upstream: 0, excluded: 0, candidates: 9, missing: 0, uploaded: 0 },
  narBytes: 0,
  durationMs: 1200,
  ...over,
});

test("pushed with nothing missing reads as 'already there', not 'pushed 0 of N'", () => {
  const line = resultLine(result({}));
  assert.equal(line, "system generation 42 was already in lan: none of the 9 paths asked about was missing");
});

test("pushed with uploads says how many of the closure, and what was skipped", () => {
  const line = resultLine(
    result({
      counts: { closure: 900, new: 12, upstream: 3, excluded: 0, candidates: 9, missing: 9, uploaded: 9 },
      narBytes: 2048,
    }),
  );
  assert.equal(
    line,
    "pushed 9 of 900 paths (2.0 KiB NAR) of system generation 42 to lan in 1.2s (skipped 3 from upstream)",
  );
});

test("up to date, and failed", () => {
  assert.equal(resultLine(result({ status: "up-to-date" })), "system generation 42 is already in lan: nothing to push");
  assert.match(
    resultLine(result({ status: "failed", error: { message: "cache lan is unreachable" } })),
    /^failed to push system generation 42 to lan after 1\.2s: cache lan is unreachable; it stays pending$/,
  );
});
