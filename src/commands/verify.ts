/**
 * `genpush verify`: ask each cache about the whole closure of the current
 * generation — what the diff cannot see, such as paths a cache lost to its own
 * garbage collection. `--repair` uploads what is missing. Exit 1 when
 * anything is missing and not repaired.
 *
 * `--repair` holds the profile's lock, as push does, from its first look to
 * its last upload: beside a push of the same profile, both would send the
 * same paths. A plain verify only reads, and takes no lock: it never waits
 * behind an upload or holds one up, and what it reports missing while a push
 * runs is missing at that moment.
 */

import type { ListedClaim } from "../caches/claims.js";
import type { Cache } from "../caches/types.js";
import type { ProfileConfig } from "../config/config.js";
import { thisHost } from "../host/host.js";
import { MeteredGate } from "../host/metered.js";
import { ClosureReader } from "../nix/closures.js";
import { planForCache } from "../push/cache-plan.js";
import { route } from "../push/plan.js";
import { currentGeneration } from "../push/profiles.js";
import { describeError, ExitCode, UsageError } from "../runtime/errors.js";
import { formatBytes, generationLabel, plural } from "../runtime/format.js";
import { type Lock, lockProfile } from "../state/lock.js";
import { claimStateDir } from "../state/state-dir.js";
import {
  type CommandLineOptions,
  type Context,
  closeContext,
  commandLineOf,
  type GlobalOptions,
  openContext,
  printJson,
  selectProfiles,
} from "./context.js";
import { recordMetrics } from "./metrics.js";

export interface VerifyOptions extends CommandLineOptions {
  profile: string[];
  repair: boolean;
  json: boolean;
  lockTimeout: number;
  /** Repair on a metered network too, whatever `meteredLimit` says. */
  ignoreMetered: boolean;
}

/** `deferred`: a repair that waits for an unmetered network (`reason`). */
type Status = "complete" | "incomplete" | "repaired" | "failed" | "deferred";

interface CacheReport {
  cache: string;
  closure: number;
  missing: string[];
  narBytes: number;
  repaired: number;
  status: Status;
  error?: { message: string; hint?: string };
  reason?: string;
  /** Claims older than a day in the cache (docs/fleet.md): left by hosts stopped while uploading. */
  oldClaims?: ListedClaim[];
}

/** A claim's holder renews it every quarter of the stale bound: one a day old has no live holder. */
const OLD_CLAIM_MS = 24 * 3600 * 1000;

interface ProfileReport {
  profile: string;
  generation: number | null;
  storePath: string | null;
  caches: CacheReport[];
  /** the profile was not verified at all: its lock was not to be had */
  error?: { message: string; hint?: string };
}

export async function verifyCommand(globals: GlobalOptions, options: VerifyOptions): Promise<ExitCode> {
  if (options.ignoreMetered && !options.repair) {
    throw new UsageError(
      "--ignore-metered goes with --repair: a plain verify uploads nothing",
      "genpush verify --repair --ignore-metered",
    );
  }
  const ctx = await openContext(globals, { commandLine: commandLineOf(options) });
  try {
    const reports: ProfileReport[] = [];
    const metered =
      options.repair && !options.ignoreMetered
        ? new MeteredGate(ctx.config.meteredLimit, (line) => ctx.log.debug(line))
        : undefined;
    for (const profile of selectProfiles(ctx.config, options.profile)) {
      const report = options.repair
        ? await locked(ctx, profile, options, metered)
        : await verifyProfile(ctx, profile, false);
      if (!report) continue;
      reports.push(report);
      if (!options.json) print(ctx, report);
    }
    // One shape, however many profiles were asked for.
    if (options.json) printJson({ profiles: reports });
    const bad = reports.some(
      (r) => r.error || r.caches.some((c) => c.status === "incomplete" || c.status === "failed"),
    );
    return bad ? ExitCode.failed : ExitCode.ok;
  } finally {
    await recordMetrics(ctx);
    await closeContext(ctx);
  }
}

