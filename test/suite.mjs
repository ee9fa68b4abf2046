#!/usr/bin/env node
// Runs one test suite for `npm test`: node test/suite.mjs DIR [node --test options]. It lists
// the *.test.ts files in and below DIR itself and fails unless every one of them ran at least one test. (A
// shell glob that matches nothing reaches node as the pattern itself, which Node 22 expands on
// its own to nothing: "tests 0", exit 0. A file that stopped defining tests would pass too.)
// Each run gets a fresh directory of its own, named to every test file in GENPUSH_SUITE_DIR,
// where the files may report; DIR/after.ts, where a suite has one, runs once every file has
// ended, with the same directory, and fails the suite if it fails (the fault suite's totals).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const [dir, ...options] = process.argv.slice(2);
if (!dir) {
  process.stderr.write("usage: node test/suite.mjs DIR [node --test options]\n");
  process.exit(2);
}
// Below DIR too: the unit tests mirror src/'s folders.
const files = readdirSync(dir, { recursive: true })
  .filter((name) => name.endsWith(".test.ts"))
  .sort()
  .map((name) => resolve(dir, name));
if (files.length === 0) {
  process.stderr.write(`test/suite.mjs: no *.test.ts file in ${dir}\n`);
  process.exit(1);
}
const out = mkdtempSync(join(tmpdir(), "genpush-suite-"));
const counts = join(out, "counts.json");
const suiteDir = join(out, "reports");
mkdirSync(suiteDir);
const env = { ...process.env, GENPUSH_SUITE_DIR: suiteDir };
const reporter = new URL("./suite-reporter.mjs", import.meta.url).pathname;
const run = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    ...options,
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    `--test-reporter=${reporter}`,
    `--test-reporter-destination=${counts}`,
    ...files,
  ],
  { stdio: "inherit", env },
);
const afterFile = resolve(dir, "after.ts");
const after = existsSync(afterFile)
  ? spawnSync(process.execPath, ["--import", "tsx", afterFile], { stdio: "inherit", env })
  : { status: 0 };
let ran = {};
try {
  ran = JSON.parse(readFileSync(counts, "utf8"));
} catch {}
rmSync(out, { recursive: true, force: true });
const idle = files.filter((file) => !(ran[file] > 0));
if (idle.length > 0) {
  process.stderr.write(`test/suite.mjs: these files ran no test:\n${idle.map((f) => `  ${f}\n`).join("")}`);
  process.exit(1);
}
process.exit(run.status === 0 ? (after.status ?? 1) : (run.status ?? 1));
