// The metrics file (`metricsFile`): after a push, node_exporter's textfile format with a sample
// per metric, profile and cache, read back here the way the collector reads it: the values are
// what the push did, a failed cache shows as failed with its pending paths, every profile is in
// it even when one was pushed, and it is replaced whole (no temp file left beside it).
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { explain } from "./harness/cli.js";
import { scenario } from "./harness/fixture.js";
import { startCache } from "./harness/nginx.js";
import { rollback } from "./harness/nix.js";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The text format, strictly: HELP and TYPE before each metric's samples, every other line a sample. */
function parse(text: string): Sample[] {
  assert.ok(text.endsWith("\n"), "the file ends with a newline");
  const samples: Sample[] = [];
  const typed = new Set<string>();
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) (\w+) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === "TYPE") {
        assert.equal(meta[3], "gauge", line);
        typed.add(meta[2] as string);
      }
      continue;
    }
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const [, name, labelText, value] = m;
    assert.ok(typed.has(name as string), `${name} sampled before its TYPE line`);
    const labels = Object.fromEntries(
      [...(labelText as string).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]),
    );
    assert.ok(Number.isFinite(Number(value)), line);
    samples.push({ name: name as string, labels, value: Number(value) });
  }
  return samples;
}

function value(samples: Sample[], name: string, profile: string, cache: string): number | undefined {
  const found = samples.filter((s) => s.name === name && s.labels.profile === profile && s.labels.cache === cache);
  assert.ok(found.length <= 1, `${name}: one sample per profile and cache`);
  return found[0]?.value;
}

test("a push writes the metrics file: its success, its bytes, a failed cache's pending paths, every profile", async (t) => {
  const s = await scenario({ paths: 20 });
  const broken = await startCache({ readOnly: true });
  t.after(async () => {
    await broken.destroy();
    await s.destroy();
  });
  const file = join(s.stateDir, "..", "textfile", "genpush.prom");
  s.config.metricsFile = file;
  s.config.profiles.push({ name: "other", path: join(dirname(s.profile), "other") });
  s.config.caches.push({ name: "broken", systems: ["x86_64-linux"], type: "nix", store: broken.url });
  s.switchTo(0);
  const before = Date.now() / 1000;

  const r = await s.run("push", "--profile", "test", "--json");
  assert.equal(r.code, 1, explain(r));
  const local = r.json.results.find((res: { cache: string }) => res.cache === "local");
  assert.equal(local.status, "pushed", explain(r));
  assert.equal(r.json.results.find((res: { cache: string }) => res.cache === "broken").status, "failed");

  const samples = parse(readFileSync(file, "utf8"));
  assert.deepEqual(readdirSync(dirname(file)), ["genpush.prom"], "the file was replaced whole: no temp file beside it");
  assert.ok(samples.every((sample) => sample.labels.host === hostname()));
  const success = value(samples, "genpush_last_success_timestamp_seconds", "test", "local") ?? 0;
  assert.ok(success >= before - 1 && success <= Date.now() / 1000 + 1, `last success ${success}`);
  assert.equal(value(samples, "genpush_last_result_failed", "test", "local"), 0);
  assert.equal(value(samples, "genpush_pending_paths", "test", "local"), 0);
  assert.equal(value(samples, "genpush_last_push_uploaded_nar_bytes", "test", "local"), local.narBytes);
  assert.equal(value(samples, "genpush_last_push_waited_paths", "test", "local"), 0);
  // The cache that refused the upload: failed, never a success, its missing paths pending.
  assert.equal(value(samples, "genpush_last_result_failed", "test", "broken"), 1);
  assert.equal(value(samples, "genpush_last_success_timestamp_seconds", "test", "broken"), 0);
  assert.equal(value(samples, "genpush_pending_paths", "test", "broken"), 20);
  assert.ok((value(samples, "genpush_last_result_timestamp_seconds", "test", "broken") ?? 0) >= before - 1);
  // The profile this run did not push is there too: never pushed.
  assert.equal(value(samples, "genpush_last_success_timestamp_seconds", "other", "local"), 0);
  assert.equal(value(samples, "genpush_last_result_failed", "other", "broken"), 0);

  // The next run (verify, the broken cache no longer configured) rewrites it: the failure is gone.
  s.config.caches = s.config.caches.filter((c: { name: string }) => c.name !== "broken");
  s.configFile();
  const again = await s.run("verify", "--profile", "test");
  assert.equal(again.code, 0, explain(again));
  const after = parse(readFileSync(file, "utf8"));
  assert.equal(value(after, "genpush_last_result_failed", "test", "broken"), undefined);
  assert.equal(value(after, "genpush_last_success_timestamp_seconds", "test", "local"), success);
});

test("the last success never goes back: a rollback's success, then a failure, keeps the rollback's time", async (t) => {
  const s = await scenario({ paths: 6 });
  t.after(() => s.destroy());
  const file = join(s.stateDir, "..", "textfile", "genpush.prom");
  s.config.metricsFile = file;
  s.configFile();
  const success = () =>
    value(parse(readFileSync(file, "utf8")), "genpush_last_success_timestamp_seconds", "test", "local") ?? 0;
  s.switchTo(0);
  assert.equal((await s.run("push", "--json")).code, 0);
  s.switchTo(1);
  await s.cache.stop();
  assert.equal((await s.run("push", "--json")).code, 1);
  await s.cache.start();
  // Back to the generation the cache has: a success, recorded now.
  rollback(s.profile);
  const rolledBack = Date.now() / 1000;
  const back = await s.run("push", "--json");
  assert.equal(back.json?.results?.[0]?.status, "up-to-date", explain(back));
  assert.ok(success() >= rolledBack, `last success ${success()}, the rollback at ${rolledBack}`);
  const afterRollback = success();
  // A newer generation fails again: the last success is still the rollback's.
  s.switchTo(1);
  await s.cache.stop();
  assert.equal((await s.run("push", "--json")).code, 1);
  await s.cache.start();
  assert.equal(success(), afterRollback);
});

test("metricsFile not named *.prom is refused with a hint (exit 2)", async (t) => {
  const s = await scenario({ paths: 2 });
  t.after(() => s.destroy());
  s.config.metricsFile = join(s.stateDir, "genpush.txt");
  const r = await s.run("config", "check");
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /metricsFile.*textfile collector reads only files named \*\.prom/, explain(r));
  assert.match(r.stderr, /genpush\.prom/, explain(r));
});
