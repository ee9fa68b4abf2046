// The state directory must be genpush's own: marked, empty, absent, or holding only what earlier
// versions left there. Anything else is refused before genpush writes (or reads) a thing in it.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ExitCode, UsageError } from "../../../src/runtime/errors.js";
import { readState } from "../../../src/state/state.js";
import { checkStateDir, claimStateDir, STATE_MARKER } from "../../../src/state/state-dir.js";

const fresh = () => mkdtempSync(join(tmpdir(), "genpush-state-dir-"));

/** A directory in use for something else, like /etc. */
function foreign(): string {
  const dir = fresh();
  for (const name of ["passwd", "group", "hosts", "hostname"]) writeFileSync(join(dir, name), `${name}\n`);
  return dir;
}

async function refused(attempt: Promise<unknown>, dir: string, why: RegExp): Promise<void> {
  const error = await attempt.then(
    () => assert.fail("expected the state directory to be refused"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof UsageError, `expected a UsageError, got ${error}`);
  assert.equal(error.exitCode, ExitCode.usage);
  assert.ok(error.message.startsWith(`state directory ${dir} is not genpush's: `), error.message);
  assert.match(error.message, why);
  assert.match(error.hint ?? "", /set stateDir to a directory of genpush's own/);
}

describe("state directory: genpush's own, or refused", () => {
  it("one that does not exist is created, with the marker", async () => {
    const dir = join(fresh(), "a", "state");
    await claimStateDir(dir);
    assert.deepEqual(readdirSync(dir), [STATE_MARKER]);
    const text = readFileSync(join(dir, STATE_MARKER), "utf8");
    assert.match(text, /^genpush keeps its state here.*\n$/, "one line that says what the file is for");
  });

  it("an empty one (systemd's StateDirectory=) is marked", async () => {
    const dir = fresh();
    await claimStateDir(dir);
    assert.deepEqual(readdirSync(dir), [STATE_MARKER]);
  });

  it("one with what earlier versions left is accepted and marked", async () => {
    const dir = fresh();
    for (const sub of ["profiles", "locks", "gcroots"]) mkdirSync(join(dir, sub));
    writeFileSync(join(dir, "profiles", "system.json"), "{}");
    writeFileSync(join(dir, "profiles", ".system.json.123.456.tmp"), "{");
    await claimStateDir(dir);
    assert.deepEqual(readdirSync(dir).sort(), [STATE_MARKER, "gcroots", "locks", "profiles"]);
  });

  it("a marked one may hold anything", async () => {
    const dir = fresh();
    writeFileSync(join(dir, STATE_MARKER), "");
    writeFileSync(join(dir, "notes"), "");
    await claimStateDir(dir);
    await checkStateDir(dir);
  });

  it("one in use for something else (/etc) is refused, naming what is in it, and left as it was", async () => {
    const dir = foreign();
    await refused(claimStateDir(dir), dir, /it holds group, hostname, hosts and 1 more and no \.genpush-state file/);
    assert.deepEqual(readdirSync(dir).sort(), ["group", "hostname", "hosts", "passwd"]);
  });

  it("a profiles/ that holds other files than state files is refused", async () => {
    const dir = fresh();
    mkdirSync(join(dir, "profiles"));
    writeFileSync(join(dir, "profiles", "README"), "");
    await refused(claimStateDir(dir), dir, /its profiles\/ holds README/);
    assert.equal(existsSync(join(dir, STATE_MARKER)), false);
  });

  it("a file is refused", async () => {
    const file = join(fresh(), "state");
    writeFileSync(file, "");
    await refused(claimStateDir(file), file, /it is not a directory/);
  });

  it("reading (status, diff) refuses the same, and creates nothing", async () => {
    const dir = foreign();
    await refused(checkStateDir(dir), dir, /it holds/);
    await refused(readState(dir, "system"), dir, /it holds/);
    const absent = join(fresh(), "state");
    assert.deepEqual((await readState(absent, "system")).state.caches, {});
    assert.equal(existsSync(absent), false, "reading creates no state directory");
    const old = fresh();
    mkdirSync(join(old, "profiles"));
    await checkStateDir(old);
    assert.deepEqual(readdirSync(old), ["profiles"], "reading adds no marker");
  });
});
