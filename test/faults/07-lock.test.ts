// A manual `genpush push` while another one works on the same profile (the service, slowed by
// a slow proxy from the e2e harness): the second says it waits, naming the first one's pid,
// and runs no program (each logged by a shim first on its PATH) until the first is done. It
// then finds the generation recorded and makes no request at all: no interleaving. Both exit 0.
// The same for `verify --repair` beside a push: it waits, runs nothing while the push uploads,
// and no NAR or narinfo goes up twice (a plain verify, which only reads, does not wait). A lock
// whose holder was killed is taken over.
import assert from "node:assert/strict";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { lockProfile } from "../../src/state/lock.js";
import { explain, runGenpush, writeConfig } from "../integration/harness/cli.js";
import { hashOf } from "../integration/harness/fixture.js";
import { tempDir } from "../integration/harness/nix.js";
import { summary } from "./lib/ledger.js";
import { said, startGenpush, until, waitForLine } from "./lib/proc.js";
import { hostShims } from "./lib/shims.js";
import { behindSlowProxy, startUploading } from "./lib/slow.js";

test("a second push on the same profile waits for the lock and never interleaves", async (t) => {
  const { s, proxy, config, books } = await behindSlowProxy(t, "lock", { paths: 16, delayMs: 500 });
  const first = await startUploading(config, ["push", "--json"], "the first push");
  // The second's programs (nix, nix-store, ...) are logged: a run that works runs some.
  const secondRan = hostShims();
  const second = startGenpush(config, ["push", "--json"], { PATH: secondRan.path });
  books.fault("a second genpush on the same profile");
  const waiting = new RegExp(`waiting for another genpush \\(pid ${first.pid}\\) to finish with profile test`);
  assert.ok(await waitForLine(second, waiting, 30_000), `the second says it waits\n${said(second)}`);
  assert.ok(!first.ended(), "the first was still uploading when the second began to wait");

  const one = await first.result();
  const chunksWhenFirstEnded = proxy.chunks();
  const requestsWhenFirstEnded = (await s.cache.requests()).length;
  // Until the first had released the lock (it releases it, then exits) the second did no work.
  assert.deepEqual(
    secondRan.calls().map((c) => `${c.name} ${c.args.join(" ")}`),
    [],
    "programs the second ran while the first held the lock",
  );
  const two = await second.result();
  const [firstEnd, secondEnd] = [await first.exited, await second.exited];
  assert.equal(one.code, 0, said(first));
  assert.equal(two.code, 0, said(second));
  assert.equal(one.json.results[0].status, "pushed", said(first));
  books.reported(one.json);
  books.reported(two.json);
  // The second began after the first had recorded its push (which it does before it releases
  // the lock): it found the generation in the state, ran nothing and asked nothing. Which of the
  // two exits first is not ordered: the first releases the lock and then exits, and a second
  // with nothing to do may end in that gap.
  assert.equal(two.json.results[0].status, "up-to-date", said(second));
  assert.equal(proxy.chunks(), chunksWhenFirstEnded, "the second sent nothing through the proxy");
  assert.equal((await s.cache.requests()).length, requestsWhenFirstEnded, "the second made no request");
  t.diagnostic(
    `first ran ${firstEnd.at - first.startedAt} ms; the second ended ${secondEnd.at - firstEnd.at} ms after it`,
  );
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: s.key?.publicKey })));
});

test("a lock left by a genpush killed with SIGKILL is taken over without waiting for the bound", async (t) => {
  const { s, config, books } = await behindSlowProxy(t, "lock", { paths: 8, delayMs: 500 });
  const killed = await startUploading(config, ["push"]);
  killed.kill();
  await killed.exited;
  books.fault("SIGKILL while holding the lock");
  // A lock whose holder lived would be waited for (and said so) until this bound, then fail:
  // the run must neither wait nor take that long.
  const lockTimeoutSeconds = 60;
  const started = Date.now();
  const next = startGenpush(config, ["push", "--json", "--lock-timeout", String(lockTimeoutSeconds)]);
  const r = await next.result();
  const took = Date.now() - started;
  assert.equal(r.code, 0, said(next));
  assert.doesNotMatch(
    next.stderr(),
    /waiting for another genpush/,
    `taken over at once, not waited for\n${said(next)}`,
  );
  assert.ok(took < lockTimeoutSeconds * 1000, `taken over before the lock time-out (${took} ms)`);
  assert.doesNotMatch(next.stderr(), /locked by another genpush/, said(next));
  books.reported(r.json);
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: s.key?.publicKey })));
});