/** verifyProfile with repair, holding the profile's lock. */
async function locked(
  ctx: Context,
  profile: ProfileConfig,
  options: VerifyOptions,
  metered?: MeteredGate,
): Promise<ProfileReport | null> {
  // Before the lock creates locks/ in it: a directory that is not genpush's is a usage error (exit 2).
  await claimStateDir(ctx.config.stateDir);
  let lock: Lock;
  try {
    lock = await lockProfile(ctx.config.stateDir, profile.name, {
      timeoutMs: options.lockTimeout * 1000,
      onWait: (_pid, sentence) => ctx.log.info(sentence),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
  } catch (error) {
    // A lock held too long, a full state directory: this profile fails, the others go on.
    return { profile: profile.name, generation: null, storePath: null, caches: [], error: describeError(error) };
  }
  try {
    return await verifyProfile(ctx, profile, true, metered);
  } finally {
    await lock.release();
  }
}

/** Null when the profile does not exist yet. */
async function verifyProfile(
  ctx: Context,
  profile: ProfileConfig,
  repair: boolean,
  metered?: MeteredGate,
): Promise<ProfileReport | null> {
  const generation = await currentGeneration(profile);
  if (!generation) {
    ctx.log.info(`profile ${profile.name} does not exist yet (${profile.path}): nothing to verify`);
    return null;
  }
  const routed = route(generation.system, ctx.config.caches, await thisHost(ctx.config.caches));
  if (routed.warning) ctx.log.warn(routed.warning);
  const reader = new ClosureReader(ctx.signal);
  const caches = await Promise.all(
    routed.caches.map(async (cacheConfig): Promise<CacheReport> => {
      try {
        const cache = await ctx.cache(cacheConfig);
        const { closure, missing, narBytes } = await planForCache(
          ctx.config,
          cache,
          generation.storePath,
          {},
          reader,
          ctx.signal,
          true,
        );
        let status: Status = missing.length === 0 ? "complete" : "incomplete";
        const reason = missing.length > 0 && repair ? await metered?.defer(cacheConfig, narBytes) : undefined;
        if (reason) status = "deferred";
        else if (missing.length > 0 && repair) {
          await cache.push(missing, {}, ctx.signal);
          status = "repaired";
        }
        const repaired = status === "repaired" ? missing.length : 0;
        const oldClaims = await leftoverClaims(ctx, cache);
        return {
          cache: cacheConfig.name,
          closure: closure.length,
          missing: missing.map((i) => i.path),
          narBytes,
          repaired,
          status,
          ...(reason ? { reason } : {}),
          ...(oldClaims.length > 0 ? { oldClaims } : {}),
        };
      } catch (error) {
        return {
          cache: cacheConfig.name,
          closure: 0,
          missing: [],
          narBytes: 0,
          repaired: 0,
          status: "failed",
          error: describeError(error),
        };
      }
    }),
  );
  return { profile: profile.name, generation: generation.number, storePath: generation.storePath, caches };
}

/** Each cache's leftover claims, asked once a run (the first profile that uses the cache says what they are). */
const claimsAsked = new WeakMap<Context, Map<string, Promise<ListedClaim[]>>>();

/** The claims older than a day in `cache` ([] where it takes none or gives no listing, said in a debug line). */
function leftoverClaims(ctx: Context, cache: Cache): Promise<ListedClaim[]> {
  const asked = claimsAsked.get(ctx) ?? new Map<string, Promise<ListedClaim[]>>();
  claimsAsked.set(ctx, asked);
  const known = asked.get(cache.name);
  if (known) return known;
  const found = (async () => {
    const claims = await cache.claims?.(ctx.signal).catch((error: unknown) => {
      ctx.log.debug(`${cache.name}: could not list the claims in it: ${describeError(error).message}`);
      return undefined;
    });
    if (claims === "unlisted") {
      ctx.log.debug(
        `${cache.name}: its server gives no index of claims/, so verify cannot see claims left there (docs/fleet.md says how to give one)`,
      );
      return [];
    }
    const now = Date.now();
    const old = (claims ?? []).filter((claim) => now - claim.at > OLD_CLAIM_MS).sort((a, b) => a.at - b.at);
    const oldest = old[0];
    if (oldest) {
      ctx.log.warn(
        {
          hint: "they are no content and nothing waits for them: the next host that needs one of these paths takes its claim over; to tidy the cache, remove them (DELETE of claims/<name>/, or rm -r in a file:// cache's directory)",
        },
        `${cache.name} holds ${plural(old.length, "claim")} older than a day, left by hosts stopped while uploading (the oldest: claims/${oldest.claim}/, ${oldest.holder ?? "no holder written"}, last held ${new Date(oldest.at).toISOString()})`,
      );
    }
    return old;
  })();
  asked.set(cache.name, found);
  return found;
}

function print(ctx: Context, report: ProfileReport): void {
  if (report.error) {
    ctx.log.error({ hint: report.error.hint }, `${report.error.message}; the other profiles go on`);
    return;
  }
  const what = generationLabel(report.profile, report.generation);
  for (const c of report.caches) {
    if (c.error) ctx.log.error({ hint: c.error.hint }, `verifying ${what} in ${c.cache} failed: ${c.error.message}`);
    else if (c.status === "complete")
      process.stdout.write(`${c.cache} holds all ${plural(c.closure, "path")} of ${what}\n`);
    else {
      const verb = c.status === "repaired" ? "repaired: uploaded" : "lacks";
      const line = `${c.cache} ${verb} ${c.missing.length} of ${plural(c.closure, "path")} of ${what} (${formatBytes(c.narBytes)} NAR)`;
      if (c.status === "repaired") process.stdout.write(`${line}\n`);
      else if (c.status === "deferred") {
        ctx.log.warn({ hint: "`genpush verify --repair --ignore-metered` uploads them now" }, `${line}: ${c.reason}`);
      } else ctx.log.error({ hint: "run `genpush verify --repair` to upload them" }, line);
    }
  }
}
