// A run triggered by the first of a switch's renames waits for the last before it
// looks again: the profile's directory must have been still for a while.
// The unit suite runs its files in parallel: this process may be held up at any point. So a
// wait is measured from the directory's own change time (what the wait goes by), never from a
// moment this process noted after changing it; a "no wait" is well under the quiet time; and
// the giving up at the bound is timed against a plain timer of the bound's length started
// beside it, which is as late as this process's timers are.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { ProfileConfig } from "../../../src/config/config.js";
import { profileDirectoryQuiet } from "../../../src/push/profiles.js";

const dir = mkdtempSync(join(tmpdir(), "genpush-quiet-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const profile = { name: "test", path: join(dir, "test") } as ProfileConfig;

/** When the directory last changed, as the wait sees it. */
const changedAt = () => statSync(dir).mtimeMs;

test("a directory changed just now: waits until it has been still for the quiet time", async () => {
  writeFileSync(join(dir, "touched"), "");
  const changed = changedAt();
  await profileDirectoryQuiet(profile, 300, 5000);
  assert.ok(Date.now() - changed >= 290, `ended ${Date.now() - changed} ms after the change`);
});

test("a change during the wait starts the quiet time again", async () => {
  writeFileSync(join(dir, "first"), "");
  const waiting = profileDirectoryQuiet(profile, 300, 5000);
  await sleep(200);
  symlinkSync("first", join(dir, "second"));
  const second = changedAt();
  await waiting;
  assert.ok(Date.now() - second >= 290, `ended ${Date.now() - second} ms after the second change`);
});

test("a directory that keeps changing: gives up at the bound", async () => {
  const changes: number[] = [];
  const change = () => {
    writeFileSync(join(dir, `churn-${changes.length}`), "");
    changes.push(changedAt());
  };
  change();
  const started = Date.now();
  const churn = setInterval(change, 50);
  // Long past the bound: a wait that ignored it would end here, and fail below.
  const stop = setTimeout(() => clearInterval(churn), 5000);
  const [ended, timer] = await Promise.all([
    profileDirectoryQuiet(profile, 300, 600).then(() => Date.now()),
    sleep(600).then(() => Date.now()),
  ]);
  clearInterval(churn);
  clearTimeout(stop);
  const last = Math.max(...changes.filter((at) => at <= ended));
  // Before the bound only where the directory was in fact still for the quiet time (this
  // process held up between two changes).
  assert.ok(ended - started >= 550 || ended - last >= 290, `gave up after ${ended - started} ms`);
  assert.ok(ended - timer < 200, `gave up ${ended - timer} ms after a timer of the bound's length`);
});

test("a still directory, or none at all: no wait", async () => {
  await sleep(350);
  let started = Date.now();
  await profileDirectoryQuiet(profile, 300, 5000);
  assert.ok(Date.now() - started < 250, `waited ${Date.now() - started} ms`);
  started = Date.now();
  await profileDirectoryQuiet({ name: "x", path: join(dir, "missing", "x") } as ProfileConfig, 300, 5000);
  assert.ok(Date.now() - started < 250, `waited ${Date.now() - started} ms`);
});
