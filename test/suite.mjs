#!/usr/bin/env node
// Runs one test suite for `npm test`: node test/suite.mjs DIR [node --test options]. It lists
// DIR's *.test.ts files itself and fails unless every one of them ran at least one test. (A
// shell glob that matches nothing reaches node as the pattern itself, which Node 22 expands on
// its own to nothing: "tests 0", exit 0. A file that stopped defining tests would pass too.)
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const [dir, ...options] = process.argv.slice(2);
if (!dir) {
  process.stderr.write("usage: node test/suite.mjs DIR [node --test options]\n");
  process.exit(2);
}
const files = readdirSync(dir)
  .filter((name) => name.endsWith(".test.ts"))
  .sort()
  .map((name) => resolve(dir, name));
if (files.length === 0) {
  process.stderr.write(`test/suite.mjs: no *.test.ts file in ${dir}\n`);
  process.exit(1);
}
const out = mkdtempSync(join(tmpdir(), "genpush-suite-"));
const counts = join(out, "counts.json");
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
  { stdio: "inherit" },
);
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
process.exit(run.status ?? 1);
