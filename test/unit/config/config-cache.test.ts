// The parse cache: a trigger with nothing to do reads the configuration's data from genpush's
// cache directory instead of loading the YAML parser, for as long as the file holds the same text.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { configCacheFile, type Environment, loadConfig } from "../../../src/config/config.js";
import { UsageError } from "../../../src/runtime/errors.js";

const root = mkdtempSync(join(tmpdir(), "genpush-config-cache-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A configuration file, and an environment whose cache directory is fresh. */
function setup(text: string, env: NodeJS.ProcessEnv = {}) {
  const dir = join(root, `case-${++n}`);
  mkdirSync(dir);
  const file = join(dir, "config.yaml");
  writeFileSync(file, text);
  const environment: Environment = { env: { CACHE_DIRECTORY: join(dir, "cache"), ...env }, uid: 1000, home: dir };
  return { dir, file, environment, cache: configCacheFile(environment) };
}

const config = (stateDir: string, extra = "") => `stateDir: ${stateDir}
caches:
  - name: lan
    systems: [x86_64-linux]
    type: nix
    store: http://127.0.0.1:8080
${extra}`;

test("the cache file is systemd's CacheDirectory=, else the XDG cache directory", () => {
  const home = "/home/alice";
  assert.equal(
    configCacheFile({ env: { CACHE_DIRECTORY: "/var/cache/genpush:/x" }, uid: 0, home }),
    "/var/cache/genpush/config.json",
  );
  assert.equal(configCacheFile({ env: { XDG_CACHE_HOME: "/xdg" }, uid: 1000, home }), "/xdg/genpush/config.json");
  assert.equal(configCacheFile({ env: {}, uid: 1000, home }), "/home/alice/.cache/genpush/config.json");
});

test("parsed once, the data is read from the cache while the file holds the same text; a new text is parsed", async () => {
  const { file, environment, cache } = setup(config("/var/lib/a"));
  assert.equal((await loadConfig(file, environment)).stateDir, "/var/lib/a");
  assert.equal(statSync(cache).mode & 0o777, 0o600);
  assert.equal(statSync(join(cache, "..")).mode & 0o777, 0o700);
  // Prove where the data comes from: the cached copy, altered, is what is loaded.
  const entry = JSON.parse(readFileSync(cache, "utf8"));
  entry.data.stateDir = "/from/the/cache";
  writeFileSync(cache, JSON.stringify(entry));
  assert.equal((await loadConfig(file, environment)).stateDir, "/from/the/cache");

  writeFileSync(file, config("/var/lib/b"));
  assert.equal((await loadConfig(file, environment)).stateDir, "/var/lib/b");
  assert.equal(JSON.parse(readFileSync(cache, "utf8")).data.stateDir, "/var/lib/b");
});

test("a problem in cached data is reported with its line, from a fresh parse", async () => {
  const { dir, file, environment } = setup(config("$STATE/genpush"), { STATE: "/var/lib" });
  await loadConfig(file, environment); // valid: cached
  const unset: Environment = { ...environment, env: { CACHE_DIRECTORY: join(dir, "cache") } };
  await assert.rejects(loadConfig(file, unset), (error: Error) => {
    assert.ok(error instanceof UsageError);
    assert.match(error.message, new RegExp(`^${file}:1: stateDir: .*STATE`), error.message);
    return true;
  });
});

test("a torn cache file, or a cache directory that cannot be made, costs only the parse", async () => {
  const torn = setup(config("/var/lib/a"));
  mkdirSync(join(torn.cache, ".."), { recursive: true });
  writeFileSync(torn.cache, '{"format":1,"text":');
  assert.equal((await loadConfig(torn.file, torn.environment)).stateDir, "/var/lib/a");
  assert.equal(JSON.parse(readFileSync(torn.cache, "utf8")).data.stateDir, "/var/lib/a", "rewritten");

  const blocked = setup(config("/var/lib/b"));
  writeFileSync(join(blocked.dir, "cache"), "a file where the directory should be");
  assert.equal((await loadConfig(blocked.file, blocked.environment)).stateDir, "/var/lib/b");
});

test("a home that does not exist (a Nix build's /homeless-shelter) is not created", async () => {
  const { dir, file } = setup(config("/var/lib/a"));
  const home = join(dir, "homeless-shelter");
  assert.equal((await loadConfig(file, { env: {}, uid: 1000, home })).stateDir, "/var/lib/a");
  assert.equal(existsSync(home), false);
});

test("what JSON cannot hold exactly (YAML's .inf) is not cached", async () => {
  const { file, environment, cache } = setup(config("/var/lib/a", "    timeoutSeconds: .inf\n"));
  await assert.rejects(loadConfig(file, environment), /timeoutSeconds/);
  assert.equal(existsSync(cache), false);
});
