// The push queue against the real Nix store and a real nginx cache: Nix's post-build-hook
// runs `genpush enqueue` for every build, `genpush push` drains the queue; Hydra events,
// CI's `push --paths`, garbage collection, a cache that is down, and parallel enqueues.
import assert from "node:assert/strict";
import { chmodSync, existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { execa } from "execa";
import { cliEntry, explain, repoRoot, runGenpush } from "./harness/cli.js";
import { hashOf, type Scenario, scenario } from "./harness/fixture.js";
import { narinfo } from "./harness/nginx.js";
import { buildDerivations, closureOf, collectGarbage, isValid, nixEnv, tempDir } from "./harness/nix.js";

/** A script for Nix's post-build-hook that runs this checkout's `genpush enqueue`. */
function hookScript(s: Scenario): string {
  const file = join(tempDir("genpush-hook-"), "post-build-hook");
  const node = process.execPath;
  writeFileSync(
    file,
    `#!/bin/sh\ncd ${repoRoot} && exec ${node} --import tsx ${cliEntry} --config ${s.configFile()} enqueue\n`,
  );
  chmodSync(file, 0o755);
  return file;
}

function queued(s: Scenario, dir: "new" | "pending") {
  const path = join(s.stateDir, "queue", dir);
  if (!existsSync(path)) return [];
  return readdirSync(path)
    .filter((name) => name.endsWith(".json"))
    .map((name) => JSON.parse(readFileSync(join(path, name), "utf8")));
}

test("every build with the post-build hook is queued, and push drains the queue into the cache", async (t) => {
  const s = await scenario();
  t.after(() => s.destroy());
  const outs = buildDerivations(s.seed, 3, hookScript(s));
  assert.equal(outs.length, 3);

  const entries = queued(s, "new");
  // Each derivation built is its own entry: the three tops and their three dependencies.
  assert.equal(entries.length, 6, JSON.stringify(entries));
  const paths = entries.flatMap((e) => e.paths).sort();
  for (const out of outs) assert.ok(paths.includes(out), `${out} is queued`);
  for (const entry of entries) {
    assert.equal(entry.system, "x86_64-linux", "the system comes from $DRV_PATH");
    assert.match(entry.drv, /\.drv$/);
  }
  const status = await s.run("status", "--json");
  assert.equal(status.json.queue.entries, 6, explain(status));
  assert.deepEqual(status.json.queue.caches, [{ cache: "local", pending: 6 }]);

  const r = await s.run("push", "--queue", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.json.ok, true);
  assert.equal(r.json.queue.entries, 6);
  assert.equal(r.json.queue.done, 6);
  const [result] = r.json.queue.results;
  assert.equal(result.cache, "local");
  assert.equal(result.status, "pushed");
  assert.equal(result.entries, 6);
  assert.equal(result.counts.uploaded, 6);
  for (const out of outs) {
    for (const path of closureOf(out)) {
      assert.ok(existsSync(join(s.cache.dir, `${hashOf(path)}.narinfo`)), `${path} is in the cache`);
    }
  }
  assert.deepEqual(queued(s, "new"), []);
  assert.deepEqual(queued(s, "pending"), []);
  assert.deepEqual(readdirSync(join(s.stateDir, "queue", "roots")), [], "the roots go with the entries");

  const again = await s.run("push", "--queue");
  assert.equal(again.code, 0, explain(again));
  assert.match(again.stdout, /^queue: nothing queued$/m);
});

test("a cache that is down fails no build: everything stays queued and arrives once it is back", async (t) => {
  const s = await scenario();
  t.after(() => s.destroy());
  await s.cache.stop();
  const outs = buildDerivations(s.seed, 2, hookScript(s));
  assert.equal(queued(s, "new").length, 4);

  s.config.caches[0].timeoutSeconds = 1;
  s.configFile();
  const failed = await s.run("push", "--queue", "--json");
  assert.equal(failed.code, 1, explain(failed));
  assert.equal(failed.json.queue.results[0].status, "failed");
  assert.equal(failed.json.queue.done, 0);
  // Taken up, not started again at once by the queue's path unit: pending, not new.
  assert.equal(queued(s, "new").length, 0);
  assert.equal(queued(s, "pending").length, 4);
  assert.match(failed.json.queue.results[0].error.message, /cache local is unreachable/);

  await s.cache.start();
  // A plain push drains the queue too (the profile does not exist: nothing else to do).
  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.json.queue.done, 4);
  for (const out of outs) assert.ok(existsSync(join(s.cache.dir, `${hashOf(out)}.narinfo`)));
  assert.equal(queued(s, "pending").length, 0);
});

test("garbage collection takes nothing queued; once pushed, the paths are free again", async (t) => {
  const s = await scenario();
  t.after(() => s.destroy());
  const outs = buildDerivations(s.seed, 1);
  const [out] = outs as [string];
  const dep = closureOf(out).find((p) => p !== out) as string;
  const r = await s.run("enqueue", out);
  assert.equal(r.code, 0, explain(r));

  assert.throws(() => collectGarbage([out, dep]), /still alive/);
  assert.ok(isValid(out) && isValid(dep));

  const pushed = await s.run("push", "--queue");
  assert.equal(pushed.code, 0, explain(pushed));
  collectGarbage([out, dep]);
  assert.ok(!isValid(out), "the queue's root is gone once the entry is done");
});

