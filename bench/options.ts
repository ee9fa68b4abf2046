/**
 * What a run measures, from the environment: `BENCH_QUICK=1` for development
 * (500 paths, 3 runs), and `BENCH_SIZES`, `BENCH_RUNS`, `BENCH_DELAY_MS`,
 * `BENCH_FIRST_PATHS` to shrink or grow a run.
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
}

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
  return { sizes: sorted, mainSize, firstPaths, runs, delayMs, quick };
}

/** Leaves that differ between two generations: 1% of the closure, at least one. */
export function changedLeaves(paths: number): number {
  return Math.max(1, Math.round(paths / 100));
}
