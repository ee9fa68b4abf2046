// Caches that misbehave in ways an idle time-out cannot see: a server that trickles its headers
// or its `nix-cache-info` a byte at a time, one that answers an endless body, and one that
// answers 200 to a NAR upload before reading it. Each run must end by itself within the bound
// the configuration implies (timeoutSeconds 2: a request 2 s, an operation with its retries
// 4 x 2 s), exit 1 with its --json document and a sentence naming the cache, record the failure,
// leave no lock behind, and the generation must reach the cache once it behaves.
import assert from "node:assert/strict";
import { test } from "node:test";
import { explain } from "../integration/harness/cli.js";
import { scenario } from "../integration/harness/fixture.js";
import { startHostile } from "./lib/hostile.js";
import { Ledger, summary } from "./lib/ledger.js";
import { said, startGenpush } from "./lib/proc.js";
import { behindSlowProxy, startUploading } from "./lib/slow.js";

/** An operation's budget (8 s), several of them in a row at most, and node's start. */
const BOUND_MS = 40_000;
/** The test's own backstop: a run still going then is killed (and the test fails). */
const KILL_MS = 90_000;

const cases = [
  {
    mode: "trickle-headers",
    fault: "the cache trickles its headers, a byte every 500 ms",
    message: /cache local did not answer HEAD \/\w+\.narinfo within 2s.*gave up after \d+ tries/,
  },
  {
    mode: "trickle-cache-info",
    fault: "the cache trickles nix-cache-info, a byte every 500 ms",
    message: /cache local did not finish answering GET \/nix-cache-info within 2s.*gave up after \d+ tries/,
  },
  {
    mode: "endless-cache-info",
    fault: "the cache answers nix-cache-info with an endless body",
    message: /cache local answered GET \/nix-cache-info with more than 64 KiB/,
  },
  {
    mode: "early-nar",
    fault: "the cache answers 200 to a NAR upload before reading it",
    message: /cache local answered PUT \/nar\/\S+ with HTTP 200 before receiving the whole upload/,
  },
] as const;

test("hostile caches: every run ends by itself, says why, records it, and the work is pushed later", async (t) => {
  const s = await scenario({ paths: 10, changed: 2, sign: true });
  const hostile = await startHostile(s.cache.port);
  t.after(async () => {
    await hostile.close();
    await s.destroy();
  });
  s.config.caches[0].store = hostile.url;
  s.config.caches[0].timeoutSeconds = 2;
  const config = s.configFile();
  const books = new Ledger("hostile");
  let version = 0;
  const switchNext = () => {
    const gen = s.switchTo(version++);
    books.switchedTo({ ...gen, label: `test generation ${version}` });
    return gen;
  };
  const push = async () => {
    const run = startGenpush(config, ["push", "--json"]);
    const backstop = setTimeout(() => run.kill(), KILL_MS);
    const r = await run.result();
    clearTimeout(backstop);
    books.reported(r.json);
    return { run, r, ms: (await run.exited).at - run.startedAt };
  };

  switchNext();
  assert.equal((await push()).r.code, 0);

  for (const c of cases) {
    hostile.mode = c.mode;
    books.fault(c.fault);
    const pending = switchNext();
    const { run, r, ms } = await push();
    assert.notEqual(r.code, -1, `${c.mode}: still running after ${KILL_MS} ms, killed\n${said(run)}`);
    assert.equal(r.code, 1, `${c.mode}: ${explain(r)}`);
    assert.ok(ms < BOUND_MS, `${c.mode}: ended after ${ms} ms`);
    assert.ok(r.json, `${c.mode}: --json printed its document\n${explain(r)}`);
    const [result] = r.json.results;
    assert.equal(result.status, "failed", `${c.mode}: ${explain(r)}`);
    assert.match(result.error.message, c.message, `${c.mode}: ${explain(r)}`);
    assert.ok((hostile.served[c.mode] ?? 0) > 0, `${c.mode}: the hostile answer was given`);
    t.diagnostic(`${c.mode}: ended after ${ms} ms: ${result.error.message}`);

    hostile.mode = "forward";
    const status = await s.run("status", "--json");
    const recorded = status.json.profiles[0].caches[0];
    assert.equal(recorded.pending, true, explain(status));
    assert.equal(recorded.lastResult.status, "failed", explain(status));
    assert.equal(recorded.lastResult.storePath, pending.storePath, explain(status));

    // No lock or stuck state left: the next run starts at once and pushes it.
    const back = await push();
    assert.equal(back.r.code, 0, `${c.mode}, then behaving: ${explain(back.r)}`);
    assert.doesNotMatch(back.run.stderr(), /waiting for another genpush/);
    assert.equal(back.r.json.results[0].status, "pushed");
    assert.equal(back.r.json.results[0].storePath, pending.storePath);
  }
  assert.ok(hostile.endlessBytes < 16 * 1024 * 1024, `read ${hostile.endlessBytes} bytes of the endless body`);

  const key = s.key as NonNullable<typeof s.key>;
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: key.publicKey })));
});

