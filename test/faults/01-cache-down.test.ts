// The cache goes down and comes back during a series of switches: nginx stopped between
// pushes and in the middle of an upload (held open by a slowed compressor), started again.
// Each push fails or succeeds as the moment of the stop implies, and every failed push keeps its
// generation pending; once the cache is back, the newest generation is pushed, and every
// generation genpush ever reported pushed is in the cache, whole, and pulls with its signature.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { explain, type RunResult } from "../integration/harness/cli.js";
import { hashOf, scenario } from "../integration/harness/fixture.js";
import { Ledger, summary } from "./lib/ledger.js";
import { said, startGenpush, waitForLine } from "./lib/proc.js";
import { installShims, which } from "./lib/shims.js";

function pendingOf(status: RunResult): boolean {
  return status.json?.profiles?.[0]?.caches?.[0]?.pending;
}

test("cache down and back during a series of switches: nothing genpush reported is lost", async (t) => {
  const s = await scenario({ paths: 16, changed: 4, sign: true });
  t.after(() => s.destroy());
  const books = new Ledger("cache-down");
  const key = s.key as NonNullable<typeof s.key>;
  let version = 0;
  const switchNext = () => {
    const gen = s.switchTo(version++);
    books.switchedTo({ ...gen, label: `test generation ${version}` });
    return gen;
  };
  const push = async (expect: 0 | 1) => {
    const started = Date.now();
    const r = await s.run("push", "--json");
    t.diagnostic(`push: exit ${r.code} in ${Date.now() - started} ms`);
    assert.equal(r.code, expect, explain(r));
    books.reported(r.json);
    return r;
  };

  switchNext();
  await push(0);

  // Down between pushes: a switch, a failed push that says why, another switch while it is down.
  await s.cache.stop();
  books.fault("nginx stopped");
  const first = switchNext();
  const r = await push(1);
  const [result] = r.json.results;
  assert.equal(result.status, "failed", explain(r));
  assert.match(result.error.message, /cache local is unreachable|connect ECONNREFUSED/, explain(r));
  const status = await s.run("status", "--json");
  assert.equal(pendingOf(status), true, explain(status));
  assert.equal(status.json.profiles[0].caches[0].lastResult.storePath, first.storePath);
  const pending = switchNext();
  await s.cache.start();
  const back = await push(0);
  assert.equal(back.json.results[0].storePath, pending.storePath, "the newest generation once the cache is back");
  assert.equal(back.json.results[0].status, "pushed", explain(back));

  // Down in the middle of an upload: each compressor run first waits a second (a shim before xz
  // on PATH, which logs it), so a NAR is still on its way when the first xz starts and nginx stops.
  const cut = switchNext();
  const xz = which("xz");
  assert.ok(xz, "xz on PATH (genpush compresses NARs with it)");
  const slowXz = installShims({ xz }, "sleep 1");
  const run = startGenpush(s.configFile(), ["push", "--json"], { PATH: slowXz.path });
  let ended = false;
  void run.exited.then(() => {
    ended = true;
  });
  assert.ok(await waitForLine(run, /uploading \d+ paths? to local/), said(run));
  for (const deadline = Date.now() + 30_000; slowXz.calls().length === 0 && !ended && Date.now() < deadline; )
    await new Promise((ok) => setTimeout(ok, 5));
  assert.ok(slowXz.calls().length > 0, `a NAR upload began (its compressor ran)\n${said(run)}`);
  await s.cache.stop();
  const topThere = existsSync(join(s.cache.dir, `${hashOf(cut.storePath)}.narinfo`));
  assert.ok(!ended && !topThere, `nginx stopped while the push was still uploading\n${said(run)}`);
  books.fault("nginx stopped during an upload");
  const midway = await run.result();
  assert.equal(midway.code, 1, said(run));
  assert.equal(midway.json.results[0].status, "failed", said(run));
  assert.equal(midway.json.results[0].storePath, cut.storePath, said(run));
  assert.match(midway.json.results[0].error.message, /cache local/, said(run));
  const cutStatus = await s.run("status", "--json");
  assert.equal(pendingOf(cutStatus), true, explain(cutStatus));
  assert.equal(cutStatus.json.profiles[0].caches[0].lastResult.storePath, cut.storePath);
  t.diagnostic(`stopped while uploading: exit 1, ${midway.json.results[0].error.message}`);

  // One more switch while it is down (no push: the trigger came and went), then back for good.
  switchNext();
  await s.cache.start();
  books.fault("nginx restarted (the cache comes back with what it had)");
  const final = await push(0);
  assert.equal(final.json.results[0].status, "pushed", explain(final));
  const verify = await s.run("verify", "--profile", "test", "--repair", "--json");
  assert.equal(verify.code, 0, explain(verify));
  assert.deepEqual(verify.json.profiles[0].caches[0].missing, [], explain(verify));
  assert.equal((await s.run("status", "--json")).json.profiles[0].caches[0].pending, false);

  const tally = books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: key.publicKey });
  t.diagnostic(summary(tally));
});
