/**
 * src/push/: from a profile to its caches: which generation a profile is at
 * (profiles.ts), what to send (plan.ts, pure; cache-plan.ts), this pipeline, and
 * pushes of given paths and of the queue (closure.ts, queue.ts).
 *
 * The push pipeline for one profile: resolve its generation, and for every
 * cache serving the generation's system, plan against what the cache got from
 * us last, ask the cache which candidates it lacks, upload exactly those, and
 * record the result. Never prints: it reports through `PushEvents`.
 *
 * A failure of one cache is a result, not an exception: the other caches go
 * on. If the profile moved while we worked (systemd does not watch its path
 * unit's directory while this runs), go round again.
 */

import { cacheIdentity } from "../caches/identity.js";
import type { Cache } from "../caches/index.js";
import type { CacheConfig, Config, ProfileConfig } from "../config/config.js";
import { thisHost } from "../host/host.js";
import { ClosureReader } from "../nix/closures.js";
import { holdGeneration, releaseGeneration } from "../nix/gc-root.js";
import { hashPart } from "../nix/store-path.js";
import { describeError } from "../runtime/errors.js";
import { generationLabel } from "../runtime/format.js";
import { type Lock, lockProfile } from "../state/lock.js";
import {
  type CacheState,
  cacheState,
  HELD_LIMIT,
  type ProfileState,
  readState,
  targetState,
  writeState,
} from "../state/state.js";
import { claimStateDir } from "../state/state-dir.js";
import { narBytesOf, planCandidates, uploadLacking } from "./cache-plan.js";
import { type Plan, route } from "./plan.js";
import { currentGeneration, type Generation, profileDirectoryQuiet } from "./profiles.js";

export type PushStatus = "pushed" | "up-to-date" | "planned" | "failed" | "deferred";

/** What a push to one cache came to: of a generation here, of given or queued paths in closure.ts. */
export interface CacheOutcome {
  cache: string;
  status: PushStatus;
  counts: Plan["counts"] & { missing: number; uploaded: number };
  narBytes: number;
  durationMs: number;
  error?: { message: string; hint?: string };
  /** Why the upload waits (status `deferred`): a metered network. */
  reason?: string;
}

export interface PushResult extends CacheOutcome {
  profile: string;
  generation: number | null;
  storePath: string;
}

export interface ProfileOutcome {
  profile: string;
  status: "absent" | "ok" | "failed";
  generation: Generation | null;
  results: PushResult[];
  warnings: string[];
  error?: { message: string; hint?: string };
}

export interface PushEvents {
  onWarning?(message: string): void;
  onInfo?(message: string): void;
  onUploadStart?(profile: string, cache: string, paths: number, narBytes: number): void;
  /** `narBytes`: of the paths done, where the backend knows which they are. */
  onUploadProgress?(profile: string, cache: string, done: number, total: number, narBytes?: number): void;
  /** A result recorded (not in a dry run), with what was recorded before it for the same profile and cache. */
  onResult?(result: PushResult, previous: CacheState): void;
}

export interface PushContext {
  config: Config;
  /** The configured cache, opened on first use. */
  cache(config: CacheConfig): Promise<Cache>;
  dryRun: boolean;
  events: PushEvents;
  lockTimeoutMs: number;
  signal?: AbortSignal;
  /** Wraps each upload, e.g. to hold off sleep while it runs. */
  aroundUpload?: <T>(what: string, upload: () => Promise<T>) => Promise<T>;
  /** Why an upload of `narBytes` to `cache` must wait (a metered network), or undefined. */
  deferUpload?(cache: CacheConfig, narBytes: number): Promise<string | undefined>;
}

/** Enough rounds for a burst of switches; each round pushes the newest generation. */
const MAX_ROUNDS = 10;

