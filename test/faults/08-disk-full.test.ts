// The state directory full: a tiny tmpfs of its own, filled to its last page (which the lock
// file takes). The push uploads, then cannot record: exit 1 with an error that names the state
// file and says the file system is full; the old state byte for byte; the generation pending.
// Space freed, the next push records it without uploading anything again.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { STATE_MARKER } from "../../src/state/state-dir.js";
import { explain } from "../integration/harness/cli.js";
import { type ScenarioOptions, scenario } from "../integration/harness/fixture.js";
import { narinfo } from "../integration/harness/nginx.js";
import { buildDerivations, closureOf, tempDir } from "../integration/harness/nix.js";
import { Ledger, summary } from "./lib/ledger.js";

const PAGE = 4096;

/** Fills the file system of `dir` with one file, then gives back `pages` pages; returns the file. */
function fillUp(dir: string, pages: number): string {
  const file = join(dir, "filler");
  const fd = openSync(file, "w");
  const block = Buffer.alloc(PAGE, 1);
  let size = 0;
  try {
    for (;;) size += writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  }
  ftruncateSync(fd, size - pages * PAGE);
  closeSync(fd);
  return file;
}

/** A scenario whose state directory is a tmpfs of `kib` KiB of its own, unmounted after the test. */
async function onTinyStateDir(t: TestContext, options: ScenarioOptions, kib: number) {
  const s = await scenario(options);
  const mount = tempDir("genpush-tiny-state-");
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${kib}k,mode=0755`, "genpush-faults", mount]);
  t.after(async () => {
    execFileSync("umount", [mount]);
    await s.destroy();
  });
  s.config.stateDir = mount;
  s.configFile();
  return { s, mount };
}

test("the state directory full: a clear error, the old state intact, pending; recorded once there is room", async (t) => {
  const { s, mount } = await onTinyStateDir(t, { paths: 12, changed: 3, sign: true }, 256);
  const stateFile = join(mount, "profiles", "test.json");
  const books = new Ledger("disk-full");
  const g1 = s.switchTo(0);
  books.switchedTo({ ...g1, label: "test generation 1" });
  const first = await s.run("push", "--json");
  assert.equal(first.code, 0, explain(first));
  books.reported(first.json);
  const before = readFileSync(stateFile);

  const g2 = s.switchTo(1);
  books.switchedTo({ ...g2, label: "test generation 2" });
  const filler = fillUp(mount, 1);
  books.fault("state directory full");
  t.diagnostic(`free in the state directory: ${statfsSync(mount).bavail * statfsSync(mount).bsize} bytes`);
  const full = await s.run("push", "--json");
  assert.equal(full.code, 1, explain(full));
  const [result] = full.json.results;
  assert.equal(result.status, "failed", explain(full));
  assert.ok(result.error.message.includes(stateFile), `the error names ${stateFile}\n${explain(full)}`);
  assert.match(result.error.message, /full/, explain(full));
  assert.doesNotMatch(full.stderr, /internal error|\n\s+at /, explain(full));
  assert.deepEqual(readFileSync(stateFile), before, "the old state is intact");
  const status = await s.run("status", "--json");
  assert.equal(status.json.profiles[0].caches[0].pending, true, explain(status));
  assert.equal(status.json.profiles[0].caches[0].lastPushed.storePath, g1.storePath);

  rmSync(filler);
  await s.cache.clearLog();
  const after = await s.run("push", "--json");
  assert.equal(after.code, 0, explain(after));
  assert.equal(after.json.results[0].storePath, g2.storePath);
  books.reported(after.json);
  assert.equal(await s.cache.count("PUT", narinfo), 0, "what the failed run uploaded is not sent again");
  assert.equal(JSON.parse(readFileSync(stateFile, "utf8")).caches.local.lastPushed.storePath, g2.storePath);
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: s.key?.publicKey })));
});

test("the state directory full to the last byte: exit 1 with a clear error, never a crash", async (t) => {
  const { s, mount } = await onTinyStateDir(t, { paths: 8, changed: 2, sign: true }, 128);
  const books = new Ledger("disk-full");
  const gen = s.switchTo(0);
  books.switchedTo({ ...gen, label: "test generation 1" });
  // A state directory genpush has used before (else it is refused as not its own, exit 2).
  writeFileSync(join(mount, STATE_MARKER), "");
  const filler = fillUp(mount, 0);
  books.fault("state directory full to the last byte");
  const full = await s.run("push", "--json");
  const said = explain(full);
  const problems: string[] = [];
  if (full.code !== 1) problems.push(`exit ${full.code}, not 1`);
  if (!new RegExp(`${mount}.*full|full.*${mount}`).test(said))
    problems.push("no error naming the state directory as full");
  if (/internal error|\n\s+at /.test(full.stderr)) problems.push("an internal error");
  if (!full.json) problems.push("no JSON document on stdout despite --json");
  rmSync(filler);
  const started = Date.now();
  const after = await s.run("push", "--json");
  const took = Date.now() - started;
  if (after.code !== 0) problems.push(`the push once there is room: exit ${after.code}`);
  if (took > 8_000) problems.push(`the push once there is room took ${took} ms (a lock file left empty, waited out?)`);
  books.reported(after.json);
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: s.key?.publicKey })));
  assert.deepEqual(problems, [], said);
});

test("the push queue's state directory full: enqueue exits 1 saying so and leaves nothing half-written; with room, it queues", async (t) => {
  const { s, mount } = await onTinyStateDir(t, { sign: true }, 128);
  const books = new Ledger("disk-full");
  const [out] = buildDerivations(s.seed, 1) as [string];
  books.switchedTo({ storePath: out, closure: closureOf(out), label: `queued ${out}` });
  writeFileSync(join(mount, STATE_MARKER), "");
  const filler = fillUp(mount, 0);
  books.fault("state directory full as a build's hook queues it");
  const full = await s.run("enqueue", out);
  assert.equal(full.code, 1, explain(full));
  assert.match(full.stderr, new RegExp(`the file system of ${mount} is full`), explain(full));
  assert.doesNotMatch(full.stderr, /internal error|\n\s+at /, explain(full));
  const queue = join(mount, "queue");
  for (const dir of ["new", "pending", "roots"]) {
    const path = join(queue, dir);
    assert.deepEqual(existsSync(path) ? readdirSync(path) : [], [], `nothing left in queue/${dir}`);
  }

  rmSync(filler);
  const queued = await s.run("enqueue", out);
  assert.equal(queued.code, 0, explain(queued));
  const pushed = await s.run("push", "--queue", "--json");
  assert.equal(pushed.code, 0, explain(pushed));
  books.mustHold(out);
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: s.key?.publicKey })));
});
