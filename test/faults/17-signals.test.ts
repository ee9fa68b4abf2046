// Signals and closed pipes. A stop (SIGTERM from `systemctl stop`, SIGINT from Ctrl-C) ends every
// wait at once: a push waiting in a retry back-off (a cache answering 503 with Retry-After), and
// a push waiting for another run's lock, exit 143 (130) within a few seconds, the generation
// pending and held against garbage collection; the one stopped while waiting for the lock
// records nothing at all. An empty lock file dated in the future (a power loss while the clock
// ran ahead) is taken over at once. And a reader that closed stdout before genpush wrote a byte
// (`genpush status | head -1`) costs no stack trace: each command ends quietly with the exit
// code it would have had, and a push still records what it pushed.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, readlinkSync, utimesSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { gcRootLink } from "../../src/nix/gc-root.js";
import { lockProfile } from "../../src/state/lock.js";
import { cliEntry, explain, repoRoot, writeConfig } from "../integration/harness/cli.js";
import { scenario } from "../integration/harness/fixture.js";
import { nixEnv } from "../integration/harness/nix.js";
import { Ledger, summary } from "./lib/ledger.js";
import { type Running, said, startGenpush, waitForLine } from "./lib/proc.js";

/** From the signal to the exit, on a loaded machine; the waits it ends last 30 s and 10 minutes. */
const PROMPTLY_MS = 5000;

/** Sends `signal` to genpush (not its group: the stop is genpush's to pass on) and times its end. */
async function stop(run: Running, signal: "SIGTERM" | "SIGINT"): Promise<{ code: number | null; ms: number }> {
  const sent = Date.now();
  process.kill(run.pid, signal);
  const bound = setTimeout(() => run.kill(), 60_000);
  const exit = await run.exited;
  clearTimeout(bound);
  return { code: exit.code, ms: exit.at - sent };
}

/** A cache that answers every request 503, asking for a retry in a minute (genpush waits at most 30 s). */
async function busyCache() {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(503, { "retry-after": "60", "content-length": "0" });
    res.end();
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

test("SIGTERM and SIGINT end a retry back-off and a wait for the lock at once; a lock dated in the future is stale", async (t) => {
  const s = await scenario({ paths: 8, changed: 3, sign: true });
  const busy = await busyCache();
  t.after(async () => {
    await busy.close();
    await s.destroy();
  });
  const books = new Ledger("signals");
  const config = s.configFile();
  const stateFile = join(s.stateDir, "profiles", "test.json");
  const root = gcRootLink(s.stateDir, "test");
  const switchTo = (v: number) => {
    const gen = s.switchTo(v);
    books.switchedTo({ ...gen, label: `test generation ${v + 1}` });
    return gen;
  };
  switchTo(0);
  const first = await s.run("push", "--json");
  assert.equal(first.code, 0, explain(first));
  books.reported(first.json);
  const gen2 = switchTo(1);

  // A retry back-off: the cache answers 503, Retry-After 60; genpush waits 30 s before its next try.
  const busyConfig = writeConfig({ ...s.config, caches: [{ ...s.config.caches[0], store: busy.url }] });
  const backingOff = startGenpush(busyConfig, ["push", "--json"]);
  assert.ok(await waitForLine(backingOff, /retrying in 30\.0s/, 60_000), `it backs off\n${said(backingOff)}`);
  books.fault("SIGTERM during a retry back-off");
  const ended = await stop(backingOff, "SIGTERM");
  t.diagnostic(`a back-off of 30 s ended ${ended.ms} ms after SIGTERM`);
  assert.equal(ended.code, 143, said(backingOff));
  assert.ok(ended.ms < PROMPTLY_MS, `ended ${ended.ms} ms after SIGTERM\n${said(backingOff)}`);
  const stopped = JSON.parse(backingOff.stdout());
  assert.equal(stopped.results[0].status, "failed", said(backingOff));
  assert.match(stopped.results[0].error.message, /stopped by SIGTERM/, said(backingOff));
  assert.equal(readlinkSync(root), gen2.storePath, "the pending generation is held against garbage collection");
  const recorded = JSON.parse(readFileSync(stateFile, "utf8")).caches.local;
  assert.equal(recorded.lastResult.status, "failed", "the stop is recorded as the failure it is");
  assert.equal(recorded.lastPushed.storePath, first.json.results[0].storePath, "nothing recorded as pushed");

  // A wait for the lock, held by a live process (this test): a stop ends it, and nothing is
  // recorded or changed, since nothing was done.
  for (const [signal, code] of [
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const) {
    const held = await lockProfile(s.stateDir, "test", { timeoutMs: 1000 });
    const before = readFileSync(stateFile, "utf8");
    try {
      const waiting = startGenpush(config, ["push", "--json"]);
      const waits = new RegExp(`waiting for another genpush \\(pid ${process.pid}\\) to finish with profile test`);
      assert.ok(await waitForLine(waiting, waits, 60_000), `it waits for the lock\n${said(waiting)}`);
      books.fault(`${signal} while waiting for the lock`);
      const end = await stop(waiting, signal);
      t.diagnostic(`a wait for the lock (bound: 10 minutes) ended ${end.ms} ms after ${signal}`);
      assert.equal(end.code, code, said(waiting));
      assert.ok(end.ms < PROMPTLY_MS, `ended ${end.ms} ms after ${signal}\n${said(waiting)}`);
      const json = JSON.parse(waiting.stdout());
      assert.equal(json.results.length, 0, `nothing pushed or asked\n${said(waiting)}`);
      assert.match(json.profiles[0].error.message, new RegExp(`stopped by ${signal}`), said(waiting));
    } finally {
      await held.release();
    }
    assert.equal(readFileSync(stateFile, "utf8"), before, `${signal}: the state is as it was`);
    assert.equal(readlinkSync(root), gen2.storePath, `${signal}: the generation stays held`);
  }

  // An empty lock file dated an hour ahead (a power loss while the clock ran ahead): taken over
  // at once, well within the lock time-out an unreadable lock would otherwise be waited for.
  mkdirSync(join(s.stateDir, "locks"), { recursive: true });
  const lock = join(s.stateDir, "locks", "test.lock");
  writeFileSync(lock, "");
  const ahead = new Date(Date.now() + 3_600_000);
  utimesSync(lock, ahead, ahead);
  books.fault("an empty lock file dated an hour ahead");
  const after = await s.run("push", "--json", "--lock-timeout", "30");
  assert.equal(after.code, 0, explain(after));
  assert.doesNotMatch(after.stderr, /locked by another genpush/, explain(after));
  assert.equal(after.json.results[0].status, "pushed", explain(after));
  assert.equal(after.json.results[0].storePath, gen2.storePath, explain(after));
  books.reported(after.json);
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: s.key?.publicKey })));
});

