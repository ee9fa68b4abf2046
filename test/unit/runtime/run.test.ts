// The run's guard (src/runtime/run.ts): work left waiting on something that can no longer happen ends
// as a reported failure (Node would exit 13, silently); SIGTERM aborts the run with a reason.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

const helper = join(import.meta.dirname, "..", "helpers", "stalled-run.ts");
const run = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", helper, ...args], { encoding: "utf8", timeout: 20_000 });

test("work left waiting is aborted with a reason, and ends with exit 1, not Node's silent 13", () => {
  const r = run();
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stdout,
    /^aborted: internal error: genpush was left waiting for something that cannot happen any more$/m,
  );
});

test("work that ignores the abort: the caller is told, and the exit is 1", () => {
  const r = run("ignore");
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /^stalled: internal error: genpush was left waiting/m);
});
