// Broken profiles fail alone: a dangling link, a link out of the store, a loop
// of links, each an error for that profile, while the good one is still pushed.
import assert from "node:assert/strict";
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { explain } from "./harness/cli.js";
import { scenario } from "./harness/fixture.js";
import { tempDir } from "./harness/nix.js";

test("a broken profile is an error for that profile only; the others are pushed", async (t) => {
  const s = await scenario({ paths: 12 });
  t.after(() => s.destroy());
  const gen = s.switchTo(0);

  const dir = join(tempDir("genpush-broken-"), "profiles");
  mkdirSync(dir);
  symlinkSync("dangling-1-link", join(dir, "dangling"));
  symlinkSync("/nix/store/00000000000000000000000000000000-gone", join(dir, "dangling-1-link"));
  symlinkSync("/etc/hostname", join(dir, "outside"));
  symlinkSync("loop", join(dir, "loop"));
  s.config.profiles.push(
    { name: "dangling", path: join(dir, "dangling") },
    { name: "outside", path: join(dir, "outside") },
    { name: "loop", path: join(dir, "loop") },
  );
  s.configFile();

  const r = await s.run("push", "--json");
  assert.equal(r.code, 1, explain(r));
  const byName = Object.fromEntries(r.json.profiles.map((p: { profile: string }) => [p.profile, p]));
  assert.equal(byName.test.status, "ok");
  assert.equal(r.json.results[0].storePath, gen.storePath);
  assert.equal(r.json.results[0].status, "pushed");
  assert.equal(byName.dangling.status, "failed");
  assert.match(byName.dangling.error.message, /dangling link/);
  assert.match(byName.dangling.error.hint, /garbage-collected/);
  assert.equal(byName.outside.status, "failed");
  assert.match(byName.outside.error.message, /points outside \/nix\/store/);
  assert.equal(byName.loop.status, "failed");
  assert.match(byName.loop.error.message, /loop of links/);
});

test("the generation's system file routes it; no cache for it is a warning naming both", async (t) => {
  const s = await scenario({ paths: 8 });
  t.after(() => s.destroy());
  s.switchTo(0);
  s.config.caches[0].systems = ["aarch64-linux"];
  s.configFile();

  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(r.json.results, []);
  assert.deepEqual(r.json.warnings, [
    "profile test: no cache is configured for x86_64-linux; caches serve aarch64-linux",
  ]);
  assert.equal(await s.cache.count("HEAD"), 0);
});