/** genpush ARGS with its stdout closed by the reader before genpush writes a byte: its exit code and stderr. */
async function withStdoutClosed(config: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", cliEntry, "--config", config, ...args], {
    cwd: repoRoot,
    env: nixEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  // The reader goes away at once: every write genpush makes finds no one to read it (EPIPE).
  child.stdout.destroy();
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString("utf8");
  });
  const bound = setTimeout(() => child.kill("SIGKILL"), 120_000);
  const [code] = await new Promise<[number | null]>((ok) => child.once("close", (c) => ok([c])));
  clearTimeout(bound);
  return { code, stderr };
}

test("a reader that closed stdout (`genpush status | head -1`): no stack trace, the exit code as ever", async (t) => {
  const s = await scenario({ paths: 8, changed: 3, sign: true });
  t.after(() => s.destroy());
  const books = new Ledger("signals");
  const gen = s.switchTo(0);
  books.switchedTo({ ...gen, label: "test generation 1" });
  const config = s.configFile();
  books.fault("stdout closed by its reader");
  // A push with nobody reading still pushes and records: the output is what was lost, not the work.
  const pushed = await withStdoutClosed(config, ["push", "--json"]);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.doesNotMatch(pushed.stderr, /EPIPE|Unhandled|internal error|\n\s+at /, pushed.stderr);
  const state = JSON.parse(readFileSync(join(s.stateDir, "profiles", "test.json"), "utf8"));
  assert.equal(state.caches.local.lastPushed.storePath, gen.storePath, "the push was recorded");
  books.mustHold(gen.storePath);
  for (const args of [
    ["--help"],
    ["status"],
    ["status", "--json"],
    ["config", "check"],
    ["diff", "--profile", "test"],
    ["push", "--help"],
  ]) {
    const r = await withStdoutClosed(config, args);
    assert.equal(r.code, 0, `genpush ${args.join(" ")}\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /EPIPE|Unhandled|internal error|\n\s+at /, `genpush ${args.join(" ")}\n${r.stderr}`);
  }
  // A failure still says so, and keeps its exit code.
  const bad = await withStdoutClosed(config, ["diff", "--profile", "nosuch"]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /nosuch/, bad.stderr);
  assert.doesNotMatch(bad.stderr, /EPIPE|\n\s+at /, bad.stderr);
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: s.key?.publicKey })));
});
