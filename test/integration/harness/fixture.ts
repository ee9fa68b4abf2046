// One scenario per test: a fresh seed, profile dir, state dir, nginx cache and config.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { explain, type RunResult, runGenpush, writeConfig } from "./cli.js";
import { type Cache, startCache } from "./nginx.js";
import { buildGeneration, type Generation, type Key, makeKey, newSeed, switchProfile, tempDir } from "./nix.js";

export interface ScenarioOptions {
  /** closure size of every generation (default 60) */
  paths?: number;
  /** leaves that differ between versions (default 3) */
  changed?: number;
  /** sign uploads with a fresh key (caches[0].signingKeyFile) */
  sign?: boolean;
  /** random bytes in each leaf (GenerationSpec.leafBytes): real-sized NARs */
  leafBytes?: string;
}

export interface Scenario {
  seed: string;
  /** <tmp>/profiles/test; does not exist until the first switch */
  profile: string;
  stateDir: string;
  cache: Cache;
  key: Key | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: a config is whatever the test makes of it
  config: any;
  /** the config written to a file: call again after changing `config` */
  configFile(): string;
  build(version: number): Generation;
  /** build version `version` and switch the profile to it */
  switchTo(version: number): Generation;
  /** genpush ARGS --config FILE (with this test's env) */
  run(...args: string[]): Promise<RunResult>;
  destroy(): Promise<void>;
}

export async function scenario(opts: ScenarioOptions = {}): Promise<Scenario> {
  const { paths = 60, changed = 3 } = opts;
  const seed = newSeed();
  const root = tempDir("genpush-scenario-");
  mkdirSync(join(root, "profiles"));
  const profile = join(root, "profiles", "test");
  const stateDir = join(root, "state");
  const cache = await startCache();
  const key = opts.sign ? makeKey(`genpush-test-${seed}`) : undefined;
  const config = {
    stateDir,
    profiles: [{ name: "test", path: profile }],
    caches: [
      {
        name: "local",
        systems: ["x86_64-linux"],
        type: "nix",
        store: cache.url,
        ...(key ? { signingKeyFile: key.secretKeyFile } : {}),
      },
    ],
  };
  let file: string | undefined;
  const s: Scenario = {
    seed,
    profile,
    stateDir,
    cache,
    key,
    config,
    configFile: () => {
      file = writeConfig(s.config);
      return file;
    },
    build: (version) =>
      buildGeneration({ seed, paths, changed, version, ...(opts.leafBytes ? { leafBytes: opts.leafBytes } : {}) }),
    switchTo: (version) => {
      const generation = s.build(version);
      switchProfile(profile, generation.storePath);
      return generation;
    },
    run: (...args) => runGenpush(args, { config: file ?? s.configFile() }),
    destroy: () => cache.destroy(),
  };
  return s;
}

/** The store path's hash part: the cache holds `<hash>.narinfo`. */
export function hashOf(storePath: string): string {
  const base = storePath.split("/").pop() ?? "";
  return base.slice(0, 32);
}

/** The `/<hash>.narinfo` URI of a store path in the cache, sorted lists of them. */
export function narinfoUris(storePaths: string[]): string[] {
  return storePaths.map((p) => `/${hashOf(p)}.narinfo`).sort();
}

/** The one profile x cache result of a `push --json`, asserting there is exactly one. */
// biome-ignore lint/suspicious/noExplicitAny: the JSON shape is what the tests assert on
export function onlyResult(r: RunResult): any {
  assert.ok(r.json, `no JSON on stdout\n${explain(r)}`);
  assert.equal(r.json.results?.length, 1, `expected one result\n${explain(r)}`);
  return r.json.results[0];
}
