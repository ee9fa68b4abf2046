/**
 * Plan one generation for one cache and ask the cache which candidates it
 * lacks (the shared first half of `push` and `diff`), and upload those
 * (`uploadLacking`: a generation's push, `push --paths` and `push --queue`).
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

/** What became of a push's candidates for one cache. */
export type Uploaded =
  | { status: "uploaded"; missing: PathInfo[] }
  | { status: "planned"; missing: PathInfo[] }
  | { status: "deferred"; missing: PathInfo[]; reason: string };

export interface UploadLackingOptions {
  /** Ask only: nothing uploaded. */
  dryRun: boolean;
  /** Why an upload of `narBytes` waits (a metered network), or undefined: it goes now. */
  defer(narBytes: number): Promise<string | undefined>;
  /** What the cache lacks, dependencies first, once every answer is in. */
  found(missing: PathInfo[]): void;
  /** The upload of `missing` (at least one path) is under way: said once, before it ends. */
  announce(missing: PathInfo[]): void;
  events: PushProgress;
  /** Wraps the upload (the network's inhibitor lock, the desktop notice). */
  around<T>(upload: () => Promise<T>): Promise<T>;
  /** Settles once the candidates are held against garbage collection (never rejects): no NAR is read before. */
  rooted?: Promise<void>;
  signal?: AbortSignal;
}

/**
 * Ask which of `candidates` (dependencies first) the cache lacks and upload those: each path's
 * upload starting on its own answer where the backend can (Cache.pushMissing) and nothing holds
 * it back (`defer` is asked first with the candidates' bytes: a metered network is then judged
 * on them, since what is missing is known only once every answer is); else every answer first,
 * then, unless `defer` says why the missing paths' bytes wait, their upload. Either way the
 * questions go out before `rooted` settles, and the upload reads nothing before.
 */
export async function uploadLacking(
  cache: Cache,
  candidates: readonly PathInfo[],
  o: UploadLackingOptions,
): Promise<Uploaded> {
  const pushMissing = cache.pushMissing?.bind(cache);
  if (!o.dryRun && pushMissing && candidates.length > 0 && (await o.defer(narBytesOf(candidates))) === undefined) {
    const onMissing = (missing: PathInfo[]) => {
      o.found(missing);
      if (missing.length > 0) o.announce(missing);
    };
    const events = { ...o.events, onMissing, ...(o.rooted ? { rooted: o.rooted } : {}) };
    const uploaded = await o.around(() => pushMissing(candidates, events, o.signal));
    if (uploaded) return { status: "uploaded", missing: uploaded };
  }
  const missing = candidates.length === 0 ? [] : await lackingOf(cache, candidates, o.signal);
  o.found(missing);
  if (o.dryRun) return { status: "planned", missing };
  const reason = missing.length > 0 ? await o.defer(narBytesOf(missing)) : undefined;
  if (reason) return { status: "deferred", missing, reason };
  if (missing.length > 0) {
    o.announce(missing);
    await o.rooted;
    await o.around(() => cache.push(missing, o.events, o.signal));
  }
  return { status: "uploaded", missing };
}

/** The NAR bytes of `paths`. */
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
