/**
 * `genpush verify`: ask each cache about the whole closure of the current
 * generation — what the diff cannot see, such as paths a cache lost to its own
 * garbage collection. `--repair` uploads what is missing. Exit 1 when
 * anything is missing and not repaired.
 */
import { planForCache } from "../cache-plan.js";
import { ClosureReader } from "../closures.js";
import { describeError, ExitCode } from "../errors.js";
import { formatBytes, generationLabel, plural } from "../format.js";
import { route } from "../plan.js";
import { currentGeneration } from "../profiles.js";
import { closeContext, type GlobalOptions, openContext, printJson, selectProfiles } from "./context.js";

export interface VerifyOptions {
  profile: string[];
  repair: boolean;
  json: boolean;
}

type Status = "complete" | "incomplete" | "repaired" | "failed";

export async function verifyCommand(globals: GlobalOptions, options: VerifyOptions): Promise<ExitCode> {
  const ctx = await openContext(globals);
  try {
    const reports = [];
    for (const profile of selectProfiles(ctx.config, options.profile)) {
      const generation = await currentGeneration(profile);
      if (!generation) {
        ctx.log.info(`profile ${profile.name} does not exist yet (${profile.path}): nothing to verify`);
        continue;
      }
      const routed = route(generation.system, ctx.config.caches);
      if (routed.warning) ctx.log.warn(routed.warning);
      const reader = new ClosureReader();
      const caches = await Promise.all(
        routed.caches.map(async (cacheConfig) => {
          const cache = await ctx.cache(cacheConfig);
          try {
            const { closure, missing, narBytes } = await planForCache(
              ctx.config,
              cache,
              generation.storePath,
              {},
              reader,
            );
            let status: Status = missing.length === 0 ? "complete" : "incomplete";
            if (missing.length > 0 && options.repair) {
              await cache.push(missing, {});
              status = "repaired";
            }
            const repaired = status === "repaired" ? missing.length : 0;
            return {
              cache: cache.name,
              closure: closure.length,
              missing: missing.map((i) => i.path),
              narBytes,
              repaired,
              status,
            };
          } catch (error) {
            return {
              cache: cache.name,
              closure: 0,
              missing: [],
              narBytes: 0,
              repaired: 0,
              status: "failed" as Status,
              error: describeError(error),
            };
          }
        }),
      );
      reports.push({ profile: profile.name, generation: generation.number, storePath: generation.storePath, caches });
      if (!options.json) {
        const what = generationLabel(profile.name, generation.number);
        for (const c of caches) {
          if (c.error)
            ctx.log.error({ hint: c.error.hint }, `verifying ${what} in ${c.cache} failed: ${c.error.message}`);
          else if (c.status === "complete")
            process.stdout.write(`${c.cache} holds all ${plural(c.closure, "path")} of ${what}\n`);
          else {
            const verb = c.status === "repaired" ? "repaired: uploaded" : "lacks";
            const line = `${c.cache} ${verb} ${c.missing.length} of ${plural(c.closure, "path")} of ${what} (${formatBytes(c.narBytes)} NAR)`;
            if (c.status === "repaired") process.stdout.write(`${line}\n`);
            else ctx.log.error({ hint: "run `genpush verify --repair` to upload them" }, line);
          }
        }
      }
    }
    // One named profile: its report; otherwise every report.
    if (options.json) printJson(options.profile.length === 1 ? (reports[0] ?? null) : { profiles: reports });
    const bad = reports.some((r) => r.caches.some((c) => c.status === "incomplete" || c.status === "failed"));
    return bad ? ExitCode.failed : ExitCode.ok;
  } finally {
    await closeContext(ctx);
  }
}
