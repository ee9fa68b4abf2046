// The fault suite's totals, once every scenario file has ended: test/suite.mjs runs this after
// the suite, with GENPUSH_SUITE_DIR naming the directory every ledger of the run reported to.
// Faults injected, generations switched, generations in the cache at the end, generations lost;
// every scenario must have reported, and none may have lost a generation.
import { readTally, SCENARIOS, summary } from "./lib/ledger.js";

const suiteDir = process.env.GENPUSH_SUITE_DIR;
if (!suiteDir) {
  process.stderr.write("test/faults/after.ts: GENPUSH_SUITE_DIR is not set (run the suite with test/suite.mjs)\n");
  process.exit(2);
}
const tally = readTally(suiteDir);
console.log("\nfault-injection totals, scenario by scenario:");
for (const entry of tally) console.log(`  ${summary(entry)}`);
const sum = (key: "faults" | "switched" | "inCache") => tally.reduce((n, e) => n + e[key], 0);
const lost = tally.flatMap((e) => e.lost.map((what) => `${e.scenario}: ${what}`));
console.log(
  `faults injected: ${sum("faults")}, generations switched: ${sum("switched")}, generations in the cache at the end: ${sum("inCache")}, generations lost: ${lost.length}`,
);
const missing = SCENARIOS.filter((name) => !tally.some((e) => e.scenario === name));
const problems = [
  ...(missing.length > 0 ? [`scenarios that reported nothing (failed before their end?): ${missing.join(", ")}`] : []),
  ...(lost.length > 0 ? [`generations lost:\n${lost.map((what) => `  ${what}\n`).join("")}`] : []),
  ...(sum("faults") > 0 && sum("switched") > 0 ? [] : ["no fault injected, or no generation switched"]),
];
if (problems.length > 0) {
  process.stderr.write(`fault-injection totals: ${problems.join("; ")}\n`);
  process.exit(1);
}
