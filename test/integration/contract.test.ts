// One contract for every cache backend, each case written once and run against:
//   nix    — the harness's real nginx binary cache (behind a small fault-injecting proxy of our own), real `nix copy`;
//   attic  — a fake Attic server of the test suite's own and a stand-in `attic` executable;
//   cachix — a fake Cachix API of the test suite's own and a stand-in `cachix` executable.
// No real Attic or Cachix server runs here. The Cache API is used in-process.
// After every case: no secret in the clients' argv, stdin or output, in an
// error, a retry message or anything printed; a token only where it belongs.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { type Cache, openCache } from "../../src/caches/index.js";
import type { CacheConfig } from "../../src/config/config.js";
import { queryClosure } from "../../src/nix/cli.js";
import type { PathInfo } from "../../src/nix/path-info.js";
import { parseStorePath, type StorePath } from "../../src/nix/store-path.js";
import { dependenciesFirst } from "../../src/push/plan.js";
import { BACKENDS, type BackendName, type Fixture } from "./fakes/backends.js";
import { assertNoLeak, captureOutput, errorText } from "./fakes/leaks.js";
import { hashOf, syntheticPath } from "./fakes/util.js";
import { buildGeneration, newSeed } from "./harness/nix.js";

const FAST = { attempts: 4, baseMs: 10, maxMs: 2_000, totalMs: 20_000 };

const LABELS: Record<BackendName, string> = {
  nix: "real nginx binary cache behind a fault-injecting proxy, real nix copy",
  attic: "fake Attic server, stand-in attic executable",
  cachix: "fake Cachix API, stand-in cachix executable",
};

interface Run {
  fx: Fixture;
  cache: Cache;
  /** what onRetry was told */
  retries: string[];
  /** every error a case caught */
  errors: unknown[];
  open(config: CacheConfig): Cache;
}

let closure: StorePath[];
let infos: PathInfo[];
/** five leaves, already in the cache when a case seeds it */
let present: StorePath[];
/** closure − present */
let lacking: StorePath[];

before(async () => {
  const generation = buildGeneration({ seed: newSeed(), paths: 20 });
  closure = generation.closure.map((p) => parseStorePath(p));
  infos = (await queryClosure([parseStorePath(generation.storePath)])).infos;
  present = closure.filter((p) => p.includes("-leaf-")).slice(0, 5);
  lacking = closure.filter((p) => !present.includes(p));
  assert.equal(closure.length, 20);
  assert.equal(present.length, 5);
});

const sorted = (items: readonly string[]) => [...items].sort();
const ordered = (paths: readonly StorePath[]) => dependenciesFirst(infos.filter((i) => paths.includes(i.path)));
const namesCache = (fx: Fixture) => new RegExp(`\\b${fx.name}\\b`);

async function failure(run: Run, promise: Promise<unknown>): Promise<Error & { hint?: string }> {
  try {
    await promise;
  } catch (error) {
    run.errors.push(error);
    return error as Error;
  }
  return assert.fail("expected a rejection");
}

type Case = (run: Run) => Promise<void>;

