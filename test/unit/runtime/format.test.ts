// Times in reports: local time to the minute, and how long ago.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatSeconds, formatWhen, progressText } from "../../../src/runtime/format.js";

test("a recorded time reads as local time and how long ago", () => {
  const now = Date.parse("2026-11-26T12:00:00Z");
  const at = (msAgo: number) => formatWhen(new Date(now - msAgo).toISOString(), now);
  assert.match(at(10_000), /^\d{4}-\d\d-\d\d \d\d:\d\d, just now$/);
  assert.match(at(3 * 60_000), /, 3 minutes ago$/);
  assert.match(at(60_000), /, 1 minute ago$/);
  assert.match(at(5 * 3_600_000), /, 5 hours ago$/);
  assert.match(at(2 * 86_400_000 + 5000), /, 2 days ago$/);
  const d = new Date(now - 3 * 60_000);
  const local = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  assert.ok(at(3 * 60_000).includes(local), "the clock time is local");
  assert.equal(formatWhen("not a time", now), "not a time");
});

test("an upload's progress: paths, then NAR bytes, rate and time left once they mean something", () => {
  const MiB = 1024 * 1024;
  assert.equal(progressText({ done: 3, total: 40, totalBytes: 120 * MiB, elapsedMs: 5000 }), "3/40 paths");
  assert.equal(
    progressText({ done: 3, total: 40, bytes: 2 * MiB, totalBytes: 120 * MiB, elapsedMs: 500 }),
    "3/40 paths, 2.0 MiB of 120 MiB NAR",
  );
  assert.equal(
    progressText({ done: 12, total: 40, bytes: 40 * MiB, totalBytes: 120 * MiB, elapsedMs: 4000 }),
    "12/40 paths, 40 MiB of 120 MiB NAR, 10 MiB/s, about 8.0s left",
  );
});

test("a bound in a message: whole seconds as such, tenths below ten seconds, whole seconds above", () => {
  assert.equal(formatSeconds(2000), "2s");
  assert.equal(formatSeconds(120_000), "120s");
  assert.equal(formatSeconds(7_149), "7.1s");
  assert.equal(formatSeconds(23_600), "24s");
});
