/**
 * What every run starts from, made once per closure size: two generations in
 * the real store (the harness's synthetic ones, with fixed seeds so a second
 * benchmark run finds them built), a profile on the newer one, and a template
 * cache holding the older one as both tools would have left it — the cache
 * directory, genpush's state ("generation N pushed"), and each tool's Nix
 * narinfo disk cache. Templates are filled through the proxy with no delay,
 * so the store URI (and the disk caches keyed by it) is the one runs use.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  buildGeneration,
  type Generation,
  generationExpr,
  minus,
  nix,
  nixEnv,
  switchProfile,
} from "../test/integration/harness/nix.js";
import { startCache } from "./cache.js";
import type { DelayProxy } from "./proxy.js";
import { genpush, nixCopy, writeGenpushConfig } from "./tools.js";

export interface PairSpec {
  paths: number;
  /** leaves that differ between the two generations */
  changed: number;
}

export interface Fixture extends PairSpec {
  label: string;
  from: Generation;
  to: Generation;
  /** paths of `to` that `from` lacks */
  newPaths: string[];
  /** profile whose current generation is `to` */
  profile: string;
  /** cache directory holding `from` */
  cache: string;
  /** genpush state: `from` pushed to the cache */
  state: string;
  /** Nix's narinfo disk cache after `nix copy` pushed `from` (warm) */
  xdgNix: string;
  /** genpush's XDG_CACHE_HOME after its push of `from` */
  xdgGenpush: string;
}

/** The cache also holds `to`, and Nix's disk cache knows every path of `to` as present. */
export interface PushedFixture {
  cache: string;
  xdgNix: string;
}

const CHUNK = 500;

/**
 * Nix 2.8 schedules one big build super-linearly (8,000 trivial derivations:
 * about 11 minutes at once, 2 in chunks), so leaves are built 500 at a time
 * from the harness's own expression first. Only a warm-up: if the expression
 * changes shape, buildGeneration builds everything itself.
 */
function prebuildLeaves(seed: string, spec: PairSpec, version: number): void {
  const expr = generationExpr({ seed, paths: spec.paths, changed: spec.changed, version });
  const body = expr.lastIndexOf("\nin ");
  if (body < 0 || !expr.includes("leaves = ") || !needsBuilding(expr)) return;
  for (let start = 0; start < spec.paths; start += CHUNK) {
    // `n` (the number of leaves) is the expression's own; the last chunks may be short or empty.
    const count = `(let c = n - ${start}; in if c < 0 then 0 else if c > ${CHUNK} then ${CHUNK} else c)`;
    const chunk = `${expr.slice(0, body)}\nin builtins.genList (i: builtins.elemAt leaves (${start} + i)) ${count}\n`;
    try {
      nix(
        "nix-build",
        ["--no-out-link", "--option", "sandbox", "false", "--option", "substituters", ""].concat([
          "--max-jobs",
          "8",
          "-E",
          chunk,
        ]),
      );
    } catch {
      return;
    }
  }
}

function needsBuilding(expr: string): boolean {
  const args = ["--dry-run", "--no-out-link", "--option", "substituters", "", "-E", expr];
  const r = spawnSync("nix-build", args, { env: nixEnv, encoding: "utf8", maxBuffer: 64 << 20 });
  return r.status !== 0 || r.stderr.includes("will be built");
}

/** One generation, leaves pre-built in chunks; says how long it took. */
export function build(seed: string, spec: PairSpec, version: number): Generation {
  const t = performance.now();
  prebuildLeaves(seed, spec, version);
  const generation = buildGeneration({ seed, paths: spec.paths, changed: spec.changed, version });
  const s = ((performance.now() - t) / 1000).toFixed(1);
  process.stderr.write(`  built ${spec.paths}-path generation v${version} in ${s}s\n`);
  return generation;
}

function copyTree(from: string, to: string): void {
  execFileSync("cp", ["-a", from, to]);
}

export async function prepareFixture(
  spec: PairSpec,
  label: string,
  proxy: DelayProxy,
  work: string,
  base?: Fixture,
): Promise<Fixture> {
  const seed = `genpush-bench-${spec.paths}`;
  const from = build(seed, spec, 1);
  const to = build(seed, spec, 2);
  const dir = join(work, `fixture-${label.replace(/[^a-z0-9]+/gi, "-")}`);
  mkdirSync(join(dir, "profile"), { recursive: true });
  const profile = join(dir, "profile", "bench");
  switchProfile(profile, from.storePath);
  const f: Fixture = {
    ...spec,
    label,
    from,
    to,
    newPaths: minus(to.closure, from.closure),
    profile,
    cache: join(dir, "template", "cache"),
    state: join(dir, "state"),
    xdgNix: join(dir, "xdg-nix"),
    xdgGenpush: join(dir, "xdg-genpush"),
  };
  // A fixture of the same size starts from the other's cache: only the difference is uploaded.
  if (base) {
    copyTree(base.xdgNix, f.xdgNix);
    copyTree(base.xdgGenpush, f.xdgGenpush);
  } else {
    mkdirSync(f.xdgNix);
    mkdirSync(f.xdgGenpush);
  }
  const cache = await startCache(join(dir, "template"), base?.cache);
  proxy.target = cache.port;
  proxy.delayMs = 0;
  try {
    const t = performance.now();
    // Each tool's disk cache as its own previous push left it: genpush uploads `from` itself (its
    // `nix copy` records every path as present), then `nix copy` asks about every path and finds it.
    const config = writeGenpushConfig(dir, { stateDir: f.state, profile, store: proxy.url });
    await genpush(config, ["push", "--json"], f.xdgGenpush);
    await nixCopy(from.storePath, proxy.url, f.xdgNix);
    process.stderr.write(`  filled the template cache in ${((performance.now() - t) / 1000).toFixed(1)}s\n`);
  } finally {
    await cache.stop();
  }
  switchProfile(profile, to.storePath);
  return f;
}

/** A second template: `from` and `to` both pushed with `nix copy`, its disk cache warm for both. */
export async function preparePushed(f: Fixture, proxy: DelayProxy): Promise<PushedFixture> {
  const dir = join(f.cache, "..", "..", "pushed");
  mkdirSync(dir, { recursive: true });
  const pushed: PushedFixture = { cache: join(dir, "cache"), xdgNix: join(dir, "xdg-nix") };
  copyTree(f.xdgNix, pushed.xdgNix);
  const cache = await startCache(dir, f.cache);
  proxy.target = cache.port;
  proxy.delayMs = 0;
  try {
    await nixCopy(f.to.storePath, proxy.url, pushed.xdgNix);
  } finally {
    await cache.stop();
  }
  return pushed;
}
