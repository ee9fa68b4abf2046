// Per-host routing against the real Nix and two real nginx caches: a cache's `hosts` globs
// match this machine's hostname, its `systemFeatures` the `system-features` of this machine's
// Nix (set here through NIX_CONFIG, as nix.conf would); config check and status say which
// caches take this host's generations and why; a generation no cache takes is a warning
// naming what each would need.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { explain, runGenpush } from "./harness/cli.js";
import { hashOf, scenario } from "./harness/fixture.js";
import { startCache } from "./harness/nginx.js";
import { buildDerivations, nixEnv } from "./harness/nix.js";

const TUNED = { NIX_CONFIG: `${nixEnv.NIX_CONFIG}\nsystem-features = gccarch-genpushtest kvm` };

test("hosts and systemFeatures route a generation to the caches that take this host", async (t) => {
  const s = await scenario({ paths: 8 });
  const tuned = await startCache();
  t.after(async () => {
    await tuned.destroy();
    await s.destroy();
  });
  s.config.caches[0].hosts = [hostname(), "build-*"];
  s.config.caches.push({
    name: "tuned",
    type: "nix",
    systems: ["x86_64-linux"],
    systemFeatures: ["gccarch-genpushtest"],
    store: tuned.url,
  });
  const config = s.configFile();
  const gen = s.switchTo(0);

  const checked = await runGenpush(["config", "check", "--json"], { config });
  assert.equal(checked.code, 0, explain(checked));
  assert.equal(checked.json.host.name, hostname());
  assert.deepEqual(checked.json.caches, [
    { cache: "local", takesThisHost: true },
    {
      cache: "tuned",
      takesThisHost: false,
      why: `needs the Nix system feature gccarch-genpushtest, which ${hostname()} lacks`,
    },
  ]);

  // Without the feature: only the cache whose hosts match.
  const plain = await runGenpush(["push", "--json"], { config });
  assert.equal(plain.code, 0, explain(plain));
  assert.deepEqual(
    plain.json.results.map((r: { cache: string }) => r.cache),
    ["local"],
  );
  const status = await runGenpush(["status"], { config });
  assert.match(
    status.stdout,
    new RegExp(
      `^  tuned: not for this generation: needs the Nix system feature gccarch-genpushtest, which ${hostname()} lacks$`,
      "m",
    ),
    explain(status),
  );

  // Nix says this host has it: the tuned cache takes the generation too.
  const withFeature = await runGenpush(["push", "--json"], { config, env: TUNED });
  assert.equal(withFeature.code, 0, explain(withFeature));
  assert.deepEqual(
    withFeature.json.results.map((r: { cache: string; status: string }) => [r.cache, r.status]),
    [
      ["local", "up-to-date"],
      ["tuned", "pushed"],
    ],
  );
  assert.ok(existsSync(join(tuned.dir, `${hashOf(gen.storePath)}.narinfo`)));
  const statusJson = await runGenpush(["status", "--json"], { config, env: TUNED });
  assert.deepEqual(statusJson.json.host, { name: hostname(), systemFeatures: ["gccarch-genpushtest", "kvm"] });
});

test("a generation no cache takes on this host: a warning naming what each cache would need", async (t) => {
  const s = await scenario({ paths: 6 });
  t.after(() => s.destroy());
  s.config.caches[0].hosts = ["build-*"];
  s.config.caches[0].systemFeatures = ["gccarch-genpushtest"];
  const config = s.configFile();
  s.switchTo(0);
  const r = await runGenpush(["push", "--json"], { config });
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(r.json.results, []);
  assert.deepEqual(r.json.warnings, [
    `profile test: no cache takes x86_64-linux generations of this host (${hostname()}): local takes hosts build-*, not ${hostname()}`,
  ]);
  // A queued build the cache does not take from this host is pending for none.
  const [out] = buildDerivations(s.seed, 1) as [string];
  const queued = await runGenpush(["enqueue", out], { config });
  assert.equal(queued.code, 0, explain(queued));
  const status = await runGenpush(["status", "--json"], { config });
  assert.deepEqual(status.json.queue.caches, [{ cache: "local", pending: 0 }], explain(status));
  // And the push of the queue sends it nowhere: it leaves the queue with the same warning.
  await s.cache.clearLog();
  const drained = await runGenpush(["push", "--queue", "--json"], { config });
  assert.equal(drained.code, 0, explain(drained));
  assert.deepEqual(drained.json.queue.results, [], explain(drained));
  assert.equal(drained.json.queue.done, 1, explain(drained));
  assert.deepEqual(drained.json.warnings, [
    `queued ${out}: no cache takes x86_64-linux generations of this host (${hostname()}): local takes hosts build-*, not ${hostname()}; it leaves the queue`,
  ]);
  assert.deepEqual(await s.cache.requests(), [], "the cache was not even asked");
});
