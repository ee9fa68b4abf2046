// Node's compile cache in genpush's cache directory (src/runtime/compile-cache.ts): used only
// where nobody but root and this user can change it, one build's at a time, no directory made
// but genpush's own; and the built CLI really writes one under a Node that has it.
// Real directories, modes and owners (CI runs as root: chown needs it).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import module from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { COMPILE_CACHE, useCompileCache } from "../../../src/runtime/compile-cache.js";

if (process.getuid?.() !== 0) assert.fail("these tests chown directories: they need root (CI runs as root)");

const ENTRY = "/nix/store/00000000000000000000000000000000-genpush/lib/dist/cli.js";

/** A home of root's (0700) with its ~/.cache (0700); `enabled` records what Node would have been told. */
function setUp() {
  const home = mkdtempSync(join(tmpdir(), "genpush-compile-cache-"));
  mkdirSync(join(home, ".cache"), { mode: 0o700 });
  const enabled: string[] = [];
  const enable = (dir: string) => {
    enabled.push(dir);
    return { status: 1, directory: dir };
  };
  return { home, enabled, options: { env: {}, home, uid: 0, enable } };
}

describe("compile cache: where Node keeps genpush's compiled code", () => {
  it("makes ~/.cache/genpush/compile-cache/BUILD, each 0700, and turns the cache on there", async () => {
    const { home, enabled, options } = setUp();
    const dir = await useCompileCache(ENTRY, options);
    assert.ok(dir?.startsWith(join(home, ".cache", "genpush", COMPILE_CACHE)), String(dir));
    assert.deepEqual(enabled, [dir]);
    for (const made of [".cache/genpush", `.cache/genpush/${COMPILE_CACHE}`]) {
      assert.equal(readdirSync(join(home, made)).length, 1, made);
    }
    assert.equal((await import("node:fs")).statSync(dir as string).mode & 0o777, 0o700);
    // The same build finds the same directory again.
    assert.equal(await useCompileCache(ENTRY, options), dir);
  });

  it("uses systemd's CacheDirectory= as it is", async () => {
    const { home, options } = setUp();
    const cacheDir = join(home, "var-cache-genpush");
    mkdirSync(cacheDir, { mode: 0o700 });
    const dir = await useCompileCache(ENTRY, { ...options, env: { CACHE_DIRECTORY: cacheDir } });
    assert.ok(dir?.startsWith(join(cacheDir, COMPILE_CACHE)), String(dir));
    assert.deepEqual(readdirSync(join(home, ".cache")), []);
  });

  it("removes another build's cache, and keeps its own", async () => {
    const { home, options } = setUp();
    const other = await useCompileCache("/nix/store/11111111111111111111111111111111-genpush/lib/dist/cli.js", options);
    const own = await useCompileCache(ENTRY, options);
    assert.notEqual(other, own);
    assert.ok(!existsSync(other as string), "the other build's cache is gone");
    assert.deepEqual(readdirSync(join(home, ".cache", "genpush", COMPILE_CACHE)), [own?.split("/").pop()]);
  });

  it("is not used, and nothing is made, where someone else could change it", async () => {
    for (const [what, spoil] of [
      ["~/.cache writable by anyone", (home: string) => chmodSync(join(home, ".cache"), 0o777)],
      ["~/.cache/genpush another user's", (home: string) => chownSync(join(home, ".cache", "genpush"), 65534, 65534)],
      ["the home another user's", (home: string) => chownSync(home, 65534, 65534)],
    ] as const) {
      const { home, enabled, options } = setUp();
      mkdirSync(join(home, ".cache", "genpush"), { recursive: true, mode: 0o700 });
      spoil(home);
      assert.equal(await useCompileCache(ENTRY, options), undefined, what);
      assert.deepEqual(enabled, [], what);
      assert.deepEqual(readdirSync(join(home, ".cache", "genpush")), [], what);
    }
  });

  it("makes no ~/.cache, nor a HOME that does not exist (a Nix build's /homeless-shelter)", async () => {
    const { home, enabled, options } = setUp();
    const missing = join(home, "homeless-shelter");
    assert.equal(await useCompileCache(ENTRY, { ...options, home: missing }), undefined);
    const bare = mkdtempSync(join(tmpdir(), "genpush-compile-cache-"));
    assert.equal(await useCompileCache(ENTRY, { ...options, home: bare }), undefined);
    assert.deepEqual(enabled, []);
    assert.ok(!existsSync(missing));
    assert.deepEqual(readdirSync(bare), []);
  });

  it("is off under NODE_DISABLE_COMPILE_CACHE, and on a Node without it (Node 20)", async () => {
    const { home, enabled, options } = setUp();
    assert.equal(await useCompileCache(ENTRY, { ...options, env: { NODE_DISABLE_COMPILE_CACHE: "1" } }), undefined);
    assert.equal(await useCompileCache(ENTRY, { ...options, enable: null }), undefined);
    assert.deepEqual(enabled, []);
    assert.deepEqual(readdirSync(join(home, ".cache")), []);
  });

  it("the built CLI leaves Node's cache there when its Node has one, and nothing when not", () => {
    const home = mkdtempSync(join(tmpdir(), "genpush-compile-cache-"));
    mkdirSync(join(home, ".cache"), { mode: 0o700 });
    const cli = resolve(import.meta.dirname, "../../../dist/cli.js");
    const r = spawnSync(process.execPath, [cli, "--version"], {
      env: { PATH: process.env.PATH, HOME: home },
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const root = join(home, ".cache", "genpush", COMPILE_CACHE);
    if (typeof (module as { enableCompileCache?: unknown }).enableCompileCache !== "function") {
      assert.deepEqual(readdirSync(join(home, ".cache")), [], `${process.version}: no compile cache, nothing made`);
      return;
    }
    const [build, ...others] = readdirSync(root);
    assert.deepEqual(others, []);
    // Node's own folder for its version, holding a cache entry for each module it compiled.
    const [versioned] = readdirSync(join(root, build as string));
    assert.ok(readdirSync(join(root, build as string, versioned as string)).length > 0, "cache entries written");
  });
});