const CASES: [string, Case, BackendName[]?][] = [
  [
    "missing query: of N candidates of which K are present, exactly the N − K",
    async ({ fx, cache }) => {
      await fx.seed(present);
      assert.deepEqual(sorted(await cache.missing(closure)), sorted(lacking));
      const asked = fx.queries().flatMap((q) => q.hashes ?? []);
      assert.deepEqual(sorted(asked), sorted(closure.map(hashOf)), "each candidate asked about once");
    },
  ],
  [
    "upload: push(missing) uploads exactly the missing set, and nothing else",
    async ({ fx, cache }) => {
      await fx.seed(present);
      const missing = await cache.missing(closure);
      const progress: number[][] = [];
      await cache.push(ordered(missing), { onProgress: (done, total) => progress.push([done, total]) });
      assert.deepEqual(sorted(await fx.uploads()), sorted(missing.map(hashOf)), "each missing path uploaded once");
      const holds = await fx.holds();
      for (const path of closure) assert.ok(holds.has(hashOf(path)), `the cache holds ${path}`);
      assert.deepEqual(progress.at(-1), [missing.length, missing.length]);
      fx.checkInvocation?.(
        fx.standin?.calls() ?? [],
        ordered(missing).map((i) => i.path),
      );
    },
  ],
  [
    "auth failure (query): a wrong token is an authentication error naming the cache, not retried",
    async (run) => {
      const { fx, cache, retries } = run;
      fx.breakAuth();
      const error = await failure(run, cache.missing(closure));
      assert.match(error.message, namesCache(fx));
      assert.match(error.message, /authenticat|refused/i);
      assert.deepEqual(retries, []);
      const asked = fx.queries().flatMap((q) => q.hashes ?? []);
      assert.equal(new Set(asked).size, asked.length, "no hash asked twice");
      assert.ok(fx.queries().length <= Math.ceil(closure.length / fx.batch));
    },
  ],
  [
    "auth failure (upload): refused credentials fail the push at once, naming the cache",
    async (run) => {
      const { fx, cache, retries } = run;
      await fx.seed(present);
      fx.breakAuth();
      const error = await failure(run, cache.push(ordered(lacking), {}));
      assert.match(error.message, namesCache(fx));
      assert.match(error.message, /authenticat|refused|unauthori[sz]ed|access/i);
      assert.deepEqual(retries, [], "not retried");
      assert.ok((fx.standin?.calls().length ?? 1) <= 1, "the client ran once");
      assert.deepEqual(await fx.uploads(), []);
    },
  ],
  [
    "retry then success: two 503s, then the right answer; onRetry names the cache",
    async ({ fx, cache, retries }) => {
      await fx.seed(present);
      fx.server.failNext(2, 503);
      assert.deepEqual(sorted(await cache.missing(closure)), sorted(lacking));
      assert.equal(retries.length, 2, retries.join("\n"));
      for (const message of retries) assert.match(message, namesCache(fx));
    },
  ],
  [
    "retry then success: 429 with Retry-After: 1 is honoured",
    async ({ fx, cache, retries }) => {
      await fx.seed(present);
      fx.server.failNext(1, 429, { "retry-after": "1" });
      const started = performance.now();
      assert.deepEqual(sorted(await cache.missing(closure)), sorted(lacking));
      assert.ok(performance.now() - started >= 950, "waited the second Retry-After asked for");
      assert.equal(retries.length, 1, retries.join("\n"));
      assert.match(retries[0] ?? "", namesCache(fx));
    },
  ],
  [
    "batching at the limit: batch + 1 hashes take exactly 2 requests",
    async ({ fx, cache }) => {
      const paths = Array.from({ length: fx.batch + 1 }, (_, i) => parseStorePath(syntheticPath(i)));
      await fx.seed([]);
      assert.equal((await cache.missing(paths)).length, paths.length);
      assert.deepEqual(
        fx.queries().map((q) => q.batch),
        [fx.batch, 1],
      );
      assert.ok(
        fx.queries().every((q) => q.status === 200 || q.status === 404),
        "no request refused (e.g. 413)",
      );
    },
  ],
  [
    "missing client binary: push fails naming the cache and how to install the client",
    async (run) => {
      const { fx } = run;
      const config = fx.withoutClient?.() as CacheConfig;
      const error = await failure(run, run.open(config).push(ordered(lacking), {}));
      assert.match(error.message, namesCache(fx));
      assert.match(`${error.message} ${error.hint ?? ""}`, /install/i);
      assert.deepEqual(await fx.uploads(), []);
    },
    ["attic", "cachix"],
  ],
  [
    "upload failure: a push the server keeps failing rejects, naming the cache; nothing recorded",
    async (run) => {
      const { fx, cache } = run;
      await fx.seed(present);
      fx.breakUploads();
      const error = await failure(run, cache.push(ordered(lacking), {}));
      assert.match(error.message, namesCache(fx));
      assert.deepEqual(await fx.uploads(), []);
    },
  ],
];

async function runCase(backend: BackendName, body: Case): Promise<void> {
  const fx = await BACKENDS[backend]();
  const retries: string[] = [];
  const errors: unknown[] = [];
  const opened: Cache[] = [];
  const open = (config: CacheConfig) => {
    const cache = openCache(config, { retry: FAST, onRetry: (m) => retries.push(m), timeoutMs: 5_000 });
    opened.push(cache);
    return cache;
  };
  const output = captureOutput();
  try {
    try {
      await body({ fx, cache: open(fx.config), retries, errors, open });
    } finally {
      output.restore();
      for (const cache of opened) cache.close();
    }
    assertNoLeak(fx, {
      "an onRetry message": retries.join("\n"),
      "an error": errors.map(errorText).join("\n"),
      "what was printed": output.text(),
    });
  } finally {
    await fx.destroy();
  }
}

for (const backend of ["nix", "attic", "cachix"] as const) {
  describe(`${backend} backend: ${LABELS[backend]}`, () => {
    // A case limited to some backends (`only`) is not registered for the others.
    for (const [title, body, only] of CASES) {
      if (!only || only.includes(backend)) it(title, () => runCase(backend, body));
    }
  });
}