export async function pushProfile(ctx: PushContext, profile: ProfileConfig): Promise<ProfileOutcome> {
  // Before the lock creates locks/ in it: a directory that is not genpush's is a usage error (exit 2).
  await claimStateDir(ctx.config.stateDir);
  let lock: Lock;
  try {
    lock = await lockProfile(ctx.config.stateDir, profile.name, {
      timeoutMs: ctx.lockTimeoutMs,
      onWait: (_pid, sentence) => ctx.events.onInfo?.(sentence),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
  } catch (error) {
    // A full state directory, a lock held too long: this profile fails, the others go on.
    const failed: ProfileOutcome = {
      profile: profile.name,
      status: "failed",
      generation: null,
      results: [],
      warnings: [],
    };
    return { ...failed, error: describeError(error) };
  }
  try {
    const reader = new ClosureReader(ctx.signal);
    let outcome = await pushRound(ctx, profile, reader);
    // A switch while this run works starts no second run (systemd does not watch the
    // directory until this one has exited): look again before leaving, also when the
    // profile did not exist yet.
    for (let round = 1; round < MAX_ROUNDS && !ctx.dryRun && outcome.status !== "failed"; round++) {
      await profileDirectoryQuiet(profile);
      const now = await currentGeneration(profile);
      if (!now || now.storePath === outcome.generation?.storePath) break;
      ctx.events.onInfo?.(
        outcome.generation
          ? `profile ${profile.name} moved to generation ${now.number ?? "?"} while pushing; pushing it too`
          : `profile ${profile.name} appeared (generation ${now.number ?? "?"}) while genpush looked; pushing it`,
      );
      outcome = await pushRound(ctx, profile, reader);
    }
    return outcome;
  } finally {
    await lock.release();
  }
}

async function pushRound(ctx: PushContext, profile: ProfileConfig, reader: ClosureReader): Promise<ProfileOutcome> {
  const outcome: ProfileOutcome = { profile: profile.name, status: "ok", generation: null, results: [], warnings: [] };
  try {
    outcome.generation = await currentGeneration(profile);
  } catch (error) {
    return { ...outcome, status: "failed", error: describeError(error) };
  }
  const generation = outcome.generation;
  if (!generation) {
    ctx.events.onInfo?.(`profile ${profile.name} does not exist yet (${profile.path}): nothing to push`);
    return { ...outcome, status: "absent" };
  }
  const routed = route(generation.system, ctx.config.caches, await thisHost(ctx.config.caches));
  if (routed.warning) {
    const warning = `profile ${profile.name}: ${routed.warning}`;
    outcome.warnings.push(warning);
    ctx.events.onWarning?.(warning);
  }
  const loaded = await readState(ctx.config.stateDir, profile.name);
  if (loaded.problem) ctx.events.onWarning?.(loaded.problem);
  const state = loaded.state;
  const record = serialWriter(ctx.config.stateDir, state);
  const lacking = routed.caches.filter(
    (c) => targetState(state, c.name, cacheIdentity(c)).lastPushed?.storePath !== generation.storePath,
  );
  // Only when some cache still lacks it: a trigger with nothing new stays free of nix calls.
  const holding = !ctx.dryRun && lacking.length > 0;
  // The root is made while the closure is read, the caches that lack it are opened (their
  // code loaded, Nix's settings for the first request read) and asked about it (the
  // profile's link holds it meanwhile); no NAR is read before it is there. A cache that
  // fails to open says so when its push awaits it.
  let rooted: Promise<void> | undefined;
  if (holding) {
    rooted = holdGeneration(ctx.config.stateDir, profile.name, generation.storePath).catch((error) =>
      ctx.events.onWarning?.(
        `could not protect ${generation.storePath} from garbage collection: ${describeError(error).message}`,
      ),
    );
    reader.closure(generation.storePath).catch(() => {});
    for (const cacheConfig of lacking) ctx.cache(cacheConfig).catch(() => {});
  }

  outcome.results = await Promise.all(
    routed.caches.map(async (cacheConfig) => {
      const previous = cacheState(state, cacheConfig.name);
      const result = await pushToCache(ctx, generation, cacheConfig, state, reader, record, rooted);
      if (!ctx.dryRun) ctx.events.onResult?.(result, previous);
      return result;
    }),
  );
  // A push that ended before the root was made (a cache down, one up to date) leaves it to be
  // made before it is released or kept.
  await rooted;
  if (outcome.results.some((result) => result.status === "failed")) outcome.status = "failed";
  // Pushed everywhere: no longer needs protecting. Failed or deferred: stays held until pushed or superseded.
  else if (holding && outcome.results.every((result) => result.status !== "deferred")) {
    await releaseGeneration(ctx.config.stateDir, profile.name);
  }
  return outcome;
}

async function pushToCache(
  ctx: PushContext,
  generation: Generation,
  cacheConfig: CacheConfig,
  state: ProfileState,
  reader: ClosureReader,
  record: (change: () => void) => Promise<void>,
  rooted: Promise<void> | undefined,
): Promise<PushResult> {
  const started = performance.now();
  const target = cacheIdentity(cacheConfig);
  const { lastPushed: last, held, targetChanged } = targetState(state, cacheConfig.name, target);
  const result: PushResult = {
    profile: generation.profile,
    cache: cacheConfig.name,
    generation: generation.number,
    storePath: generation.storePath,
    status: "up-to-date",
    counts: { closure: 0, new: 0, upstream: 0, excluded: 0, candidates: 0, missing: 0, uploaded: 0 },
    narBytes: 0,
    durationMs: 0,
  };
  const finish = () => ({ ...result, durationMs: Math.round(performance.now() - started) });
  /** The paths found missing here, once the plan is made: what a failure leaves pending. */
  let pending: number | undefined;
  // The common trigger: a link renamed, a GC, a switch to the same generation.
  if (last?.storePath === generation.storePath) {
    result.counts.closure = last.counts.closure;
    const entry = cacheState(state, cacheConfig.name);
    if (!ctx.dryRun && entry.lastResult !== null && entry.lastResult.status !== "ok") {
      // A rollback to what the cache has: the failure or deferral since was another generation's.
      const { failing: _, ...rest } = entry;
      const ok = { status: "ok" as const, at: new Date().toISOString(), generation: generation.number };
      await record(() => {
        state.caches[cacheConfig.name] = {
          ...rest,
          lastResult: { ...ok, storePath: generation.storePath },
          lastSuccessAt: ok.at,
        };
      }).catch((error) => ctx.events.onWarning?.(`could not record the result: ${describeError(error).message}`));
    }
    return finish();
  }

  // Read once per run for every cache, while the cache is opened; a failure to reach the
  // cache still says how large the closure is.
  const reading = reader.closure(generation.storePath);
  reading.catch(() => {});
  try {
    const cache = await ctx.cache(cacheConfig);
    result.counts.closure = (await reading).length;
    if (targetChanged) {
      const recorded = cacheState(state, cache.name);
      const what = `generation ${recorded.lastPushed?.generation ?? "?"}`;
      ctx.events.onInfo?.(
        recorded.target === undefined
          ? `${cache.name}: an older genpush did not record which cache ${what} was pushed to; asking this one about the whole closure`
          : `${cache.name} is ${target} now, not ${recorded.target}, where ${what} was pushed; asking it about the whole closure`,
      );
    }
    const { closure, plan, baseGone } = await planCandidates(
      ctx.config,
      cache,
      generation.storePath,
      { held: held ?? null, path: last?.storePath ?? null },
      reader,
    );
    if (baseGone) {
      ctx.events.onInfo?.(
        `${cache.name}: generation ${last?.generation ?? "?"} last pushed there is no longer in the local store; asked about the whole closure`,
      );
    }
    result.counts = { ...plan.counts, missing: 0, uploaded: 0 };
    // Paths another host of a fleet uploaded while this one waited (caches/claims.ts).
    const waited = { paths: 0, narBytes: 0 };
    const what = `uploading ${generationLabel(generation.profile, generation.number)}`;
    const upload = await uploadLacking(cache, plan.candidates, {
      dryRun: ctx.dryRun,
      defer: async (bytes) => ctx.deferUpload?.(cacheConfig, bytes),
      found: (missing) => {
        result.counts.missing = missing.length;
        pending = missing.length;
        result.narBytes = narBytesOf(missing);
      },
      announce: (missing) =>
        ctx.events.onUploadStart?.(generation.profile, cache.name, missing.length, result.narBytes),
      events: {
        onProgress: (done, total, bytes) =>
          ctx.events.onUploadProgress?.(generation.profile, cache.name, done, total, bytes),
        onWaited: (bytes) => {
          waited.paths++;
          waited.narBytes += bytes;
        },
      },
      around: (upload) => (ctx.aroundUpload ? ctx.aroundUpload(what, upload) : upload()),
      ...(rooted ? { rooted } : {}),
      signal: ctx.signal,
    });
    if (upload.status === "planned") return { ...finish(), status: "planned" };
    if (upload.status === "deferred") {
      const { reason } = upload;
      await record(() => recordUnpushed(state, cacheConfig.name, generation, "deferred", reason, pending));
      return { ...finish(), status: "deferred", reason };
    }
    const { missing } = upload;
    result.counts.uploaded = missing.length;
    result.status = "pushed";
    const at = new Date().toISOString();
    await record(() => {
      state.caches[cache.name] = {
        lastPushed: {
          generation: generation.number,
          storePath: generation.storePath,
          at,
          counts: {
            closure: closure.length,
            uploaded: missing.length,
            narBytes: result.narBytes,
            waited: waited.paths,
            waitedNarBytes: waited.narBytes,
          },
        },
        held: closure.length <= HELD_LIMIT ? closure.map((info) => hashPart(info.path)) : null,
        lastResult: { status: "ok", at, generation: generation.number, storePath: generation.storePath },
        target,
        lastSuccessAt: at,
      };
    });
    return finish();
  } catch (error) {
    const described = describeError(error);
    const failed: PushResult = { ...finish(), status: "failed", error: described };
    if (!ctx.dryRun) {
      await record(() =>
        recordUnpushed(state, cacheConfig.name, generation, "failed", described.message, pending),
      ).catch((writeError) =>
        ctx.events.onWarning?.(`could not record the failure: ${describeError(writeError).message}`),
      );
    }
    return failed;
  }
}

/** A push that did not happen (failed, deferred): what was pushed, and where to, stays as it was. */
function recordUnpushed(
  state: ProfileState,
  cache: string,
  generation: Generation,
  status: "failed" | "deferred",
  message: string,
  pending: number | undefined,
): void {
  const { pending: _, ...previous } = cacheState(state, cache);
  state.caches[cache] = {
    ...previous,
    ...(pending === undefined ? {} : { pending }),
    held: previous.held ?? null,
    // A failure is remembered until a push works (host/notify.ts); a deferral keeps what was.
    ...(status === "failed" ? { failing: generation.storePath } : {}),
    lastResult: {
      status,
      at: new Date().toISOString(),
      generation: generation.number,
      storePath: generation.storePath,
      message,
    },
  };
}

/** State changes from caches pushed in parallel, written one after another. */
function serialWriter(stateDir: string, state: ProfileState) {
  let queue: Promise<void> = Promise.resolve();
  return (change: () => void): Promise<void> => {
    const next = queue.then(() => {
      change();
      return writeState(stateDir, state);
    });
    queue = next.catch(() => undefined);
    return next;
  };
}