test("a burst of 200 parallel enqueues loses no entry", async (t) => {
  const s = await scenario();
  t.after(() => s.destroy());
  const outs = buildDerivations(s.seed, 100);
  const config = s.configFile();
  const cli = join(repoRoot, "dist", "cli.js");
  // 200 hooks, 50 at once, as parallel nix-builds' hooks run: each path its own process.
  const all = outs.flatMap((out) => closureOf(out));
  assert.equal(all.length, 200);
  for (let i = 0; i < all.length; i += 50) {
    const runs = await Promise.all(
      all
        .slice(i, i + 50)
        .map((path) =>
          execa(process.execPath, [cli, "--config", config, "enqueue", path], { env: nixEnv, reject: false }),
        ),
    );
    for (const run of runs) assert.equal(run.exitCode, 0, run.stderr);
  }
  const entries = queued(s, "new");
  assert.equal(entries.length, all.length);
  assert.deepEqual(entries.flatMap((e) => e.paths).sort(), [...all].sort());

  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.json.queue.done, all.length);
  assert.equal(await s.cache.count("PUT", narinfo), all.length);
});

test("a Hydra RunCommand event's outputs are queued and pushed; a failed build's are not", async (t) => {
  const s = await scenario();
  t.after(() => s.destroy());
  const [out] = buildDerivations(s.seed, 1) as [string];
  const dir = tempDir("genpush-hydra-");
  const event = join(dir, "event.json");
  writeFileSync(
    event,
    JSON.stringify({
      event: "buildFinished",
      build: 1,
      buildStatus: 0,
      system: "x86_64-linux",
      drvPath: "/nix/store/00000000000000000000000000000000-none.drv",
      outputs: [{ name: "out", path: out }],
    }),
  );
  const r = await s.run("enqueue", "--hydra-json", event);
  assert.equal(r.code, 0, explain(r));
  const [entry] = queued(s, "new");
  assert.deepEqual(entry.paths, [out]);
  assert.equal(entry.system, "x86_64-linux");

  const pushed = await s.run("push", "--queue", "--json");
  assert.equal(pushed.code, 0, explain(pushed));
  assert.ok(existsSync(join(s.cache.dir, `${hashOf(out)}.narinfo`)));

  const failedEvent = join(dir, "failed.json");
  writeFileSync(failedEvent, JSON.stringify({ buildStatus: 1, outputs: [{ name: "out", path: out }] }));
  const failed = await s.run("enqueue", "--hydra-json", failedEvent);
  assert.equal(failed.code, 0, explain(failed));
  assert.deepEqual(queued(s, "new"), []);
});

test("enqueue --stdin queues the paths it reads, one per line, as one entry", async (t) => {
  const s = await scenario();
  t.after(() => s.destroy());
  const outs = buildDerivations(s.seed, 2);
  const r = await execa(
    process.execPath,
    [join(repoRoot, "dist", "cli.js"), "--config", s.configFile(), "enqueue", "--stdin"],
    { env: nixEnv, input: `${outs.join("\n")}\n\n`, reject: false },
  );
  assert.equal(r.exitCode, 0, r.stderr);
  const [entry, ...more] = queued(s, "new");
  assert.deepEqual(more, []);
  assert.deepEqual([...entry.paths].sort(), [...outs].sort());
});

test("push --paths pushes a build and its closure now, as a CI job would", async (t) => {
  const s = await scenario();
  t.after(() => s.destroy());
  const [out] = buildDerivations(s.seed, 1) as [string];
  const link = join(tempDir("genpush-ci-"), "result");
  symlinkSync(out, link);

  const r = await s.run("push", "--paths", link, "--cache", "local", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.json.ok, true);
  const [result] = r.json.paths;
  assert.equal(result.status, "pushed");
  assert.equal(result.counts.closure, 2);
  assert.equal(result.counts.uploaded, 2);
  for (const path of closureOf(out)) assert.ok(existsSync(join(s.cache.dir, `${hashOf(path)}.narinfo`)));

  const again = await s.run("push", "--paths", out);
  assert.equal(again.code, 0, explain(again));
  assert.match(again.stdout, /^local already has the 2 paths of 1 given path and their closure$/m);
});

test("bad input to enqueue and push --paths is exit 2, and nothing is queued", async (t) => {
  const s = await scenario();
  t.after(() => s.destroy());
  const cases: [string[], RegExp][] = [
    [["enqueue"], /nothing to queue: no store paths given, and neither OUT_PATHS nor DRV_PATH is set/],
    [["enqueue", "/etc/hostname"], /not a store path: \/etc\/hostname/],
    [["enqueue", "/nix/store/00000000000000000000000000000000-gone"], /not in the local store/],
    [["push", "--paths", "/nix/store/00000000000000000000000000000000-gone"], /not in the local store/],
    [["push", "--cache", "local"], /--cache goes with --paths/],
    [["push", "--queue", "--profile", "test"], /--queue pushes only the queue/],
  ];
  for (const [args, message] of cases) {
    const r = await runGenpush(args, { config: s.configFile(), env: { OUT_PATHS: "", DRV_PATH: "" } });
    assert.equal(r.code, 2, `${args.join(" ")}\n${explain(r)}`);
    assert.match(r.stderr, message, explain(r));
  }
  assert.deepEqual(queued(s, "new"), []);
});