test("verify --repair beside a push of the same profile waits for it: nothing is uploaded twice", async (t) => {
  const { s, config, books, gen } = await behindSlowProxy(t, "lock", { paths: 16, delayMs: 500 });
  const push = await startUploading(config, ["push", "--json"]);
  const verifyRan = hostShims();
  const verify = startGenpush(config, ["verify", "--repair", "--profile", "test", "--json"], {
    PATH: verifyRan.path,
  });
  books.fault("verify --repair during a push of the same profile");
  const waiting = new RegExp(`waiting for another genpush \\(pid ${push.pid}\\) to finish with profile test`);
  const waited = await waitForLine(verify, waiting, 30_000);
  // The push's top narinfo arrives last, before it records and releases the lock: until then it holds it.
  const top = join(s.cache.dir, `${hashOf(gen.storePath)}.narinfo`);
  assert.ok(await until(push, () => existsSync(top), 1), `the push uploads its top path\n${said(push)}`);
  const ranMeanwhile = verifyRan.calls().map((c) => `${c.name} ${c.args.join(" ")}`);
  const [pushed, verified] = [await push.result(), await verify.result()];
  assert.equal(pushed.code, 0, said(push));
  assert.equal(pushed.json.results[0].status, "pushed", said(push));
  books.reported(pushed.json);
  const puts = new Map<string, number>();
  for (const r of await s.cache.requests()) if (r.method === "PUT") puts.set(r.uri, (puts.get(r.uri) ?? 0) + 1);
  const twice = [...puts].filter(([, n]) => n > 1).map(([uri, n]) => `${uri} ${n} times`);
  t.diagnostic(`${puts.size} objects PUT; ${twice.length} of them more than once`);
  assert.deepEqual(twice, [], "no NAR or narinfo was PUT twice");
  assert.ok(waited, `verify --repair says it waits for the push\n${said(verify)}`);
  assert.deepEqual(ranMeanwhile, [], "programs verify --repair ran while the push held the lock");
  assert.ok(verifyRan.calls().length > 0, "verify --repair ran its programs once it had the lock");
  // It began once the push was done: the whole closure there, nothing to repair.
  assert.equal(verified.code, 0, said(verify));
  assert.equal(verified.json.profiles[0].caches[0].status, "complete", said(verify));

  // The lock held (here by the test itself): a plain verify, which only reads, goes ahead;
  // a repair gives up after its --lock-timeout, exit 1, naming the holder.
  const direct = writeConfig({ ...s.config, caches: [{ ...s.config.caches[0], store: s.cache.url }] });
  const held = await lockProfile(s.stateDir, "test", { timeoutMs: 1000 });
  try {
    const plain = await runGenpush(["verify", "--profile", "test", "--json"], { config: direct, timeoutMs: 30_000 });
    assert.equal(plain.code, 0, explain(plain));
    assert.equal(plain.json.profiles[0].caches[0].status, "complete", explain(plain));
    const impatient = await runGenpush(["verify", "--repair", "--profile", "test", "--json", "--lock-timeout", "1"], {
      config: direct,
    });
    assert.equal(impatient.code, 1, explain(impatient));
    assert.match(
      impatient.json.profiles[0].error.message,
      new RegExp(`locked by another genpush \\(pid ${process.pid}\\)`),
    );
  } finally {
    await held.release();
  }
  // Its lock goes only into a state directory of genpush's own.
  const foreign = tempDir("genpush-not-state-");
  writeFileSync(join(foreign, "notes.txt"), "not genpush's\n");
  const elsewhere = writeConfig({
    ...s.config,
    stateDir: foreign,
    caches: [{ ...s.config.caches[0], store: s.cache.url }],
  });
  const refused = await runGenpush(["verify", "--repair", "--profile", "test"], { config: elsewhere });
  assert.equal(refused.code, 2, explain(refused));
  assert.deepEqual(readdirSync(foreign), ["notes.txt"], "nothing created in it");
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: s.key?.publicKey })));
});
