/**
 * Pushing store paths that no profile names: the queue's entries
 * (`genpush push --queue`, after `genpush enqueue`) and paths given on the
 * command line (`genpush push --paths`). Each path goes with its closure to
 * every cache serving the system it was built for (its derivation's, else
 * the host's), minus upstream-signed paths where the backend takes partial
 * closures and minus `exclude`, asked fresh (nothing is known of what the
 * cache holds), and uploaded dependencies first.
 *
 * The queue's bookkeeping: an entry records each cache that has its closure
 * (under the cache's identity: a moved cache has nothing), and leaves the
 * queue once every cache serving it is recorded. A failure keeps it pending.
 */

import { cacheIdentity } from "../caches/identity.js";
import type { CacheConfig } from "../config/config.js";
import { thisHost } from "../host/host.js";
import { hostSystem, invalidPaths, queryClosure } from "../nix/cli.js";
import { readDerivation } from "../nix/derivation.js";
import type { PathInfo } from "../nix/path-info.js";
import type { StorePath } from "../nix/store-path.js";
import { FileRefused } from "../runtime/bounded-read.js";
import { describeError, UsageError } from "../runtime/errors.js";
import { lockProfile } from "../state/lock.js";
import { claimStateDir } from "../state/state-dir.js";
import { narBytesOf, uploadLacking } from "./cache-plan.js";
import { makePlan, route, serves } from "./plan.js";
import type { CacheOutcome, PushContext, PushStatus } from "./push.js";
import { entryHas, listQueue, type QueueEntry, removeEntry, takeUpQueue, updateEntry } from "./queue.js";

export interface ClosureResult extends CacheOutcome {
  /** The paths asked for (given, or of the queue's entries for this cache), their closure not counted. */
  paths: number;
  /** Queue entries pushed with them (0 for given paths). */
  entries: number;
}

export interface QueueOutcome {
  /** Entries in the queue when the push began. */
  entries: number;
  /** Entries that left it: every cache serving them has them (or none serves them). */
  done: number;
  results: ClosureResult[];
  warnings: string[];
}

/** What names these pushes in progress lines: the queue's, and given paths'. */
type Label = "queue" | "paths";
/** The queue's lock: no profile can be named so (profile names start with a letter or digit). */
const QUEUE_LOCK = "_queue";

