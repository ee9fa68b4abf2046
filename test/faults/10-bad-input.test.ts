// Bad input that test/integration/profiles.test.ts does not cover (it has a dangling link, a
// link to /etc/hostname, a link to itself): profiles with odd names (spaces, unicode, a leading
// dash, a newline) that must work; a generation whose store path's name begins with dashes
// (nothing may take it for an option); and broken profiles that must each fail alone: a loop of
// two links, a link into a look-alike store outside /nix/store, a link to /nix/store itself or
// to /nix/store/.links, a plain directory, a plain file.
import assert from "node:assert/strict";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { explain } from "../integration/harness/cli.js";
import { scenario } from "../integration/harness/fixture.js";
import { closureOf, nix, switchProfile, tempDir } from "../integration/harness/nix.js";
import { Ledger, summary } from "./lib/ledger.js";

/** A one-path generation named `--help`: /nix/store/<hash>---help, with a `system` file. */
function dashedGeneration(seed: string): string {
  const script = `/bin/mkdir $out; echo ${seed} > $out/data; printf x86_64-linux > $out/system`;
  const expr = `builtins.derivation { name = "--help"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" ${JSON.stringify(script)} ]; }`;
  return nix("nix-build", ["--no-out-link", "--option", "substituters", "", "-E", expr]).trim();
}

test("odd profile names are pushed; each broken profile fails alone", async (t) => {
  const s = await scenario({ paths: 10, changed: 2, sign: true });
  t.after(() => s.destroy());
  const books = new Ledger("bad-input");
  const root = tempDir("genpush-odd-");
  const oddDir = join(root, "pröfiles with spaces ü");
  mkdirSync(oddDir);
  const good = {
    dash: join(oddDir, "-leading dash ü"),
    newline: join(oddDir, "new\nline"),
    dashed: join(oddDir, "dashed store path"),
  };
  const g1 = s.build(1);
  const g2 = s.build(2);
  switchProfile(good.dash, g1.storePath);
  books.switchedTo({ ...g1, label: "the profile with a leading dash" });
  switchProfile(good.newline, g2.storePath);
  books.switchedTo({ ...g2, label: "the profile with a newline" });
  const dashed = dashedGeneration(s.seed);
  assert.match(dashed, /^\/nix\/store\/[a-z0-9]{32}---help$/);
  switchProfile(good.dashed, dashed);
  books.switchedTo({ storePath: dashed, closure: closureOf(dashed), label: "the generation named --help" });
  const g0 = s.switchTo(0);
  books.switchedTo({ ...g0, label: "test generation 1" });

  const bad = join(root, "broken");
  mkdirSync(bad);
  symlinkSync("ping", join(bad, "pong"));
  symlinkSync("pong", join(bad, "ping"));
  const fakeStore = join(root, "nix", "store", `${"a".repeat(32)}-fake`);
  mkdirSync(fakeStore, { recursive: true });
  symlinkSync(fakeStore, join(bad, "lookalike"));
  symlinkSync("/nix/store", join(bad, "store"));
  symlinkSync("/nix/store/.links", join(bad, "links"));
  mkdirSync(join(bad, "directory"));
  writeFileSync(join(bad, "file"), "not a profile\n");
  const broken: Record<string, RegExp> = {
    ping: /loop of links/,
    lookalike: /points outside \/nix\/store/,
    store: /points outside \/nix\/store \(to \/nix\/store\)/,
    links: /points to \/nix\/store\/\.links, which is not a valid store path/,
    directory: /is not a link into \/nix\/store/,
    file: /is not a link into \/nix\/store/,
  };
  s.config.profiles.push(
    { name: "dash", path: good.dash },
    { name: "newline", path: good.newline },
    { name: "dashed", path: good.dashed },
    ...Object.keys(broken).map((name) => ({ name, path: join(bad, name) })),
  );
  books.fault("broken profiles", Object.keys(broken).length);
  books.fault("odd profile names and a store path named --help", 3);

  const r = await s.run("push", "--json");
  assert.equal(r.code, 1, explain(r));
  assert.doesNotMatch(r.stderr, /internal error/, explain(r));
  const byName = Object.fromEntries(r.json.profiles.map((p: { profile: string }) => [p.profile, p]));
  for (const name of ["test", "dash", "newline", "dashed"])
    assert.equal(byName[name]?.status, "ok", `${name}\n${explain(r)}`);
  for (const [name, why] of Object.entries(broken)) {
    assert.equal(byName[name]?.status, "failed", `${name}\n${explain(r)}`);
    assert.match(byName[name].error.message, new RegExp(`^profile ${name}: `), explain(r));
    assert.match(byName[name].error.message, why, `${name}\n${explain(r)}`);
  }
  const pushed = r.json.results.filter((x: { status: string }) => x.status === "pushed");
  assert.equal(pushed.length, 4, explain(r));
  books.reported(r.json);
  // Plain output too: one line per good profile, the broken ones as errors naming them.
  const again = await s.run("push");
  assert.equal(again.code, 1, explain(again));
  for (const name of Object.keys(broken))
    assert.match(again.stderr, new RegExp(`error: profile ${name}: `), explain(again));
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: s.key?.publicKey })));
});
