import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { GenpushError } from "../../../src/runtime/errors.js";
import { lockProfile } from "../../../src/state/lock.js";

const fresh = () => mkdtempSync(join(tmpdir(), "genpush-lock-"));
const lockFile = (dir: string) => join(dir, "locks", "p.lock");

/** Writes STATE/locks/p.lock as another process would have left it (`ageMs` below 0: dated in the future). */
function leaveLock(dir: string, text: string, ageMs = 0): void {
  mkdirSync(join(dir, "locks"), { recursive: true });
  writeFileSync(lockFile(dir), text);
  if (ageMs !== 0) {
    const then = new Date(Date.now() - ageMs);
    utimesSync(lockFile(dir), then, then);
  }
}

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
function startOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
}

const bootId = () => readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();

/** A live process that has nothing to do with genpush, killed at the end of the test. */
async function unrelated(t: TestContext): Promise<number> {
  const child = spawn("sleep", ["60"], { stdio: "ignore" });
  t.after(() => child.kill());
  await once(child, "spawn");
  return child.pid ?? 0;
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn("true");
  await once(child, "exit");
  return child.pid ?? 0;
}

describe("lock: one genpush per profile", () => {
  it("a second locker waits until the first releases", async () => {
    const dir = fresh();
    const first = await lockProfile(dir, "p", { timeoutMs: 5000 });
    let waitedFor: number | undefined;
    const second = lockProfile(dir, "p", { timeoutMs: 5000, onWait: (pid) => (waitedFor = pid) });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(waitedFor, process.pid);
    await first.release();
    await (await second).release();
  });

  it("gives up after the timeout with a clear error", async () => {
    const dir = fresh();
    const first = await lockProfile(dir, "p", { timeoutMs: 1000 });
    await assert.rejects(lockProfile(dir, "p", { timeoutMs: 300 }), /locked by another genpush \(pid \d+\)/);
    await first.release();
  });

  it("takes over a lock left by a killed process", async () => {
    const dir = fresh();
    leaveLock(dir, `${await deadPid()}\n`);
    const lock = await lockProfile(dir, "p", { timeoutMs: 1000 });
    await lock.release();
  });

  it("leaves nothing behind once released, nor what killed runs left: a claim on a stale lock, a temp file", async () => {
    const dir = fresh();
    leaveLock(dir, `${await deadPid()}\n`);
    const killed = async (token: string) => `${JSON.stringify({ pid: await deadPid(), token })}\n`;
    writeFileSync(`${lockFile(dir)}.i${statSync(lockFile(dir)).ino}`, await killed("1111111111111111"));
    writeFileSync(join(dir, "locks", ".p.lock.2222222222222222"), await killed("2222222222222222"));
    await (await lockProfile(dir, "p", { timeoutMs: 1000 })).release();
    assert.deepEqual(readdirSync(join(dir, "locks")), []);
  });

  it("profiles lock independently", async () => {
    const dir = fresh();
    const a = await lockProfile(dir, "a", { timeoutMs: 100 });
    const b = await lockProfile(dir, "b", { timeoutMs: 100 });
    await a.release();
    await b.release();
  });
});

describe("lock: a live pid is not enough (pids are reused after a crash or a reboot)", () => {
  it("takes over a lock naming a live process with another start time", async (t) => {
    const dir = fresh();
    const pid = await unrelated(t);
    leaveLock(dir, `${JSON.stringify({ pid, start: "1", boot: bootId() })}\n`);
    await (await lockProfile(dir, "p", { timeoutMs: 1000 })).release();
  });

  it("takes over a lock from another boot, even naming a live process with that start time", async (t) => {
    const dir = fresh();
    const pid = await unrelated(t);
    const other = "00000000-0000-4000-8000-000000000000";
    leaveLock(dir, `${JSON.stringify({ pid, start: startOf(pid), boot: other })}\n`);
    await (await lockProfile(dir, "p", { timeoutMs: 1000 })).release();
  });

  it("takes over a lock naming a zombie (exited, not yet reaped)", async (t) => {
    // sh becomes `sleep 60`, which never reaps its child: that ends once sh is gone (a shell would reap it).
    const parent = spawn("sh", ["-c", "sleep 0.5 & echo $!; exec sleep 60"], { stdio: ["ignore", "pipe", "ignore"] });
    t.after(() => parent.kill());
    const [line] = await once(createInterface({ input: parent.stdout }), "line");
    const zombie = Number(line);
    while (!/\) Z /.test(readFileSync(`/proc/${zombie}/stat`, "utf8")))
      await new Promise((resolve) => setTimeout(resolve, 10));
    const dir = fresh();
    leaveLock(dir, `${zombie}\n`);
    await (await lockProfile(dir, "p", { timeoutMs: 1000 })).release();
  });

  it("an earlier genpush's lock (just a pid) naming a process started after it was written is taken over", async (t) => {
    const dir = fresh();
    leaveLock(dir, `${await unrelated(t)}\n`, 60_000);
    await (await lockProfile(dir, "p", { timeoutMs: 1000 })).release();
  });

  it("an earlier genpush's lock naming a process that was running when it was written is waited for", async (t) => {
    const dir = fresh();
    const pid = await unrelated(t);
    leaveLock(dir, `${pid}\n`);
    await assert.rejects(
      lockProfile(dir, "p", { timeoutMs: 300 }),
      new RegExp(`locked by another genpush \\(pid ${pid}\\)`),
    );
  });

  it("an unreadable lock is waited for while it may still be being written, and taken over once old", async () => {
    const dir = fresh();
    leaveLock(dir, "");
    await assert.rejects(lockProfile(dir, "p", { timeoutMs: 300 }), /locked by another genpush \(pid unknown\)/);
    leaveLock(dir, "", 60_000);
    await (await lockProfile(dir, "p", { timeoutMs: 1000 })).release();
  });

  it("an unreadable lock dated in the future (left while the clock ran ahead) is taken over at once", async () => {
    for (const text of ["", '{"pid":']) {
      const dir = fresh();
      leaveLock(dir, text, -3_600_000);
      // Within the bound, which an unreadable lock that still counted would outlast.
      await (await lockProfile(dir, "p", { timeoutMs: 2000 })).release();
      assert.deepEqual(readdirSync(join(dir, "locks")), []);
    }
  });

  it("a lock naming a live holder is waited for, however far in the future it is dated", async () => {
    const dir = fresh();
    const held = await lockProfile(dir, "p", { timeoutMs: 1000 });
    const then = new Date(Date.now() + 3_600_000);
    utimesSync(lockFile(dir), then, then);
    await assert.rejects(
      lockProfile(dir, "p", { timeoutMs: 300 }),
      new RegExp(`locked by another genpush \\(pid ${process.pid}\\)`),
    );
    await held.release();
  });
});

