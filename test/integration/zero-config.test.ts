// The zero-configuration route README starts a newcomer on, as they meet it: the built CLI,
// a fresh HOME with no configuration file, the command line as typed, its exit code, its
// message, and what it left on disk. Each mistake is exit 2 before anything is written, or
// a failure that says what to do and leaves nothing of its own behind; and status, verify and
// diff see what `push --to` did.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { execa } from "execa";
import { missingFromCache } from "../faults/lib/ledger.js";
import { repoRoot } from "./harness/cli.js";
import { buildGeneration, newSeed, nix, nixEnv, switchProfile, tempDir } from "./harness/nix.js";

const cli = join(repoRoot, "dist", "cli.js");
const DEFAULT_CONFIG = "/etc/genpush/config.yaml";
/** Every run here is bounded: a hang fails the test instead of holding the suite. */
const RUN_LIMIT_MS = 120_000;

interface User {
  home: string;
  state: string;
  /** genpush ARGS, as typed in `cwd` (default: HOME), with no configuration file to find. */
  run(args: string[], cwd?: string): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

/** A newcomer: a fresh HOME, state where STATE_DIRECTORY says (not there until genpush writes it). */
function newcomer(): User {
  assert.equal(
    existsSync(DEFAULT_CONFIG),
    false,
    `${DEFAULT_CONFIG} exists here: these tests need a machine without one`,
  );
  const home = tempDir("genpush-newcomer-");
  const state = join(home, "state");
  const env = { ...nixEnv, HOME: home, STATE_DIRECTORY: state, GENPUSH_CONFIG: "" };
  return {
    home,
    state,
    run: async (args, cwd = home) => {
      const r = await execa(process.execPath, [cli, ...args], { env, cwd, reject: false, timeout: RUN_LIMIT_MS });
      return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
    },
  };
}

/** The user's own profile as `nix-env` keeps it: ~/.local/state/nix/profiles/profile, and ~/.nix-profile linking to it. */
function nixEnvProfile(user: User, paths = 4) {
  const generation = buildGeneration({ seed: newSeed(), paths, changed: 1, version: 0 });
  const dir = join(user.home, ".local", "state", "nix", "profiles");
  mkdirSync(dir, { recursive: true });
  switchProfile(join(dir, "profile"), generation.storePath);
  symlinkSync(join(dir, "profile"), join(user.home, ".nix-profile"));
  return generation;
}

test("README's first command, with Nix alone: it pushes the user's own profile (~/.nix-profile), and Nix reads it back", async () => {
  const user = newcomer();
  const g = nixEnvProfile(user);
  const cache = join(user.home, ".cache", "genpush", "demo-cache");
  const first = await user.run(["push", "--to", `file://${cache}`]);
  assert.equal(first.exitCode, 0, first.stderr);
  assert.match(
    first.stdout,
    new RegExp(`^pushed ${g.closure.length} of ${g.closure.length} paths .* of user generation 1 to `, "m"),
  );
  assert.doesNotMatch(first.stdout, /nothing to push: no profile exists here yet/);
  assert.deepEqual(missingFromCache(cache, g.closure), []);
  const again = await user.run(["push", "--to", `file://${cache}`]);
  assert.equal(again.exitCode, 0, again.stderr);
  assert.match(again.stdout, /^user generation 1 is already in .*: nothing to push$/m);
  // README's read-back, as typed there: into a store of its own.
  const store = join(user.home, ".cache", "genpush", "demo-store");
  nix("nix", ["copy", "--no-check-sigs", "--from", `file://${cache}`, "--to", store, g.storePath]);
  nix("nix", ["path-info", "--store", store, g.storePath]);
});

test("status, verify and diff take push's --to and --profile-path, and see what it did", async () => {
  const user = newcomer();
  const g = nixEnvProfile(user);
  const to = `file://${join(user.home, "cache")}`;
  assert.equal((await user.run(["push", "--to", to])).exitCode, 0);

  const plain = await user.run(["status"]);
  assert.equal(plain.exitCode, 2);
  assert.match(plain.stderr, /hint: name the store on the command line instead, as with `genpush push --to STORE_URI`/);

  const status = await user.run(["status", "--json", "--to", to]);
  assert.equal(status.exitCode, 0, status.stderr);
  const mine = JSON.parse(status.stdout).profiles.find((p: { profile: string }) => p.profile === "user");
  assert.equal(mine.current.storePath, g.storePath);
  assert.deepEqual(
    mine.caches.map((c: { pending: boolean; lastPushed: { generation: number } }) => [
      c.pending,
      c.lastPushed.generation,
    ]),
    [[false, 1]],
  );
  // The same profile by its link: the same name, the same record.
  const byPath = await user.run(["status", "--to", to, "--profile-path", join(user.home, ".nix-profile")]);
  assert.equal(byPath.exitCode, 0, byPath.stderr);
  assert.match(byPath.stdout, /^user: generation 1 .*\n {2}\S+: up to date, last pushed generation 1/m);

  const verify = await user.run(["verify", "--to", to, "--profile-path", join(user.home, ".nix-profile")]);
  assert.equal(verify.exitCode, 0, verify.stderr);
  assert.match(verify.stdout, new RegExp(`holds all ${g.closure.length} paths of user generation 1`));

  const diff = await user.run(["diff", "--profile", "user", "--to", to, "--generation", "1"]);
  assert.equal(diff.exitCode, 0, diff.stderr);
  assert.match(
    diff.stdout,
    /^user generation 1 -> \S+: 0 of \d+ paths new since generation 1; 0 to consider, 0 missing/m,
  );

  // --to is a store URI in every command: diff's old --to GEN says what it is now.
  const old = await user.run(["diff", "--profile", "user", "--to", "1"]);
  assert.equal(old.exitCode, 2);
  assert.match(
    old.stderr,
    /--to takes a store URI, as in every command, got `1`: the generation to diff is --generation 1/,
  );
});

test("--to file://relcache and --to ./relcache: exit 2 naming the absolute directory, nothing written", async () => {
  const user = newcomer();
  nixEnvProfile(user, 3);
  const cwd = tempDir("genpush-cwd-");
  const hosted = await user.run(["push", "--to", "file://relcache"], cwd);
  assert.equal(hosted.exitCode, 2, hosted.stderr);
  assert.match(hosted.stderr, /error: --to `file:\/\/relcache`: `file:\/\/relcache` names no absolute directory/);
  assert.ok(
    hosted.stderr.includes(`hint: for a binary cache in the directory ${cwd}/relcache: \`file://${cwd}/relcache\``),
  );
  const relative = await user.run(["push", "--to", "./relcache"], cwd);
  assert.equal(relative.exitCode, 2, relative.stderr);
  assert.ok(relative.stderr.includes(`give its absolute path: \`file://${cwd}/relcache\``), relative.stderr);
  assert.doesNotMatch(relative.stderr, /http:\/\//);
  assert.equal(existsSync(user.state), false, "no state written");
  assert.deepEqual(readdirSync(cwd), [], "nothing written where it ran");
  // What the hint says works.
  const fixed = await user.run(["push", "--to", `file://${cwd}/relcache`], cwd);
  assert.equal(fixed.exitCode, 0, fixed.stderr);
});

test("--to /some/dir, a local store that refuses unsigned paths: one try, a hint, and the store it made is gone", async () => {
  const user = newcomer();
  const g = nixEnvProfile(user, 3);
  const dir = join(tempDir("genpush-local-"), "some", "dir");
  const r = await user.run(["push", "--to", dir]);
  assert.equal(r.exitCode, 1, r.stderr);
  assert.match(r.stderr, /lacks a valid signature/);
  assert.doesNotMatch(r.stderr, /retrying|tries/, "what another try cannot change is not retried");
  assert.ok(r.stderr.includes(`removed ${dir}, which Nix had made for this push`), r.stderr);
  assert.ok(
    r.stderr.includes(
      `hint: for a binary cache in that directory, which other machines substitute from: \`file://${dir}\``,
    ),
  );
  assert.ok(r.stderr.includes(`\`${dir}?require-sigs=false\``), r.stderr);
  assert.equal(existsSync(dir), false, "nothing left of the store Nix made");
  // A directory that was there keeps what was in it; only Nix's nix/ goes.
  mkdirSync(dir, { recursive: true });
  const there = await user.run(["push", "--to", dir]);
  assert.equal(there.exitCode, 1);
  assert.deepEqual(readdirSync(dir), []);
  // Both ways the hint offers work.
  const store = await user.run(["push", "--to", `${dir}?require-sigs=false`]);
  assert.equal(store.exitCode, 0, store.stderr);
  nix("nix", ["path-info", "--store", dir, g.storePath]);
  const cache = await user.run(["push", "--to", `file://${dir}-cache`]);
  assert.equal(cache.exitCode, 0, cache.stderr);
});

test("a typo in --profile-path is exit 2 with a did-you-mean; the default profiles keep their quiet not-yet", async () => {
  const user = newcomer();
  nixEnvProfile(user, 3);
  const to = `file://${join(user.home, "cache")}`;
  const typo = await user.run(["push", "--profile-path", join(user.home, ".nix-profil"), "--to", to]);
  assert.equal(typo.exitCode, 2, typo.stderr);
  assert.ok(
    typo.stderr.includes(
      `--profile-path \`${user.home}/.nix-profil\`: ${user.home}/.nix-profil does not exist; did you mean ${user.home}/.nix-profile?`,
    ),
    typo.stderr,
  );
  assert.equal(existsSync(user.state), false, "no state written");
  for (const command of [["status"], ["verify"], ["diff"]]) {
    const r = await user.run([...command, "--profile-path", join(user.home, ".nix-profil"), "--to", to]);
    assert.equal(r.exitCode, 2, `${command}: ${r.stderr}`);
  }
  // No ~/.nix-profile and no other profile: a sentence, exit 0.
  const nobody = newcomer();
  const none = await nobody.run(["push", "--to", `file://${join(nobody.home, "cache")}`]);
  assert.equal(none.exitCode, 0, none.stderr);
  assert.match(none.stdout, /^nothing to push: no profile exists here yet/m);
});

test("a --to with a login in it is exit 2 in every command, and the password is never shown, even beside a typo", async () => {
  const user = newcomer();
  nixEnvProfile(user, 3);
  const password = `s3cr3t-${newSeed()}`;
  for (const uri of [
    `https://alice:${password}@cache.example.org?compresion=zstd`,
    `htps://alice:${password}@cache.example.org`,
    `https://alice:${password}@cache.example.org`,
  ]) {
    for (const command of [
      ["push"],
      ["status"],
      ["verify"],
      ["diff", "--profile-path", join(user.home, ".nix-profile")],
    ]) {
      const r = await user.run([...command, "--to", uri, "--json"]);
      assert.equal(
        r.exitCode,
        2,
        `${command[0]} ${uri.replace(password, "***")}: ${r.stderr.replaceAll(password, "***")}`,
      );
      assert.ok(!`${r.stdout}${r.stderr}`.includes(password), `${command[0]} showed the password`);
      assert.match(r.stderr, /holds credentials \(h\w+:\/\/\*\*\*@cache\.example\.org/);
    }
  }
  assert.equal(existsSync(user.state), false, "no state written");
});
