// kill -9 of `genpush push --queue` at seeded moments while it uploads the queued builds through
// a slow proxy (the whole process group, as systemd kills a service's cgroup). After every kill
// each entry is either still queued, its file whole and its paths held against garbage
// collection, or has left the queue with its closure in the cache; the cache offers no path
// whose references it lacks; the push after the last kill empties the queue, every queued build's
// closure is in the cache, and the last one pulls into an empty store with its signatures.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { test } from "node:test";
import { startSlowProxy } from "../e2e/harness/slow-proxy.js";
import { explain, runGenpush } from "../integration/harness/cli.js";
import { hashOf, scenario } from "../integration/harness/fixture.js";
import { buildDerivations, closureOf, collectGarbage } from "../integration/harness/nix.js";
import { Ledger, openReferences, summary } from "./lib/ledger.js";
import { prng } from "./lib/prng.js";
import { said, startGenpush, until } from "./lib/proc.js";

const SEED = Number(process.env.GENPUSH_FAULT_SEED ?? 20_261_204);
const KILLS = 4;

test("kill -9 while the queue is pushed: no entry leaves it before its paths are in the cache, and the next push completes", async (t) => {
  const s = await scenario({ sign: true });
  const proxy = await startSlowProxy(s.cache.port, 100);
  t.after(async () => {
    await proxy.close();
    await s.destroy();
  });
  s.config.caches[0].store = proxy.url;
  const config = s.configFile();
  const books = new Ledger("queue-kill");
  const random = prng(SEED);
  t.diagnostic(`seed ${SEED} (set GENPUSH_FAULT_SEED to replay another)`);

  const outs = buildDerivations(s.seed, 12);
  // Three entries, as three builds' hooks would leave them.
  for (const part of [outs.slice(0, 4), outs.slice(4, 8), outs.slice(8)]) {
    const r = await runGenpush(["enqueue", ...part], { config });
    assert.equal(r.code, 0, explain(r));
  }
  for (const out of outs) books.switchedTo({ storePath: out, closure: closureOf(out), label: `queued ${out}` });
  const entries = () =>
    ["new", "pending"].flatMap((dir) => {
      const path = join(s.stateDir, "queue", dir);
      return existsSync(path) ? readdirSync(path).map((name) => join(path, name)) : [];
    });
  const queuedAt = new Map<string, { paths: string[] }>(
    entries().map((file) => [basename(file, ".json"), JSON.parse(readFileSync(file, "utf8"))]),
  );
  const ids = [...queuedAt.keys()];
  assert.equal(ids.length, 3);

  for (let kills = 0; kills < KILLS; ) {
    const puts = proxy.puts();
    const run = startGenpush(config, ["push", "--queue", "--json"]);
    assert.ok(await until(run, () => proxy.puts() > puts), `the push uploads\n${said(run)}`);
    await Promise.race([new Promise((ok) => setTimeout(ok, random() * 100)), run.exited]);
    assert.ok(!run.ended(), `the push ended before the kill: give it more to upload\n${said(run)}`);
    run.kill();
    await run.exited;
    kills++;
    books.fault(`SIGKILL during an upload of the queue, ${proxy.puts() - puts} PUTs in`);
    const files = entries();
    for (const file of files) assert.doesNotThrow(() => JSON.parse(readFileSync(file, "utf8")), file);
    // Each entry is still queued with its paths held against garbage collection, or has left
    // with its closure in the cache.
    for (const id of ids) {
      const file = files.find((f) => f.endsWith(`/${id}.json`));
      const { paths } = queuedAt.get(id) as { paths: string[] };
      if (file) {
        assert.throws(() => collectGarbage(paths), /still alive/, `${id}'s paths are held after kill ${kills}`);
      } else {
        const lacking = paths.flatMap(closureOf).filter((p) => !existsSync(join(s.cache.dir, `${hashOf(p)}.narinfo`)));
        assert.deepEqual(lacking, [], `${id} left the queue at kill ${kills} with its closure in the cache`);
      }
    }
    assert.deepEqual(openReferences(s.cache.dir), [], `after kill ${kills}`);
  }

  const r = await runGenpush(["push", "--queue", "--json"], { config });
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.json.queue.done, 3, explain(r));
  assert.deepEqual(entries(), []);
  for (const out of outs) books.mustHold(out);
  const key = s.key as NonNullable<typeof s.key>;
  const tally = books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: key.publicKey });
  t.diagnostic(summary(tally));
});
