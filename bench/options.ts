/**
 * What a run measures, from the environment: `BENCH_QUICK=1` for development
 * (500 paths, 3 runs), and `BENCH_SIZES`, `BENCH_RUNS`, `BENCH_DELAY_MS`,
 * `BENCH_FIRST_PATHS`, `BENCH_UPDATE_PATHS`, `BENCH_UPDATE_RUNS`, `BENCH_LARGE_PATHS`,
 * `BENCH_HOOK_BUILDS`, `BENCH_HOOK_RUNS`, `BENCH_FLEET_HOSTS` to
 * shrink or grow a run; `BENCH_SCENARIOS` to run only some of them.
 */

export interface BenchOptions {
  /** closure sizes of the switch at scale */
  sizes: number[];
  /** the size the other scenarios (no-op, lost path) run at */
  mainSize: number;
  /** closure size of the first-push scenario (Nix 2.8 uploads one path at a time: keep it small) */
  firstPaths: number;
  runs: number;
  /** one-way delay of the proxy, ms */
  delayMs: number;
  quick: boolean;
  /** closure size of the update (every path changed) */
  updatePaths: number;
  /** runs of each update cell (each takes up to a minute with nix copy at 20 ms) */
  updateRuns: number;
  /** closure size of the large-closure scenario (memory) */
  largePaths: number;
  /** derivations each build of the post-build hook scenario makes (a hook run each) */
  hookBuilds: number;
  /** runs of each hook cell */
  hookRuns: number;
  /** how many hosts push at once in the fleet rows (one host alone is always measured too) */
  fleetHosts: number[];
  /** which groups run: switch (switches, no-op, lost paths, first push, start-up), update, large, hook, fleet */
  scenarios: Scenario[];
}

export const SCENARIOS = ["switch", "update", "large", "hook", "fleet"] as const;
export type Scenario = (typeof SCENARIOS)[number];

function integers(name: string, text: string, min: number): number[] {
  const values = text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(Number);
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < min)) {
    throw new Error(`${name} must be integers of at least ${min} separated by commas, got \`${text}\``);
  }
  return values;
}

function one(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const text = env[name];
  if (text === undefined || text === "") return fallback;
  const values = integers(name, text, min);
  if (values.length !== 1) throw new Error(`${name} must be one integer, got \`${text}\``);
  return values[0] as number;
}

export function benchOptions(env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const quick = env.BENCH_QUICK === "1";
  const sizesText = env.BENCH_SIZES;
  const sizes = sizesText ? integers("BENCH_SIZES", sizesText, 20) : quick ? [500] : [500, 2000, 8000];
  const runs = one(env, "BENCH_RUNS", quick ? 3 : 5, 1);
  const delayMs = one(env, "BENCH_DELAY_MS", 20, 0);
  const firstPaths = one(env, "BENCH_FIRST_PATHS", quick ? 50 : 100, 3);
  const sorted = [...new Set(sizes)].sort((a, b) => a - b);
  const mainSize = sorted.includes(2000) ? 2000 : (sorted[Math.floor((sorted.length - 1) / 2)] as number);
  const updatePaths = one(env, "BENCH_UPDATE_PATHS", quick ? 60 : 250, 13);
  const updateRuns = one(env, "BENCH_UPDATE_RUNS", quick ? 1 : 3, 1);
  const largePaths = one(env, "BENCH_LARGE_PATHS", quick ? 2000 : 20000, 3);
  const hookBuilds = one(env, "BENCH_HOOK_BUILDS", quick ? 10 : 20, 1);
  const hookRuns = one(env, "BENCH_HOOK_RUNS", quick ? 1 : 3, 1);
  const fleetHosts = env.BENCH_FLEET_HOSTS ? integers("BENCH_FLEET_HOSTS", env.BENCH_FLEET_HOSTS, 2) : [5, 10];
  const names = (env.BENCH_SCENARIOS ?? SCENARIOS.join(",")).split(/[\s,]+/).filter(Boolean);
  const unknown = names.filter((n) => !(SCENARIOS as readonly string[]).includes(n));
  if (unknown.length > 0 || names.length === 0) {
    throw new Error(`BENCH_SCENARIOS takes some of ${SCENARIOS.join(", ")}, got \`${env.BENCH_SCENARIOS}\``);
  }
  const scenarios = SCENARIOS.filter((s) => names.includes(s));
  return {
    sizes: sorted,
    mainSize,
    firstPaths,
    runs,
    delayMs,
    quick,
    updatePaths,
    updateRuns,
    largePaths,
    hookBuilds,
    hookRuns,
    fleetHosts,
    scenarios,
  };
}

/** Leaves that differ between two generations: 1% of the closure, at least one. */
export function changedLeaves(paths: number): number {
  return Math.max(1, Math.round(paths / 100));
}