test("SIGTERM during an upload (systemctl stop, the units' backstop): the result is printed and recorded, exit 143", async (t) => {
  const { s, config, books, key } = await behindSlowProxy(t, "hostile", { paths: 12, delayMs: 300 });
  const run = await startUploading(config, ["push", "--json"]);
  process.kill(run.pid, "SIGTERM");
  books.fault("SIGTERM while uploading");
  const r = await run.result();
  assert.equal(r.code, 143, said(run));
  assert.ok(r.json, `--json printed its document\n${said(run)}`);
  assert.equal(r.json.results[0].status, "failed", said(run));
  assert.match(r.json.results[0].error.message, /stopped by SIGTERM/, said(run));
  const status = await s.run("status", "--json");
  const recorded = status.json.profiles[0].caches[0];
  assert.equal(recorded.pending, true, explain(status));
  assert.equal(recorded.lastResult.status, "failed", explain(status));
  assert.match(recorded.lastResult.message, /stopped by SIGTERM/);

  const again = await s.run("push", "--json");
  assert.equal(again.code, 0, explain(again));
  books.reported(again.json);
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: key.publicKey })));
});

test("nix copy uploading to a cache that trickles its answers ends with the operation's budget", async (t) => {
  const s = await scenario({ paths: 8, changed: 2, sign: true });
  const hostile = await startHostile(s.cache.port);
  t.after(async () => {
    await hostile.close();
    await s.destroy();
  });
  // A setting genpush's own uploader does not implement: nix copy uploads.
  s.config.caches[0].store = `${hostile.url}?write-nar-listing=true`;
  s.config.caches[0].timeoutSeconds = 2;
  const config = s.configFile();
  const books = new Ledger("hostile");
  const gen = s.switchTo(0);
  books.switchedTo({ ...gen, label: "test generation 1" });
  hostile.mode = "trickle-puts";
  books.fault("the cache trickles its answers to nix copy's uploads");
  const run = startGenpush(config, ["push", "--json"]);
  const backstop = setTimeout(() => run.kill(), KILL_MS);
  const r = await run.result();
  clearTimeout(backstop);
  const ms = (await run.exited).at - run.startedAt;
  assert.notEqual(r.code, -1, `still running after ${KILL_MS} ms, killed\n${said(run)}`);
  assert.equal(r.code, 1, explain(r));
  assert.ok(ms < BOUND_MS, `ended after ${ms} ms`);
  assert.equal(r.json.results[0].status, "failed", explain(r));
  assert.match(r.json.results[0].error.message, /cache local: .*gave up after \d+ tr/, explain(r));
  t.diagnostic(`nix copy, trickled: ended after ${ms} ms: ${r.json.results[0].error.message}`);

  hostile.mode = "forward";
  const back = await s.run("push", "--json");
  assert.equal(back.code, 0, explain(back));
  books.reported(back.json);
  const key = s.key as NonNullable<typeof s.key>;
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: key.publicKey })));
});
