/**
 * The metrics file (`metricsFile` in the configuration): what every profile x cache's state
 * says, in node_exporter's textfile-collector format, so that Prometheus sees which host of a
 * fleet stopped pushing. Written whole after every push and verify run (atomic-file.ts: the
 * collector never reads half a file), from the state files of every configured profile, so it
 * tells of all of them even when a run pushed one.
 */
import { hostname } from "node:os";
import { writeFileAtomic } from "./atomic-file.js";
import { type CacheState, cacheState, type ProfileState, readState } from "./state.js";

interface Metric {
  name: string;
  help: string;
  /** The value for one profile x cache; undefined: no sample (not known). */
  value(entry: CacheState): number | undefined;
}

const seconds = (at: string | undefined) => (at === undefined ? 0 : Date.parse(at) / 1000);

/** Each a gauge: the state holds the last push's numbers, not running totals. */
export const METRICS: readonly Metric[] = [
  {
    name: "genpush_last_success_timestamp_seconds",
    help: "When a push last got the profile's generation of the time into the cache whole (Unix time; 0: never).",
    // Recorded at every success; state written before it was: the last result if a success, else the last push.
    value: (entry) =>
      seconds(
        entry.lastSuccessAt ??
          (entry.lastResult?.status === "ok" ? entry.lastResult.at : (entry.lastPushed?.at ?? undefined)),
      ),
  },
  {
    name: "genpush_last_result_failed",
    help: "1 when the last push to the cache failed, else 0 (a deferral on a metered network is not a failure).",
    value: (entry) => (entry.lastResult?.status === "failed" ? 1 : 0),
  },
  {
    name: "genpush_last_result_timestamp_seconds",
    help: "When the last push to the cache ended, whatever its result (Unix time; 0: never).",
    value: (entry) => seconds(entry.lastResult?.at),
  },
  {
    name: "genpush_pending_paths",
    help: "Paths the last push found missing in the cache and did not get there (0 after a success; no sample when a failed push ended before asking the cache).",
    value: (entry) => (entry.lastResult === null || entry.lastResult.status === "ok" ? 0 : entry.pending),
  },
  {
    name: "genpush_last_push_uploaded_nar_bytes",
    help: "NAR bytes this host uploaded in the last successful push that found paths missing (paths other hosts uploaded meanwhile not counted).",
    value: (entry) =>
      entry.lastPushed ? entry.lastPushed.counts.narBytes - (entry.lastPushed.counts.waitedNarBytes ?? 0) : 0,
  },
  {
    name: "genpush_last_push_waited_paths",
    help: "Paths the last successful push waited for while another host of a fleet uploaded them.",
    value: (entry) => entry.lastPushed?.counts.waited ?? 0,
  },
];

/** A label value, escaped as the text format wants (backslash, double quote, newline). */
function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** The file's text: one sample per metric, profile and cache. */
export function renderMetrics(states: readonly ProfileState[], caches: readonly string[], host: string): string {
  const lines: string[] = [];
  for (const metric of METRICS) {
    lines.push(`# HELP ${metric.name} ${metric.help}`, `# TYPE ${metric.name} gauge`);
    for (const state of states) {
      for (const cache of caches) {
        const value = metric.value(cacheState(state, cache));
        if (value === undefined) continue;
        const labels = `profile="${label(state.profile)}",cache="${label(cache)}",host="${label(host)}"`;
        lines.push(`${metric.name}{${labels}} ${value}`);
      }
    }
  }
  return `${lines.join("\n")}\n`;
}

/** Write `file` from the state of every profile x cache (a state file that cannot be read counts as empty). */
export async function writeMetrics(
  file: string,
  stateDir: string,
  profiles: readonly string[],
  caches: readonly string[],
): Promise<void> {
  const states = await Promise.all(profiles.map(async (profile) => (await readState(stateDir, profile)).state));
  await writeFileAtomic(file, renderMetrics(states, caches, hostname()));
}
