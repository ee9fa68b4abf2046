// The cache goes down and comes back during a series of switches: nginx stopped between
// pushes and in the middle of an upload, started again. Every failed push keeps its
// generation pending; once the cache is back, the newest generation is pushed, and every
// generation genpush ever reported pushed is in the cache, whole, and pulls with its signature.
import assert from "node:assert/strict";
import { test } from "node:test";
import { explain, type RunResult } from "../integration/harness/cli.js";
import { scenario } from "../integration/harness/fixture.js";
import { Ledger, summary } from "./lib/ledger.js";
import { said, startGenpush, waitForLine } from "./lib/proc.js";

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

  // Down in the middle of an upload: stopped as soon as genpush says it is uploading.
  switchNext();
  const run = startGenpush(s.configFile(), ["push", "--json"]);
  const uploading = await waitForLine(run, /uploading \d+ paths? to local/);
  await s.cache.stop();
  books.fault("nginx stopped during an upload");
  const midway = await run.result();
  assert.ok([0, 1].includes(midway.code), said(run));
  books.reported(midway.json);
  t.diagnostic(`stopped ${uploading ? "while uploading" : "after the push"}: exit ${midway.code}`);

  // One more switch while it is down (no push: the trigger came and went), then back for good.
  switchNext();
  await s.cache.start();
  books.fault("nginx restarted (the cache comes back with what it had)");
  const final = await push(0);
  assert.equal(final.json.results[0].status, "pushed", explain(final));
  const verify = await s.run("verify", "--profile", "test", "--repair", "--json");
  assert.equal(verify.code, 0, explain(verify));
  assert.deepEqual(verify.json.caches[0].missing, [], explain(verify));
  assert.equal((await s.run("status", "--json")).json.profiles[0].caches[0].pending, false);

  const tally = books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: key.publicKey });
  t.diagnostic(summary(tally));
});