describe("lock: a stop ends the wait", () => {
  it("an aborted signal ends a wait for a live holder at once, with its reason, and leaves the lock alone", async () => {
    const dir = fresh();
    const held = await lockProfile(dir, "p", { timeoutMs: 1000 });
    const before = readFileSync(lockFile(dir), "utf8");
    const stop = new AbortController();
    let waiting = false;
    const second = lockProfile(dir, "p", { timeoutMs: 20_000, signal: stop.signal, onWait: () => (waiting = true) });
    while (!waiting) await new Promise((resolve) => setTimeout(resolve, 10));
    const stoppedAt = Date.now();
    stop.abort(new GenpushError("stopped by SIGTERM"));
    await assert.rejects(second, /stopped by SIGTERM/);
    assert.ok(Date.now() - stoppedAt < 5000, "ended at once, not at the bound");
    assert.equal(readFileSync(lockFile(dir), "utf8"), before, "the holder's lock is untouched");
    assert.deepEqual(readdirSync(join(dir, "locks")), ["p.lock"], "nothing of the waiter's left");
    await held.release();
  });
});

/** A genpush-like process that takes the lock on every line it reads (`DIR LOG`) and logs its stay. */
function startLocker(): { child: ChildProcess; next(): Promise<string> } {
  const lockModule = fileURLToPath(new URL("../../../src/state/lock.ts", import.meta.url));
  const code = `
    import { appendFileSync } from "node:fs";
    import { createInterface } from "node:readline";
    import { lockProfile } from ${JSON.stringify(lockModule)};
    console.log("ready");
    for await (const line of createInterface({ input: process.stdin })) {
      const [dir, log] = line.split(" ");
      const lock = await lockProfile(dir, "p", { timeoutMs: 20000 });
      appendFileSync(log, "enter " + process.pid + "\\n");
      await new Promise((ok) => setTimeout(ok, 50));
      appendFileSync(log, "leave " + process.pid + "\\n");
      await lock.release();
      console.log("done");
    }`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  return { child, next: async () => String((await lines.next()).value) };
}

/** Who held the lock when two did at once, from a log of enter/leave lines. */
function overlaps(log: string): string[] {
  const found: string[] = [];
  let holder: string | undefined;
  let enters = 0;
  for (const [what, pid] of log
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(" "))) {
    if (what === "enter") {
      enters++;
      if (holder !== undefined) found.push(`${pid} entered while ${holder} held it`);
      holder = pid;
    } else if (holder === pid) holder = undefined;
  }
  if (enters !== 4) found.push(`${enters} of 4 lockers entered`);
  return found;
}

describe("lock: taking over a stale lock lets exactly one in", () => {
  it("4 processes at once against a lock naming a dead pid, 10 times: never two holders", async (t) => {
    const lockers = Array.from({ length: 4 }, startLocker);
    t.after(() => {
      for (const l of lockers) l.child.kill();
    });
    for (const l of lockers) assert.equal(await l.next(), "ready");
    const bad: string[] = [];
    for (let trial = 0; trial < 10; trial++) {
      const dir = fresh();
      const log = join(dir, "log");
      const pid = await deadPid();
      // An earlier genpush's lock and one of this version's: the two ways a stale lock is named.
      leaveLock(dir, trial % 2 ? `${pid}\n` : `${JSON.stringify({ pid, start: "1", token: "0123456789abcdef" })}\n`);
      for (const l of lockers) l.child.stdin?.write(`${dir} ${log}\n`);
      for (const l of lockers) assert.equal(await l.next(), "done");
      for (const problem of overlaps(readFileSync(log, "utf8"))) bad.push(`trial ${trial + 1}: ${problem}`);
      assert.deepEqual(readdirSync(join(dir, "locks")), [], "nothing left behind");
    }
    assert.deepEqual(bad, []);
  });

  it("release leaves alone a lock that another process has taken over", async () => {
    const dir = fresh();
    const lock = await lockProfile(dir, "p", { timeoutMs: 1000 });
    // As another genpush would have, having judged ours stale: a whole new file in its place.
    const theirs = `${JSON.stringify({ pid: process.ppid, start: startOf(process.ppid), token: "fedcba9876543210" })}\n`;
    writeFileSync(`${lockFile(dir)}.new`, theirs);
    renameSync(`${lockFile(dir)}.new`, lockFile(dir));
    await lock.release();
    assert.equal(readFileSync(lockFile(dir), "utf8"), theirs);
  });
});
