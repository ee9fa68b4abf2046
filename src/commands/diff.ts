/**
 * `genpush diff`: what a push would send, per cache — the plan's counts, the
 * paths each cache lacks, and their NAR bytes. Uploads nothing, records nothing.
 */

import { cacheIdentity } from "../caches/identity.js";
import { thisHost } from "../host/host.js";
import { ClosureReader } from "../nix/closures.js";
import { planForCache } from "../push/cache-plan.js";
import { route } from "../push/plan.js";
import { currentGeneration, numberedGeneration } from "../push/profiles.js";
import { describeError, ExitCode, UsageError } from "../runtime/errors.js";
import { formatBytes, generationLabel, plural } from "../runtime/format.js";
import { readState, targetState } from "../state/state.js";
import {
  type CommandLineOptions,
  closeContext,
  commandLineOf,
  type GlobalOptions,
  openContext,
  printJson,
  selectProfiles,
} from "./context.js";

export interface DiffOptions extends CommandLineOptions {
  profile?: string;
  /** The generation to diff (default: the current one). */
  generation?: number;
  from?: number;
  json: boolean;
}

export async function diffCommand(globals: GlobalOptions, options: DiffOptions): Promise<ExitCode> {
  checkDiffOptions(options);
  const ctx = await openContext(globals, { commandLine: commandLineOf(options) });
  try {
    // --profile-path makes its profile the only one.
    const [profile] =
      options.profile === undefined ? ctx.config.profiles : selectProfiles(ctx.config, [options.profile]);
    if (!profile) return ExitCode.usage;
    const to =
      options.generation === undefined
        ? await currentGeneration(profile)
        : await numberedGeneration(profile, options.generation);
    if (!to) {
      // As push and verify say it: a profile that has no generation yet is nothing to do, not a failure.
      ctx.log.info(`profile ${profile.name} does not exist yet (${profile.path}): nothing to diff`);
      if (options.json) printJson({ profile: profile.name, to: null, caches: [] });
      return ExitCode.ok;
    }
    const from = options.from === undefined ? null : await numberedGeneration(profile, options.from);
    const { state } = await readState(ctx.config.stateDir, profile.name);
    const routed = route(to.system, ctx.config.caches, await thisHost(ctx.config.caches));
    if (routed.warning) ctx.log.warn(routed.warning);
    const reader = new ClosureReader(ctx.signal);

    const caches = await Promise.all(
      routed.caches.map(async (cacheConfig) => {
        const cache = await ctx.cache(cacheConfig);
        // What the cache's current target got from us: nothing, if it moved since.
        const { lastPushed: last, held } = targetState(state, cache.name, cacheIdentity(cacheConfig));
        const base = from
          ? { generation: from.number, storePath: from.storePath }
          : last && { generation: last.generation, storePath: last.storePath };
        try {
          const planBase = from ? { path: from.storePath } : { held: held ?? null, path: last?.storePath ?? null };
          const planned = await planForCache(ctx.config, cache, to.storePath, planBase, reader, ctx.signal);
          return {
            cache: cache.name,
            from: planned.baseGone ? null : base,
            counts: { ...planned.plan.counts, missing: planned.missing.length },
            missing: planned.missing.map((info) => info.path),
            narBytes: planned.narBytes,
          };
        } catch (error) {
          return { cache: cache.name, from: base, error: describeError(error) };
        }
      }),
    );

    if (options.json) {
      printJson({
        profile: profile.name,
        to: { generation: to.number, storePath: to.storePath, system: to.system },
        caches,
      });
    } else {
      const what = generationLabel(profile.name, to.number);
      for (const c of caches) {
        if ("error" in c) {
          ctx.log.error({ hint: c.error?.hint }, `${c.cache}: ${c.error?.message}`);
          continue;
        }
        const since = c.from ? `since generation ${c.from.generation ?? c.from.storePath}` : "(whole closure)";
        process.stdout.write(
          `${what} -> ${c.cache}: ${c.counts.new} of ${plural(c.counts.closure, "path")} new ${since}; ` +
            `${c.counts.candidates} to consider, ${c.counts.missing} missing (${formatBytes(c.narBytes)} NAR)\n`,
        );
        for (const path of c.missing) process.stdout.write(`  ${path}\n`);
      }
    }
    return caches.some((c) => "error" in c) ? ExitCode.failed : ExitCode.ok;
  } finally {
    await closeContext(ctx);
  }
}

/**
 * A profile to diff, named or by its link; and `--to` is a store URI here as in every command:
 * `--to 42`, what it meant before (a generation), says what to write now.
 */
function checkDiffOptions(options: DiffOptions): void {
  const generation = options.to.find((value) => /^\d+$/.test(value));
  if (generation !== undefined) {
    throw new UsageError(
      `--to takes a store URI, as in every command, got \`${generation}\`: the generation to diff is --generation ${generation}`,
      `genpush diff --profile NAME --generation ${generation}${options.from === undefined ? "" : ` --from ${options.from}`}`,
    );
  }
  if (options.profile === undefined && options.profilePath === undefined) {
    throw new UsageError(
      "genpush diff needs the profile to diff: --profile NAME, or --profile-path PATH",
      "genpush diff --profile system; `genpush status` lists the profiles",
    );
  }
  if (options.profile !== undefined && options.profilePath !== undefined) {
    throw new UsageError(
      "--profile and --profile-path both name the profile to diff: give one",
      "genpush diff --profile-path ~/.nix-profile",
    );
  }
}
