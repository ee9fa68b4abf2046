/**
 * From samples to the summary: one row per scenario x tool (median and range
 * of wall time, median requests by method and bytes uploaded, peak RSS, how
 * many runs left the cache complete), genpush's ratio against each `nix copy`
 * row, and a markdown table.
 */
import type { Sample } from "./scenarios.js";

export interface Row {
  scenario: Sample["scenario"];
  label: string;
  tool: string;
  paths: number;
  diff: number;
  runs: number;
  wallMs: { median: number; min: number; max: number };
  requests: Record<string, number>;
  requestsTotal: number;
  narinfoQueries: number;
  bytesUp: number;
  /** the largest peak RSS over the runs, KiB */
  rssKiB: number | null;
  complete: number;
  /** runs whose tool exited non-zero (a build the hook failed) */
  failed: number;
  /** genpush's row of the same scenario divided by this one (nix copy rows only) */
  genpushRatio?: { time: number; requests: number };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

export function summarize(samples: Sample[]): Row[] {
  const groups = new Map<string, Sample[]>();
  for (const s of samples) {
    const key = `${s.label}\u0000${s.tool}`;
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  const rows: Row[] = [...groups.values()].map((group) => {
    const first = group[0] as Sample;
    const walls = group.map((s) => s.wallMs);
    const methods = [...new Set(group.flatMap((s) => Object.keys(s.requests)))].sort();
    const requests = Object.fromEntries(methods.map((m) => [m, median(group.map((s) => s.requests[m] ?? 0))]));
    const rss = group.map((s) => s.rssKiB).filter((v): v is number => v !== null);
    return {
      scenario: first.scenario,
      label: first.label,
      tool: first.tool,
      paths: first.paths,
      diff: first.diff,
      runs: group.length,
      wallMs: { median: median(walls), min: Math.min(...walls), max: Math.max(...walls) },
      requests,
      requestsTotal: median(group.map((s) => total(s.requests))),
      narinfoQueries: median(group.map((s) => s.narinfoQueries)),
      bytesUp: median(group.map((s) => s.bytesUp)),
      rssKiB: rss.length ? Math.max(...rss) : null,
      complete: group.filter((s) => s.complete).length,
      failed: group.filter((s) => s.exitCode !== 0).length,
    };
  });
  for (const row of rows) {
    if (!row.tool.startsWith("nix copy")) continue;
    // genpush under the bench's own Node where a row runs it under several.
    const ours = rows.find(
      (r) =>
        r.label === row.label &&
        (r.tool === "genpush push" || r.tool === `genpush push, Node ${process.versions.node.split(".")[0]}`),
    );
    if (!ours) continue;
    row.genpushRatio = {
      time: ours.wallMs.median / row.wallMs.median,
      requests: row.requestsTotal ? ours.requestsTotal / row.requestsTotal : Number.NaN,
    };
  }
  return rows;
}

export function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function bytes(n: number): string {
  if (n === 0) return "0";
  return n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function ratio(x: number): string {
  if (!Number.isFinite(x)) return "–";
  return x < 0.1 ? `${x.toFixed(3)}x` : `${x.toFixed(2)}x`;
}

export function markdownTable(rows: Row[]): string {
  const out = [
    "| scenario | tool | wall time, median (min–max) | requests HEAD / GET / PUT | narinfo queries | uploaded | peak RSS | cache complete | genpush ÷ this: time, requests |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of rows) {
    const q = (m: string) => r.requests[m] ?? 0;
    const other = r.requestsTotal - q("HEAD") - q("GET") - q("PUT");
    const cells = [
      r.label,
      r.tool,
      `${seconds(r.wallMs.median)} (${seconds(r.wallMs.min)}–${seconds(r.wallMs.max)})${r.failed ? `, failed ${r.failed}/${r.runs}` : ""}`,
      `${q("HEAD")} / ${q("GET")} / ${q("PUT")}${other ? ` (+${other})` : ""}`,
      String(r.narinfoQueries),
      bytes(r.bytesUp),
      r.rssKiB === null ? "–" : `${(r.rssKiB / 1024).toFixed(0)} MiB`,
      `${r.complete}/${r.runs}`,
      r.genpushRatio ? `${ratio(r.genpushRatio.time)}, ${ratio(r.genpushRatio.requests)}` : "",
    ];
    out.push(`| ${cells.join(" | ")} |`);
  }
  return out.join("\n");
}
