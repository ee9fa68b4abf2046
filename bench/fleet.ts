/**
 * The fleet row: hosts that switch together push one generation to one nginx that takes
 * MKCOL (docs/fleet.md), each in its own UTS namespace (`unshare --uts`, its own hostname),
 * profile, state and Nix cache directory, all at the same moment, with no proxy between them
 * and nginx. Measured: the NAR bytes the hosts uploaded against those the cache holds, the
 * wall time of the slowest host against one host pushing alone, and the CPU time of all hosts
 * together (on a machine of few cores, hosts at once are bound by it). The hosts' configuration
 * marks the cache as the fleet's (`fleet: true`). What claims cost one host alone is measured
 * apart, to the same cache that takes MKCOL: alternately with `fleet: true` and without it (no
 * claims), ALONE_RUNS times each, medians: why `fleet` is a switch, off by default.
 */
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildGeneration, makeKey, newSeed, switchProfile } from "../test/integration/harness/nix.js";
import { startCache } from "./cache.js";
import type { RunContext } from "./scenarios.js";
import { cliEntry, type Timed, timed, toolEnv, unitNodeEnv } from "./tools.js";

/** The generation every host of the fleet switches to: real-sized NARs, as test/faults/22-fleet.test.ts. */
export const FLEET_PATHS = 120;
/** Runs of one host alone, with and without claims, alternately. */
const ALONE_RUNS = 5;

export interface FleetRow {
  hosts: number;
  /** whether the hosts' configuration set `fleet: true`, so that they claimed their paths (the cache takes MKCOL either way) */
  fleet: boolean;
  /** runs the row's figures are the median of */
  runs: number;
  paths: number;
  /** NAR bytes of every PUT under nar/, all hosts together */
  uploadedBytes: number;
  /** bytes of the NAR files the cache holds afterwards */
  heldBytes: number;
  /** wall time of the slowest host, ms */
  slowestMs: number;
  /** user + system CPU time of all hosts together (their nix and compressor processes too), ms; null without GNU time */
  cpuMs: number | null;
  /** every host exited 0 */
  ok: boolean;
}

/** One push of the generation by `hosts` hosts at once to a fresh cache. */
async function pushTogether(
  ctx: RunContext,
  hosts: number,
  storePath: string,
  secretKeyFile: string,
  fleet = true,
): Promise<FleetRow> {
  const root = join(ctx.work, "fleet", `${ctx.seq++}-${hosts}`);
  mkdirSync(root, { recursive: true });
  const cache = await startCache(join(root, "nginx"), undefined, { claims: true });
  try {
    const runs: Promise<Timed>[] = [];
    for (let i = 0; i < hosts; i++) {
      const home = join(root, `host${i}`);
      mkdirSync(join(home, "profiles"), { recursive: true });
      const profile = join(home, "profiles", "system");
      switchProfile(profile, storePath);
      const config = join(home, "genpush.yaml");
      const setup = {
        stateDir: join(home, "state"),
        profiles: [{ name: "system", path: profile }],
        caches: [
          {
            name: "fleet",
            systems: ["x86_64-linux"],
            type: "nix",
            store: `http://127.0.0.1:${cache.port}?compression=zstd`,
            signingKeyFile: secretKeyFile,
            ...(fleet ? { fleet: true } : {}),
          },
        ],
      };
      writeFileSync(config, `${JSON.stringify(setup, null, 2)}\n`);
      const argv = ['hostname "$0" && exec "$@"', `fleet-${i}`, process.execPath, cliEntry(), "--config", config];
      runs.push(
        timed("unshare", ["--uts", "sh", "-c", ...argv, "push", "--json"], {
          ...unitNodeEnv(toolEnv(join(home, "xdg-cache"))),
          HOME: home,
        }),
      );
    }
    const results = await Promise.all(runs);
    const puts = (await cache.requests()).filter((r) => r.method === "PUT" && r.uri.startsWith("/nar/"));
    const narDir = join(cache.dir, "nar");
    const cpu = results.map((r) => r.cpuMs);
    return {
      hosts,
      fleet,
      runs: 1,
      paths: FLEET_PATHS,
      uploadedBytes: puts.reduce((sum, r) => sum + r.bodyBytes, 0),
      heldBytes: readdirSync(narDir).reduce((sum, name) => sum + statSync(join(narDir, name)).size, 0),
      slowestMs: Math.max(...results.map((r) => r.wallMs)),
      cpuMs: cpu.every((ms) => ms !== null) ? cpu.reduce((sum: number, ms) => sum + (ms as number), 0) : null,
      ok: results.every((r) => r.code === 0),
    };
  } finally {
    await cache.stop();
  }
}

/** The median of `values`. */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The row of several runs of one host alone: median time and CPU, the first run's bytes. */
function medianRow(runs: readonly FleetRow[]): FleetRow {
  const first = runs[0] as FleetRow;
  const cpu = runs.map((r) => r.cpuMs);
  return {
    ...first,
    runs: runs.length,
    slowestMs: median(runs.map((r) => r.slowestMs)),
    cpuMs: cpu.every((ms) => ms !== null) ? median(cpu as number[]) : null,
    ok: runs.every((r) => r.ok),
  };
}

/**
 * One host alone without `fleet` and with it (alternately, ALONE_RUNS each), then each count
 * of `hostCounts` at once: a row each.
 */
export async function runFleet(ctx: RunContext, hostCounts: readonly number[]): Promise<FleetRow[]> {
  const gen = buildGeneration({ seed: newSeed(), paths: FLEET_PATHS, leafBytes: "i: 12000 + 400 * i" });
  const key = makeKey(`genpush-bench-fleet-${newSeed()}`);
  const alone: FleetRow[] = [];
  const aloneNoFleet: FleetRow[] = [];
  for (let i = 0; i < ALONE_RUNS; i++) {
    aloneNoFleet.push(await pushTogether(ctx, 1, gen.storePath, key.secretKeyFile, false));
    alone.push(await pushTogether(ctx, 1, gen.storePath, key.secretKeyFile));
  }
  const rows = [medianRow(alone), medianRow(aloneNoFleet)];
  for (const hosts of hostCounts.filter((n) => n > 1)) {
    rows.push(await pushTogether(ctx, hosts, gen.storePath, key.secretKeyFile));
  }
  return rows;
}

/** The fleet rows as a markdown table, each against the first (one host alone, `fleet: true`). */
export function fleetTable(rows: readonly FleetRow[]): string {
  const alone = rows[0]?.slowestMs ?? Number.NaN;
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  const what = (r: FleetRow) =>
    r.hosts === 1
      ? `1 host alone, fleet: ${r.fleet}${r.runs > 1 ? ` (median of ${r.runs})` : ""}`
      : `${r.hosts} hosts at once`;
  return [
    "| fleet (zstd, no proxy) | paths | uploaded / held | slowest host | against one host alone | CPU of all hosts | all exit 0 |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map(
      (r) =>
        `| ${what(r)} | ${r.paths} | ${mib(r.uploadedBytes)} / ${mib(r.heldBytes)} (${(r.uploadedBytes / r.heldBytes).toFixed(2)}x) | ${s(r.slowestMs)} | ${(r.slowestMs / alone).toFixed(2)}x | ${r.cpuMs === null ? "–" : s(r.cpuMs)} | ${r.ok ? "yes" : "no"} |`,
    ),
  ].join("\n");
}
