// The suite's own totals, once every scenario file has run (the runner takes the files in order,
// one at a time): faults injected, generations switched, generations in the cache at the end,
// generations lost. Every scenario must have reported, and none may have lost a generation.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, test } from "node:test";
import { readTally, SCENARIOS, summary, tallyFile } from "./lib/ledger.js";

after(() => rmSync(tallyFile(), { force: true }));

test("fault-injection totals: every scenario reported, no generation lost", (t) => {
  const tally = readTally();
  for (const entry of tally) t.diagnostic(summary(entry));
  const sum = (key: "faults" | "switched" | "inCache") => tally.reduce((n, e) => n + e[key], 0);
  const lost = tally.flatMap((e) => e.lost.map((what) => `${e.scenario}: ${what}`));
  const line = `faults injected: ${sum("faults")}, generations switched: ${sum("switched")}, generations in the cache at the end: ${sum("inCache")}, generations lost: ${lost.length}`;
  t.diagnostic(line);
  console.log(line);
  const missing = SCENARIOS.filter((name) => !tally.some((e) => e.scenario === name));
  assert.deepEqual(missing, [], `scenarios that reported nothing (failed before their end?) in ${tallyFile()}`);
  assert.deepEqual(lost, [], "generations lost");
  assert.ok(sum("faults") > 0 && sum("switched") > 0);
});
