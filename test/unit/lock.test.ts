import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { lockProfile } from "../../src/lock.js";

const fresh = () => mkdtempSync(join(tmpdir(), "genpush-lock-"));

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
    const child = spawn(process.execPath, ["-e", ""]);
    await new Promise((resolve) => child.once("exit", resolve));
    await mkdir(join(dir, "locks"), { recursive: true });
    writeFileSync(join(dir, "locks", "p.lock"), `${child.pid}\n`);
    const lock = await lockProfile(dir, "p", { timeoutMs: 1000 });
    await lock.release();
  });

  it("profiles lock independently", async () => {
    const dir = fresh();
    const a = await lockProfile(dir, "a", { timeoutMs: 100 });
    const b = await lockProfile(dir, "b", { timeoutMs: 100 });
    await a.release();
    await b.release();
  });
});