/** Push every entry of the queue to the caches serving it; entries all of whose caches have them leave it. */
export async function pushQueue(ctx: PushContext): Promise<QueueOutcome> {
  const { stateDir } = ctx.config;
  const outcome: QueueOutcome = { entries: 0, done: 0, results: [], warnings: [] };
  const warn = (message: string) => {
    outcome.warnings.push(message);
    ctx.events.onWarning?.(message);
  };
  if (ctx.dryRun) {
    const entries = await listQueue(stateDir);
    outcome.entries = entries.length;
    if (entries.length > 0) outcome.results = (await pushEntries(ctx, entries, warn)).results;
    return outcome;
  }
  await claimStateDir(stateDir);
  const lock = await lockProfile(stateDir, QUEUE_LOCK, {
    timeoutMs: ctx.lockTimeoutMs,
    what: "the push queue",
    onWait: (_pid, sentence) => ctx.events.onInfo?.(sentence),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  try {
    const entries = await takeUpQueue(stateDir, warn);
    outcome.entries = entries.length;
    if (entries.length === 0) return outcome;
    const pushed = await pushEntries(ctx, entries, warn);
    outcome.results = pushed.results;
    for (const entry of pushed.complete) await removeEntry(stateDir, entry);
    outcome.done = pushed.complete.length;
    return outcome;
  } finally {
    await lock.release();
  }
}

/** Push `paths` and their closures now, to the caches serving their systems (or to `only`). */
export async function pushPaths(
  ctx: PushContext,
  paths: readonly StorePath[],
  only?: CacheConfig,
): Promise<{ results: ClosureResult[]; warnings: string[] }> {
  const invalid = await invalidPaths(paths, undefined, ctx.signal);
  if (invalid.length > 0) {
    throw new UsageError(
      `not in the local store: ${invalid.slice(0, 3).join(", ")}${invalid.length > 3 ? ` and ${invalid.length - 3} more` : ""}`,
      "build them first (`nix build`), or check the paths",
    );
  }
  const warnings: string[] = [];
  const host = await thisHost(ctx.config.caches);
  const closure = await readClosure(paths, ctx.signal);
  const systems = new Map<StorePath, string>();
  for (const path of paths) systems.set(path, await builtFor(closure.get(path), null));
  const results: ClosureResult[] = [];
  for (const cache of only ? [only] : ctx.config.caches) {
    const mine = paths.filter((path) => only || serves(cache, systems.get(path) as string, host));
    if (mine.length > 0) results.push(await pushClosure(ctx, "paths", cache, mine, 0, closure));
  }
  for (const system of only ? [] : new Set(systems.values())) {
    const { warning } = route(system, ctx.config.caches, host);
    if (warning === undefined) continue;
    warnings.push(warning);
    ctx.events.onWarning?.(warning);
  }
  return { results, warnings };
}

/**
 * One push per cache of the entries it serves and does not have yet; each that succeeds is
 * recorded. `complete`: the entries every cache serving them now has (or that no cache takes,
 * or whose paths are all gone).
 */
async function pushEntries(
  ctx: PushContext,
  entries: QueueEntry[],
  warn: (message: string) => void,
): Promise<{ results: ClosureResult[]; complete: QueueEntry[] }> {
  await dropInvalid(ctx, entries, warn);
  const live = entries.filter((entry) => entry.paths.length > 0);
  if (live.length === 0) return { results: [], complete: entries };
  const host = await thisHost(ctx.config.caches);
  const closure = await readClosure([...new Set(live.flatMap((entry) => entry.paths))], ctx.signal);
  const systems = new Map<QueueEntry, string>();
  for (const entry of live) systems.set(entry, await builtFor(closure.get(entry.paths[0] as StorePath), entry));
  for (const entry of live) {
    const system = systems.get(entry) as string;
    const routed = route(system, ctx.config.caches, host);
    if (routed.caches.length === 0) {
      warn(`queued ${entry.paths[0]}: ${routed.warning}; it leaves the queue`);
      entry.paths = [];
    }
  }
  const results: ClosureResult[] = [];
  for (const cache of ctx.config.caches) {
    const target = cacheIdentity(cache);
    const mine = live.filter(
      (entry) => entry.paths.length > 0 && serves(cache, systems.get(entry) as string, host) && !entryHas(entry, cache),
    );
    if (mine.length === 0) continue;
    const paths = [...new Set(mine.flatMap((entry) => entry.paths))];
    const result = await pushClosure(ctx, "queue", cache, paths, mine.length, closure);
    results.push(result);
    // Failed, deferred or planned: the entries stay pending for this cache.
    if (result.status !== "pushed" && result.status !== "up-to-date") continue;
    for (const entry of mine) {
      entry.done = [...entry.done.filter((d) => d.cache !== cache.name), { cache: cache.name, target }];
      await updateEntry(ctx.config.stateDir, entry);
    }
  }
  const complete = entries.filter(
    (entry) =>
      entry.paths.length === 0 ||
      route(systems.get(entry) as string, ctx.config.caches, host).caches.every((cache) => entryHas(entry, cache)),
  );
  return { results, complete };
}

/** Paths gone from the local store (an entry's roots removed by hand) can never be pushed: said, and dropped. */
async function dropInvalid(ctx: PushContext, entries: QueueEntry[], warn: (message: string) => void): Promise<void> {
  const all = [...new Set(entries.flatMap((entry) => entry.paths))];
  const invalid = new Set(await invalidPaths(all, undefined, ctx.signal));
  if (invalid.size === 0) return;
  for (const entry of entries) {
    const gone = entry.paths.filter((path) => invalid.has(path));
    if (gone.length === 0) continue;
    warn(
      `queued ${gone.join(", ")} ${gone.length === 1 ? "is" : "are"} no longer in the local store: dropped from the queue`,
    );
    entry.paths = entry.paths.filter((path) => !invalid.has(path));
    if (!ctx.dryRun && entry.paths.length > 0) await updateEntry(ctx.config.stateDir, entry);
  }
}

/**
 * The system a path was built for: what its enqueuer said (a derivation's, Hydra's), else its
 * deriver's (the `.drv` file, if it is still in the store), else the host's.
 */
async function builtFor(info: PathInfo | undefined, entry: QueueEntry | null): Promise<string> {
  if (entry?.system) return entry.system;
  const drv = entry?.drv ?? info?.narinfo?.deriver;
  // One that cannot be read safely (src/runtime/bounded-read.ts) says nothing, as one that is gone.
  const system = drv ? (await readDerivation(drv).catch(refusedAsUnknown))?.system : undefined;
  if (entry && system) entry.system = system;
  return system ?? (await hostSystem());
}

function refusedAsUnknown(error: unknown): undefined {
  if (error instanceof FileRefused) return undefined;
  throw error;
}

/** The closure of `paths`, every path's info by its path. */
async function readClosure(paths: readonly StorePath[], signal?: AbortSignal): Promise<Map<StorePath, PathInfo>> {
  const infos = new Map<StorePath, PathInfo>();
  // nix path-info takes the paths as arguments: a few thousand at a time.
  for (let i = 0; i < paths.length; i += 2000) {
    for (const info of (await queryClosure(paths.slice(i, i + 2000), signal)).infos) infos.set(info.path, info);
  }
  return infos;
}

/** The closure of `roots` within `all`. */
function closureOf(roots: readonly StorePath[], all: ReadonlyMap<StorePath, PathInfo>): PathInfo[] {
  const seen = new Set<StorePath>();
  const out: PathInfo[] = [];
  const stack = [...roots];
  for (let path = stack.pop(); path !== undefined; path = stack.pop()) {
    if (seen.has(path)) continue;
    seen.add(path);
    const info = all.get(path);
    if (!info) continue;
    out.push(info);
    for (const ref of info.references) if (!seen.has(ref)) stack.push(ref);
  }
  return out;
}

/** Push `roots` with their closures to one cache: plan, ask, upload. A failure is a result. */
async function pushClosure(
  ctx: PushContext,
  label: Label,
  cacheConfig: CacheConfig,
  roots: readonly StorePath[],
  entries: number,
  all: ReadonlyMap<StorePath, PathInfo>,
): Promise<ClosureResult> {
  const started = performance.now();
  const closure = closureOf(roots, all);
  const result: ClosureResult = {
    cache: cacheConfig.name,
    paths: roots.length,
    entries,
    status: "up-to-date",
    counts: { closure: closure.length, new: 0, upstream: 0, excluded: 0, candidates: 0, missing: 0, uploaded: 0 },
    narBytes: 0,
    durationMs: 0,
  };
  const finish = (status: PushStatus) => ({
    ...result,
    status,
    durationMs: Math.round(performance.now() - started),
  });
  try {
    const cache = await ctx.cache(cacheConfig);
    const plan = makePlan({
      closure,
      base: null,
      upstreamKeys: ctx.config.upstreamKeys,
      exclude: ctx.config.exclude,
      wholeClosures: cache.wholeClosures,
    });
    result.counts = { ...plan.counts, missing: 0, uploaded: 0 };
    const what = `uploading ${roots.length} ${roots.length === 1 ? "path" : "paths"} with their closure`;
    const upload = await uploadLacking(cache, plan.candidates, {
      dryRun: ctx.dryRun,
      // Given paths are pushed now or fail: with no queue or state behind them, a deferral would lose them.
      defer: async (bytes) => (label === "queue" ? ctx.deferUpload?.(cacheConfig, bytes) : undefined),
      found: (missing) => {
        result.counts.missing = missing.length;
        result.narBytes = narBytesOf(missing);
      },
      announce: (missing) => ctx.events.onUploadStart?.(label, cache.name, missing.length, result.narBytes),
      events: {
        onProgress: (done, total, bytes) => ctx.events.onUploadProgress?.(label, cache.name, done, total, bytes),
      },
      around: (upload) => (ctx.aroundUpload ? ctx.aroundUpload(what, upload) : upload()),
      signal: ctx.signal,
    });
    if (upload.status === "planned") return finish("planned");
    if (upload.status === "deferred") return { ...finish("deferred"), reason: upload.reason };
    const { missing } = upload;
    if (missing.length === 0) return finish("up-to-date");
    result.counts.uploaded = missing.length;
    return finish("pushed");
  } catch (error) {
    return { ...finish("failed"), error: describeError(error) };
  }
}
