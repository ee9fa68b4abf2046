// kill -9 of genpush at random moments (seeded: GENPUSH_FAULT_SEED, default below), aimed at
// each phase in turn: starting up or asking the cache (before its first PUT), uploading (a PUT
// went through), recording (the top path's narinfo is in the cache, the run not yet over: killed
// as soon as the narinfo appears). Each kill is booked under the phase it landed in, and every
// phase must have had one. genpush runs in its own process group and the whole group gets
// SIGKILL, as systemd kills a service's cgroup. Uploads go through a slow proxy (e2e harness)
// so that every phase lasts long enough to be hit. After every kill the
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
import { prng } from "./lib/prng.js";
import { said, startGenpush, until } from "./lib/proc.js";

const SEED = Number(process.env.GENPUSH_FAULT_SEED ?? 20_260_607);
const KILLS = 15;
const STARTING = "starting or asking the cache";
const UPLOADING = "uploading";
const RECORDING = "after the upload (recording)";
const PHASES = [STARTING, UPLOADING, RECORDING] as const;
type Phase = (typeof PHASES)[number];

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
  };
  const switchTo = (v: number) => {
    const gen = s.switchTo(v);
    books.switchedTo({ ...gen, label: `test generation ${v + 1}` });
    return gen;
  };

  switchTo(0);
  // An uninterrupted push through the proxy, timed: until its first upload (a PUT through the
  // proxy), and to its end. Each kill is aimed at a phase in turn, at a seeded moment within it.
  const timing = await (async () => {
    const puts = proxy.puts();
    const run = startGenpush(config, ["push", "--json"]);
    assert.ok(await until(run, () => proxy.puts() > puts), `the first push uploads\n${said(run)}`);
    const firstPutMs = Date.now() - run.startedAt;
    const r = await run.result();
    assert.equal(r.code, 0, said(run));
    books.reported(r.json);
    return { firstPutMs, totalMs: (await run.exited).at - run.startedAt };
  })();
  t.diagnostic(
    `an uninterrupted push takes ${timing.totalMs} ms, its first upload begins after ${timing.firstPutMs} ms`,
  );
  const phases: Record<Phase, number> = { [STARTING]: 0, [UPLOADING]: 0, [RECORDING]: 0 };
  let kills = 0;
  for (let v = 1; kills < KILLS && v <= 3 * KILLS; v++) {
    const gen = switchTo(v);
    const top = join(s.cache.dir, `${hashOf(gen.storePath)}.narinfo`);
    let done = false;
    // Tries on this generation while its top path is not in the cache: so a top narinfo there
    // at the kill arrived during that run, whose upload was then over.
    for (let k = 0; k < 3 && kills < KILLS && !existsSync(top); k++) {
      const aim = PHASES[kills % PHASES.length] as Phase;
      const puts = proxy.puts();
      const run = startGenpush(config, ["push", "--json"]);
      const started = Date.now();
      const pause = (ms: number) => Promise.race([new Promise((ok) => setTimeout(ok, ms)), run.exited]);
      if (aim === STARTING) await pause(random() * timing.firstPutMs);
      else if (aim === UPLOADING) {
        // Within the first half of what an uninterrupted upload takes: this run may have less to send.
        if (await until(run, () => proxy.puts() > puts))
          await pause((random() * (timing.totalMs - timing.firstPutMs)) / 2);
      } else await until(run, () => existsSync(top), 1);
      const phase = existsSync(top) ? RECORDING : proxy.puts() > puts ? UPLOADING : STARTING;
      if (run.ended()) {
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
      books.fault(`SIGKILL after ${Date.now() - started} ms, aimed at ${aim}, ${phase}`);
      phases[phase]++;
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
  assert.deepEqual(
    PHASES.filter((phase) => phases[phase] === 0),
    [],
    `phases no kill landed in (${JSON.stringify(phases)})`,
  );

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
