/**
 * Plan one generation for one cache and ask the cache which candidates it
 * lacks: the shared first half of `push` and `diff`.
 */
import type { Cache, PushProgress } from "../caches/index.js";
import type { Config } from "../config/config.js";
import type { ClosureReader } from "../nix/closures.js";
import type { PathInfo } from "../nix/path-info.js";
import { hashPart, type StorePath } from "../nix/store-path.js";
import { makePlan, type Plan } from "./plan.js";

export interface CachePlan {
  closure: PathInfo[];
  plan: Plan;
  /** The candidates the cache lacks, dependencies first. */
  missing: PathInfo[];
  narBytes: number;
  /** True when a base was asked for but is gone from the local store, so the whole closure was planned. */
  baseGone: boolean;
}

/** What the cache already got from us: hashes recorded in state, else a generation's closure. */
export interface PlanBase {
  /** Hash parts of the paths the cache is known to hold (state). */
  held?: readonly string[] | null;
  /** A generation whose closure the cache got, read from the local store if still there. */
  path?: StorePath | null;
}

/** A generation's plan for one cache, before the cache is asked anything. */
export type CandidatePlan = Pick<CachePlan, "closure" | "plan" | "baseGone">;

export async function planForCache(
  config: Config,
  cache: Cache,
  target: StorePath,
  from: PlanBase,
  reader: ClosureReader,
  signal?: AbortSignal,
  /** Ask which candidates the cache lacks whole (a narinfo without its NAR counts): what verify asks. */
  whole = false,
): Promise<CachePlan> {
  const { closure, plan, baseGone } = await planCandidates(config, cache, target, from, reader);
  const missing = await lackingOf(cache, plan.candidates, signal, whole);
  return { closure, plan, missing, narBytes: narBytesOf(missing), baseGone };
}

/** Those of `candidates` the cache lacks (`whole`: lacks whole, a narinfo without its NAR counted), in their order. */
export async function lackingOf(
  cache: Cache,
  candidates: readonly PathInfo[],
  signal?: AbortSignal,
  whole = false,
): Promise<PathInfo[]> {
  const lacking = new Set(
    await (whole
      ? cache.incomplete(candidates, signal)
      : cache.missing(
          candidates.map((info) => info.path),
          signal,
        )),
  );
  return candidates.filter((info) => lacking.has(info.path));
}

/** The NAR bytes of `paths`. */
/**
 * Ask which of `candidates` the cache lacks and upload those, each path's upload starting on
 * its own answer, where the backend can (Cache.pushMissing) and `mayStart` says nothing holds
 * the upload back (asked only then: a metered network is judged on the candidates' bytes here,
 * since what is missing is known only once every answer is). `onMissing` is told what the cache
 * lacks once every answer is in. The paths uploaded; undefined, having asked nothing, where it
 * could not: then ask first (lackingOf), and push.
 */
export async function pushOnAnswers(
  cache: Cache,
  candidates: readonly PathInfo[],
  mayStart: () => Promise<boolean>,
  events: PushProgress & { onMissing(missing: PathInfo[]): void },
  around: <T>(upload: () => Promise<T>) => Promise<T>,
  signal?: AbortSignal,
): Promise<PathInfo[] | undefined> {
  const pushMissing = cache.pushMissing?.bind(cache);
  if (!pushMissing || candidates.length === 0 || !(await mayStart())) return undefined;
  return around(() => pushMissing(candidates, events, signal));
}

export function narBytesOf(paths: readonly PathInfo[]): number {
  return paths.reduce((sum, info) => sum + info.narSize, 0);
}

/** Plan one generation for one cache: which paths are candidates, without asking the cache. */
export async function planCandidates(
  config: Config,
  cache: Cache,
  target: StorePath,
  from: PlanBase,
  reader: ClosureReader,
): Promise<CandidatePlan> {
  const closure = await reader.closure(target);
  const basePath = from.path ?? null;
  let base: ReadonlySet<StorePath> | null = null;
  if (from.held) {
    // Known from state: no need for the old generation to be in the store.
    const held = new Set(from.held);
    base = new Set(closure.filter((info) => held.has(hashPart(info.path))).map((info) => info.path));
  } else if (basePath) {
    base = await reader.closureIfValid(basePath);
  }
  const plan = makePlan({
    closure,
    base,
    upstreamKeys: config.upstreamKeys,
    exclude: config.exclude,
    wholeClosures: cache.wholeClosures,
  });
  return { closure, plan, baseGone: basePath !== null && base === null };
}
