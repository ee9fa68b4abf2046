/**
 * The fleet row: hosts that switch together push one generation to one nginx that takes
 * MKCOL (docs/fleet.md), each in its own UTS namespace (`unshare --uts`, its own hostname),
 * profile, state and Nix cache directory, all at the same moment, with no proxy between them
 * and nginx. Measured: the NAR bytes the hosts uploaded against those the cache holds, and
 * the wall time of the slowest host against one host pushing alone.
 */
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildGeneration, makeKey, newSeed, switchProfile } from "../test/integration/harness/nix.js";
import { startCache } from "./cache.js";
import type { RunContext } from "./scenarios.js";
import { cliEntry, type Timed, timed, toolEnv, unitNodeEnv } from "./tools.js";

/** The generation every host of the fleet switches to: real-sized NARs, as test/faults/22-fleet.test.ts. */
export const FLEET_PATHS = 120;

export interface FleetRow {
  hosts: number;
  paths: number;
  /** NAR bytes of every PUT under nar/, all hosts together */
  uploadedBytes: number;
  /** bytes of the NAR files the cache holds afterwards */
  heldBytes: number;
  /** wall time of the slowest host, ms */
  slowestMs: number;
  /** every host exited 0 */
  ok: boolean;
}

/** One push of the generation by `hosts` hosts at once to a fresh cache. */
async function pushTogether(
  ctx: RunContext,
  hosts: number,
  storePath: string,
  secretKeyFile: string,
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
    return {
      hosts,
      paths: FLEET_PATHS,
      uploadedBytes: puts.reduce((sum, r) => sum + r.bodyBytes, 0),
      heldBytes: readdirSync(narDir).reduce((sum, name) => sum + statSync(join(narDir, name)).size, 0),
      slowestMs: Math.max(...results.map((r) => r.wallMs)),
      ok: results.every((r) => r.code === 0),
    };
  } finally {
    await cache.stop();
  }
}

/** One host alone, then each count of `hostCounts` at once: a row each. */
export async function runFleet(ctx: RunContext, hostCounts: readonly number[]): Promise<FleetRow[]> {
  const gen = buildGeneration({ seed: newSeed(), paths: FLEET_PATHS, leafBytes: "i: 12000 + 400 * i" });
  const key = makeKey(`genpush-bench-fleet-${newSeed()}`);
  const rows: FleetRow[] = [];
  for (const hosts of [1, ...hostCounts.filter((n) => n > 1)]) {
    rows.push(await pushTogether(ctx, hosts, gen.storePath, key.secretKeyFile));
  }
  return rows;
}

/** The fleet rows as a markdown table, each against the first (one host alone). */
export function fleetTable(rows: readonly FleetRow[]): string {
  const alone = rows[0]?.slowestMs ?? Number.NaN;
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return [
    "| fleet (zstd, no proxy) | paths | uploaded / held | slowest host | against one host alone | all exit 0 |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map(
      (r) =>
        `| ${r.hosts === 1 ? "1 host alone" : `${r.hosts} hosts at once`} | ${r.paths} | ${mib(r.uploadedBytes)} / ${mib(r.heldBytes)} (${(r.uploadedBytes / r.heldBytes).toFixed(2)}x) | ${s(r.slowestMs)} | ${(r.slowestMs / alone).toFixed(2)}x | ${r.ok ? "yes" : "no"} |`,
    ),
  ].join("\n");
}
