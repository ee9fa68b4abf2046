// kill -9 of genpush at random moments (seeded: GENPUSH_FAULT_SEED, default below): starting
// up, asking the cache, uploading, recording. genpush runs in its own process group and the
// whole group gets SIGKILL, as systemd kills a service's cgroup. Uploads go through a slow
// proxy (e2e harness) so that every phase lasts long enough to be hit. After every kill the
// state file parses; the cache offers no narinfo whose references' narinfos it lacks; the next
// push completes; no completed upload (a narinfo PUT) is repeated beyond the ones in flight
// when the kill came.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { startSlowProxy } from "../e2e/harness/slow-proxy.js";
import { explain } from "../integration/harness/cli.js";
import { hashOf, scenario } from "../integration/harness/fixture.js";
import { nix, nixEnv, tempDir } from "../integration/harness/nix.js";
import { assertKept, Ledger, openReferences, summary } from "./lib/ledger.js";
import { prng, said, startGenpush } from "./lib/proc.js";

const SEED = Number(process.env.GENPUSH_FAULT_SEED ?? 20_260_607);
const KILLS = 15;

test("kill -9 at random moments: state always parses, the next push completes, nothing re-sent", async (t) => {
  const s = await scenario({ paths: 14, changed: 10, sign: true });
  const proxy = await startSlowProxy(s.cache.port, 15);
  t.after(async () => {
    await proxy.close();
    await s.destroy();
  });
  s.config.caches[0].store = proxy.url;
  const config = s.configFile();
  const stateFile = join(s.stateDir, "profiles", "test.json");
  const books = new Ledger("kill-9");
  const random = prng(SEED);
  t.diagnostic(`seed ${SEED} (set GENPUSH_FAULT_SEED to replay another)`);

  // A push that does not complete after a kill is noted, and the scenario goes on: a later switch may still pass.
  const stuck: string[] = [];
  const full = async (after: string) => {
    const run = startGenpush(config, ["push", "--json"]);
    const r = await run.result();
    if (r.code !== 0) stuck.push(`the push after ${after} exited ${r.code}: ${r.json?.results?.[0]?.error?.message}`);
    books.reported(r.json);
    return Date.now() - run.startedAt;
  };
  const switchTo = (v: number) => {
    const gen = s.switchTo(v);
    books.switchedTo({ ...gen, label: `test generation ${v + 1}` });
    return gen;
  };

  switchTo(0);
  // The length of a whole push through the proxy: kills land anywhere from the start to past its end.
  const span = await full("nothing");
  t.diagnostic(`an uninterrupted push takes ${span} ms`);
  const phases: Record<string, number> = {};
  let kills = 0;
  for (let v = 1; kills < KILLS && v <= 3 * KILLS; v++) {
    const gen = switchTo(v);
    let done = false;
    for (let k = 0; k < 3 && kills < KILLS; k++) {
      const delay = Math.round(100 + random() * span);
      const run = startGenpush(config, ["push", "--json"]);
      let ended = false;
      void run.exited.then(() => {
        ended = true;
      });
      await Promise.race([new Promise((ok) => setTimeout(ok, delay)), run.exited]);
      const top = existsSync(join(s.cache.dir, `${hashOf(gen.storePath)}.narinfo`));
      const phase = top
        ? "after the upload (recording)"
        : /uploading \d+ paths/.test(run.stderr())
          ? "uploading"
          : "starting or asking the cache";
      if (ended) {
        // It finished before the kill came: a completed push like any other; this generation is done.
        const r = await run.result();
        assert.equal(r.code, 0, said(run));
        books.reported(r.json);
        done = true;
        break;
      }
      run.kill();
      await run.exited;
      kills++;
      books.fault(`SIGKILL after ${delay} ms, ${phase}`);
      phases[phase] = (phases[phase] ?? 0) + 1;
      if (existsSync(stateFile)) {
        const text = readFileSync(stateFile, "utf8");
        assert.doesNotThrow(() => JSON.parse(text), `state file after a kill ${phase}:\n${text}\n${said(run)}`);
      }
      // Whenever the kill came, the cache offers no path whose references it lacks.
      assert.deepEqual(openReferences(s.cache.dir), [], `after a kill ${phase}`);
    }
    if (!done) await full(books.notes.at(-1) ?? "nothing");
  }
  t.diagnostic(`kills by phase: ${JSON.stringify(phases)}`);
  assert.equal(kills, KILLS, "enough runs were still going when the kill came");

  const key = s.key as NonNullable<typeof s.key>;
  const tally = books.close(s.cache.dir, { cacheUrl: s.cache.url, publicKey: key.publicKey });
  t.diagnostic(summary(tally));
  assert.deepEqual(stuck, [], "every push after a kill completes");
  assertKept(tally);
  const status = await s.run("status", "--json");
  assert.equal(status.json.profiles[0].caches[0].pending, false, explain(status));

  // Each narinfo PUT once, or twice when a kill came between nginx taking it and genpush hearing.
  const puts = new Map<string, number>();
  for (const r of await s.cache.requests()) {
    if (r.method === "PUT" && r.uri.endsWith(".narinfo")) puts.set(r.uri, (puts.get(r.uri) ?? 0) + 1);
  }
  const repeated = [...puts].filter(([, n]) => n > 1);
  t.diagnostic(`${puts.size} narinfos uploaded, ${repeated.length} of them twice or more`);
  assert.deepEqual(
    repeated.filter(([, n]) => n > 2),
    [],
  );
  assert.ok(repeated.length <= books.faults, `${repeated.length} repeated uploads for ${books.faults} kills`);
});

// The narrow moment the random kills above hit only now and then, made on purpose. A run asks
// the cache with `nix-store --check-validity` (positive answers distrusted), so Nix's narinfo
// disk cache records every missing path as missing; its `nix copy` uploads the dependencies and
// is killed after nginx stored their narinfos but before Nix wrote that down. The next push sees
// the dependencies in the cache (HEAD) and uploads the top path alone: it must complete.
test("a kill between an upload and Nix's own record of it: the next push completes", async (t) => {
  const s = await scenario({ paths: 8, changed: 2, sign: true });
  t.after(() => s.destroy());
  const books = new Ledger("kill-9");
  const gen = s.switchTo(0);
  books.switchedTo({ ...gen, label: "test generation 1" });
  const deps = gen.closure.filter((p) => p !== gen.storePath);
  const ask = ["--store", s.cache.url, "--option", "narinfo-cache-positive-ttl", "0"];
  nix("nix-store", [...ask, "--check-validity", "--print-invalid", "--", ...gen.closure]);
  const key = s.key as NonNullable<typeof s.key>;
  const elsewhere = { ...nixEnv, XDG_CACHE_HOME: tempDir("genpush-killed-copy-") };
  const copy = spawnSync(
    "nix",
    ["copy", "--no-recursive", "--to", `${s.cache.url}?secret-key=${key.secretKeyFile}`, ...deps],
    {
      env: elsewhere,
      encoding: "utf8",
    },
  );
  assert.equal(copy.status, 0, copy.stderr);
  books.fault("SIGKILL between nginx storing the narinfos and Nix recording them (made on purpose)");

  const r = await s.run("push", "--json");
  books.reported(r.json);
  const tally = books.close(s.cache.dir, { cacheUrl: s.cache.url, publicKey: key.publicKey });
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.json.results[0].counts.uploaded, 1, explain(r));
  assertKept(tally);
});
