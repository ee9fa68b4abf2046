// The order of the queue's steps on disk, seen with strace on a real `genpush enqueue` and a
// real `genpush push --queue`: an entry's GC roots exist (the link in queue/roots/ID/ and its
// registration in Nix's gcroots/auto/) before its entry file is renamed into queue/new/, and the
// entry file is removed before its roots. A kill can fall between any two of these steps; in
// this order, each state it may leave is safe: roots without an entry (removed an hour later,
// queue-guarantees.test.ts) or an entry whose paths are held. Reversed, a kill between the two
// leaves an entry whose paths a garbage collection may take. (test/faults/13-queue-kill.test.ts
// kills the push while it uploads.)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { execa } from "execa";
import { cliEntry, repoRoot } from "./harness/cli.js";
import { type Scenario, scenario } from "./harness/fixture.js";
import { buildDerivations, collectGarbage, isValid, nixEnv, tempDir } from "./harness/nix.js";

interface Step {
  call: string;
  /** The path the call names (the target, for a rename or a symlink). */
  path: string;
  ok: boolean;
}

/**
 * Runs genpush under `strace -f`, every process it starts followed; returns the renames,
 * unlinks, rmdirs and symlinks in the order they began (each awaited step begins only after
 * the one before it ended).
 */
async function traced(s: Scenario, args: string[]): Promise<Step[]> {
  const log = join(tempDir("genpush-strace-"), "trace.log");
  const calls = "rename,renameat,renameat2,unlink,unlinkat,rmdir,symlink,symlinkat";
  const r = await execa(
    "strace",
    [
      "-f",
      "-qq",
      "-o",
      log,
      "-e",
      `trace=${calls}`,
      process.execPath,
      "--import",
      "tsx",
      cliEntry,
      "--config",
      s.configFile(),
      ...args,
    ],
    { cwd: repoRoot, env: nixEnv, extendEnv: false, reject: false, stdin: "ignore", timeout: 120_000 },
  );
  assert.equal(r.exitCode, 0, `genpush ${args.join(" ")}\n${r.stdout}\n${r.stderr}`);
  const steps: Step[] = [];
  for (const line of readFileSync(log, "utf8").split("\n")) {
    const match = /^\d+ +(\w+)\((.*?)(?: <unfinished \.\.\.>|\) += (-?\d+))/.exec(line);
    if (!match) continue;
    const [, call = "", argText = "", ret] = match;
    const strings = [...argText.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] as string);
    const path = ["unlink", "rmdir"].includes(call) ? strings[0] : strings[strings.length - 1];
    // An unfinished call's result comes on a later line: only a failing rmdir (ENOTEMPTY) matters, below.
    steps.push({ call, path: path ?? "", ok: ret === undefined || ret === "0" });
  }
  return steps;
}

function firstIndex(steps: Step[], what: string, test: (step: Step) => boolean): number {
  const i = steps.findIndex(test);
  assert.ok(i >= 0, `strace saw ${what}:\n${steps.map((step) => `${step.call} ${step.path}`).join("\n")}`);
  return i;
}

test("enqueue makes an entry's roots before its entry file, and push --queue removes the file before the roots", async (t) => {
  const s = await scenario();
  t.after(() => s.destroy());
  const queue = join(s.stateDir, "queue");
  const outs = buildDerivations(s.seed, 2);
  const ids: string[] = [];

  for (const out of outs) {
    const steps = await traced(s, ["enqueue", out]);
    const entry = firstIndex(
      steps,
      "the entry renamed into queue/new/",
      (step) => step.call.startsWith("rename") && step.path.startsWith(`${queue}/new/`),
    );
    const id = steps[entry]?.path.slice(`${queue}/new/`.length).replace(/\.json$/, "") as string;
    ids.push(id);
    const root = firstIndex(
      steps,
      "the root link made in queue/roots/ID/",
      (step) => step.call.startsWith("rename") && step.path === `${queue}/roots/${id}/path`,
    );
    const registered = firstIndex(
      steps,
      "the root registered in gcroots/auto/",
      (step) => step.call.startsWith("rename") && step.path.startsWith("/nix/var/nix/gcroots/auto/"),
    );
    assert.ok(root < entry, "the root link exists before the entry appears");
    assert.ok(registered < entry, "Nix knows the root before the entry appears");
  }

  const steps = await traced(s, ["push", "--queue"]);
  for (const id of ids) {
    const file = firstIndex(
      steps,
      `the removal of ${id}.json`,
      (step) => step.call.startsWith("unlink") && step.path === `${queue}/pending/${id}.json`,
    );
    const links = firstIndex(
      steps,
      `the removal of ${id}'s root link`,
      (step) => step.call.startsWith("unlink") && step.path.startsWith(`${queue}/roots/${id}/`),
    );
    const dir = firstIndex(
      steps,
      `the removal of ${id}'s roots`,
      (step) => step.call === "rmdir" && step.path === `${queue}/roots/${id}` && step.ok,
    );
    assert.ok(file < links && file < dir, `${id}: the entry file goes before its roots`);
  }
  // And at the end nothing is held: the paths are pushed and free again.
  collectGarbage(outs);
  for (const out of outs) assert.ok(!isValid(out));
});
