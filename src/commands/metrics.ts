/**
 * After a push or verify run: the metrics file (`metricsFile`, state/metrics.ts) rewritten
 * from the state of every profile x cache. A failure to write it is a warning: the push's
 * own result stands.
 */
import { describeError } from "../runtime/errors.js";
import { writeMetrics } from "../state/metrics.js";
import type { Context } from "./context.js";

export async function recordMetrics(ctx: Context): Promise<void> {
  const file = ctx.config.metricsFile;
  if (file === undefined) return;
  const profiles = ctx.config.profiles.map((profile) => profile.name);
  const caches = ctx.config.caches.map((cache) => cache.name);
  await writeMetrics(file, ctx.config.stateDir, profiles, caches).catch((error: unknown) =>
    ctx.log.warn(`could not write the metrics file ${file}: ${describeError(error).message}`),
  );
}
