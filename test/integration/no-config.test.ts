// A push with no configuration file, as the built CLI runs it (`npx genpush`): `--to` names the
// cache, `--profile-path` the profile. State is kept as for any configured cache, so a second
// run sends nothing and a switch sends the diff; Nix reads the result back. A bad `--to` is
// exit 2 naming the option; no profile at all is a sentence and exit 0 (a --profile-path that does
// not exist is exit 2: zero-config.test.ts).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { execa } from "execa";
import { missingFromCache } from "../faults/lib/ledger.js";
import { repoRoot } from "./harness/cli.js";
import { scenario } from "./harness/fixture.js";
import { minus, nixEnv, pullIntoFreshStore, tempDir } from "./harness/nix.js";

const cli = join(repoRoot, "dist", "cli.js");
const DEFAULT_CONFIG = "/etc/genpush/config.yaml";

/** The built CLI with no configuration file to find: a fresh home, state in a directory of the test's own. */
function bare() {
  const home = tempDir("genpush-bare-home-");
  const env = { ...nixEnv, HOME: home, STATE_DIRECTORY: join(home, "state"), GENPUSH_CONFIG: "" };
  return (...args: string[]) => execa(process.execPath, [cli, ...args], { env, reject: false });
}

test("no configuration file: push --to a file:// cache and the nginx cache; again nothing; a switch, the diff", async (t) => {
  assert.equal(
    existsSync(DEFAULT_CONFIG),
    false,
    `${DEFAULT_CONFIG} exists here: this test needs a machine without one`,
  );
  const s = await scenario({ paths: 10, changed: 3, sign: true });
  t.after(() => s.destroy());
  const dir = join(tempDir(), "cache");
  const run = bare();
  const key = s.key as NonNullable<typeof s.key>;
  const push = async () => {
    const r = await run(
      "push",
      "--json",
      "--profile-path",
      s.profile,
      "--to",
      `file://${dir}`,
      "--to",
      s.cache.url,
      "--signing-key",
      key.secretKeyFile,
    );
    assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const g1 = s.switchTo(0);
  const first = await push();
  assert.deepEqual(
    first.results.map((x: { status: string; counts: { uploaded: number } }) => [x.status, x.counts.uploaded]),
    [
      ["pushed", g1.closure.length],
      ["pushed", g1.closure.length],
    ],
  );
  const again = await push();
  assert.deepEqual(
    again.results.map((x: { status: string }) => x.status),
    ["up-to-date", "up-to-date"],
  );
  const g2 = s.switchTo(1);
  const diff = await push();
  const added = minus(g2.closure, g1.closure).length;
  assert.deepEqual(
    diff.results.map((x: { counts: { uploaded: number } }) => x.counts.uploaded),
    [added, added],
  );
  assert.deepEqual(missingFromCache(dir, g2.closure), []);
  assert.deepEqual(missingFromCache(s.cache.dir, g2.closure), []);
  for (const url of [`file://${dir}`, s.cache.url]) {
    const pulled = pullIntoFreshStore(url, g2.storePath, key.publicKey);
    assert.ok(pulled.ok, `${url}: ${pulled.stderr}`);
  }
});

test("a bad --to is exit 2 naming the option; no profile anywhere is a sentence and exit 0", async () => {
  const run = bare();
  const bad = await run("push", "--to", "htp://cache.lan");
  assert.equal(bad.exitCode, 2, bad.stderr);
  assert.match(
    bad.stderr,
    /--to `htp:\/\/cache\.lan`: `htp:\/\/` is no kind of store Nix knows; did you mean `http:\/\/`\?/,
  );
  // A fresh home: no ~/.nix-profile, and none of the default profiles exists.
  const none = await run("push", "--to", `file://${tempDir()}`);
  assert.equal(none.exitCode, 0, none.stderr);
  assert.match(
    none.stdout,
    /^nothing to push: no profile exists here yet \(.*\)\. Point genpush at a profile link with --profile-path PATH/m,
  );
});

test("with a configuration file, --to adds a cache for that run only", async (t) => {
  const s = await scenario({ paths: 6 });
  t.after(() => s.destroy());
  const dir = join(tempDir(), "extra");
  const config = s.configFile();
  s.switchTo(0);
  const r = await execa(process.execPath, [cli, "--config", config, "push", "--json", "--to", `file://${dir}`], {
    env: nixEnv,
    reject: false,
  });
  assert.equal(r.exitCode, 0, r.stderr);
  const caches = JSON.parse(r.stdout).results.map((x: { cache: string }) => x.cache);
  assert.equal(caches.length, 2);
  assert.ok(caches.includes("local"), caches.join(", "));
  const status = await s.run("status", "--json");
  assert.deepEqual(
    status.json.profiles[0].caches.map((c: { cache: string }) => c.cache),
    ["local"],
    "the configuration knows only its own cache",
  );
});
