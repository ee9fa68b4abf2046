// A run triggered by the first of a switch's renames waits for the last before it
// looks again: the profile's directory must have been still for a while.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { ProfileConfig } from "../../src/config.js";
import { profileDirectoryQuiet } from "../../src/profiles.js";

const dir = mkdtempSync(join(tmpdir(), "genpush-quiet-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const profile = { name: "test", path: join(dir, "test") } as ProfileConfig;

test("a directory changed just now: waits until it has been still for the quiet time", async () => {
  writeFileSync(join(dir, "touched"), "");
  const started = Date.now();
  await profileDirectoryQuiet(profile, 300, 5000);
  assert.ok(Date.now() - started >= 250, `waited ${Date.now() - started} ms`);
});

test("a change during the wait starts the quiet time again", async () => {
  writeFileSync(join(dir, "first"), "");
  const started = Date.now();
  const waiting = profileDirectoryQuiet(profile, 300, 5000);
  await sleep(200);
  symlinkSync("first", join(dir, "second"));
  await waiting;
  assert.ok(Date.now() - started >= 450, `waited ${Date.now() - started} ms`);
});

test("a directory that keeps changing: gives up at the bound", async () => {
  writeFileSync(join(dir, "churn-start"), "");
  const started = Date.now();
  const waiting = profileDirectoryQuiet(profile, 300, 600);
  const churn = setInterval(() => writeFileSync(join(dir, `churn-${Date.now()}`), ""), 50);
  await waiting;
  clearInterval(churn);
  const took = Date.now() - started;
  assert.ok(took >= 550 && took < 1000, `took ${took} ms`);
});

test("a still directory, or none at all: no wait", async () => {
  await sleep(350);
  let started = Date.now();
  await profileDirectoryQuiet(profile, 300, 5000);
  assert.ok(Date.now() - started < 50);
  started = Date.now();
  await profileDirectoryQuiet({ name: "x", path: join(dir, "missing", "x") } as ProfileConfig, 300, 5000);
  assert.ok(Date.now() - started < 50);
});
