// Times in reports: local time to the minute, and how long ago.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatWhen } from "../../src/format.js";

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
