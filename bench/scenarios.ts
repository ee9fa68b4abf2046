/**
 * One run of each scenario: every tool gets a fresh nginx over a copy of the
 * fixture's template cache and its own copy of whatever disk state it would
 * have (genpush's state, Nix's narinfo disk cache), behind the delaying proxy.
 * The order of the tools rotates from run to run.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { type BenchCache, startCache } from "./cache.js";
import type { Fixture, PushedFixture } from "./fixtures.js";
import type { DelayProxy } from "./proxy.js";
import { genpush, nixCopy, type Timed, writeGenpushConfig } from "./tools.js";

export interface Sample {
  scenario:
    | "switch"
    | "no-op"
    | "first push"
    | "lost new path"
    | "lost old path"
    | "start-up"
    | "update"
    | "large closure"
    | "post-build hook";
  /** the row: scenario and sizes */
  label: string;
  paths: number;
  diff: number;
  tool: string;
  run: number;
  wallMs: number;
  rssKiB: number | null;
  /** requests nginx logged, by method */
  requests: Record<string, number>;
  /** HEAD and GET requests for a .narinfo: questions about paths */
  narinfoQueries: number;
  /** body bytes of every PUT */
  bytesUp: number;
  /** TCP connections through the proxy */
  connections: number;
  /** every narinfo of the generation's closure is in the cache afterwards */
  complete: boolean;
  /** the tool's exit code */
  exitCode: number;
  /** what genpush's --json said: push status or verify status, and paths it found missing */
  genpush?: { status: string; missing: number };
}

export interface RunContext {
  proxy: DelayProxy;
  delayMs: number;
  work: string;
  samples: Sample[];
  seq: number;
}

type Meta = Pick<Sample, "scenario" | "label" | "paths" | "diff" | "run">;
type Tool = { name: string; run: (ctx: RunContext, cache: BenchCache) => Promise<Sample> };

const narinfoOf = (path: string) => `${basename(path).slice(0, 32)}.narinfo`;

/** Whether every path's narinfo is in the cache. */
export function inCache(cache: BenchCache, paths: readonly string[]): boolean {
  return paths.every((p) => existsSync(join(cache.dir, narinfoOf(p))));
}

export function scratch(ctx: RunContext, name: string): string {
  const dir = join(ctx.work, "runs", `${ctx.seq}-${name}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function copyOf(ctx: RunContext, from: string): string {
  const dir = join(scratch(ctx, "copy"), basename(from));
  execFileSync("cp", ["-a", from, dir]);
  return dir;
}

/**
 * A fresh nginx over a copy of `template` (or an empty cache), behind the proxy at `delayMs`
 * each way (the run's delay unless given), stopped and removed afterwards.
 */
export async function onFreshCache<T>(
  ctx: RunContext,
  template: string | undefined,
  body: (c: BenchCache) => Promise<T>,
  delayMs = ctx.delayMs,
  port?: number,
) {
  ctx.seq++;
  const root = scratch(ctx, "cache");
  const cache = await startCache(root, template, port === undefined ? {} : { port });
  ctx.proxy.target = cache.port;
  ctx.proxy.delayMs = delayMs;
  try {
    return await body(cache);
  } finally {
    await cache.stop();
    rmSync(join(ctx.work, "runs"), { recursive: true, force: true });
  }
}

export async function measure(
  ctx: RunContext,
  cache: BenchCache,
  meta: Meta & { tool: string; closure: string[] },
  action: () => Promise<Timed>,
): Promise<Sample> {
  const from = await cache.mark();
  ctx.proxy.connections = 0;
  const t = await action();
  const log = await cache.requests(from);
  const requests: Record<string, number> = {};
  for (const r of log) requests[r.method] = (requests[r.method] ?? 0) + 1;
  const { closure, ...rest } = meta;
  const sample: Sample = {
    ...rest,
    wallMs: Math.round(t.wallMs),
    rssKiB: t.rssKiB,
    requests,
    narinfoQueries: log.filter((r) => r.method !== "PUT" && r.uri.endsWith(".narinfo")).length,
    bytesUp: log.filter((r) => r.method === "PUT").reduce((sum, r) => sum + r.bodyBytes, 0),
    connections: ctx.proxy.connections,
    complete: inCache(cache, closure),
    exitCode: t.code,
  };
  if (meta.tool.startsWith("genpush")) sample.genpush = genpushSummary(t.stdout);
  return sample;
}

function genpushSummary(stdout: string): { status: string; missing: number } {
  const json = JSON.parse(stdout);
  const result = json.results?.[0];
  if (result) return { status: result.status, missing: result.counts?.missing ?? 0 };
  const report = json.profiles?.[0]?.caches?.[0];
  return { status: report?.status ?? "?", missing: report?.missing?.length ?? 0 };
}

function rotate<T>(items: T[], run: number): T[] {
  const k = run % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

async function runTools(
  ctx: RunContext,
  template: string | undefined,
  tools: Tool[],
  run: number,
  before?: (c: BenchCache) => void,
) {
  for (const tool of rotate(tools, run)) {
    await onFreshCache(ctx, template, async (cache) => {
      before?.(cache);
      ctx.samples.push(await tool.run(ctx, cache));
    });
  }
}

/** genpush with its own config and a copy of the given state (none: never pushed). */
function genpushTool(
  name: string,
  f: Fixture,
  meta: Meta,
  args: string[],
  opts: { state?: string; xdg?: string; noop?: boolean },
) {
  return {
    name,
    run: async (ctx: RunContext, cache: BenchCache) => {
      const stateDir = opts.state ? copyOf(ctx, opts.state) : join(scratch(ctx, "state"), "state");
      const xdg = opts.xdg ? copyOf(ctx, opts.xdg) : scratch(ctx, "xdg");
      const config = writeGenpushConfig(scratch(ctx, "config"), { stateDir, profile: f.profile, store: ctx.proxy.url });
      const m = { ...meta, tool: name, closure: f.to.closure };
      const sample = await measure(ctx, cache, m, () => genpush(config, args, xdg));
      if (opts.noop) {
        // The next trigger with nothing new: a link renamed, a GC, a switch to the same generation.
        const noop = { ...m, scenario: "no-op" as const, label: `no-op, ${f.paths.toLocaleString("en")} paths` };
        ctx.samples.push(await measure(ctx, cache, { ...noop, diff: 0 }, () => genpush(config, args, xdg)));
      }
      return sample;
    },
  };
}

function nixCopyTool(name: string, f: Fixture, meta: Meta, xdg: string | undefined): Tool {
  return {
    name,
    run: (ctx, cache) =>
      measure(ctx, cache, { ...meta, tool: name, closure: f.to.closure }, () =>
        nixCopy(f.to.storePath, ctx.proxy.url, xdg ? copyOf(ctx, xdg) : scratch(ctx, "xdg")),
      ),
  };
}

const fmt = (n: number) => n.toLocaleString("en");

/**
 * Switch from N to N+1 with N in the cache, then (`noop`) the next trigger
 * with nothing new. With `coldGenpush`, also genpush with an empty narinfo
 * disk cache: its `nix copy --no-recursive` then asks about every reference
 * of what it uploads, one request at a time.
 */
export async function runSwitch(
  ctx: RunContext,
  f: Fixture,
  run: number,
  opts: { coldGenpush: boolean; noop: boolean },
): Promise<void> {
  const meta: Meta = {
    scenario: "switch",
    label: `switch, ${fmt(f.paths)} paths, ${f.newPaths.length} new`,
    paths: f.paths,
    diff: f.newPaths.length,
    run,
  };
  const push = ["push", "--json"];
  await runTools(
    ctx,
    f.cache,
    [
      genpushTool("genpush push", f, meta, push, { state: f.state, xdg: f.xdgGenpush, noop: opts.noop }),
      ...(opts.coldGenpush ? [genpushTool("genpush push, cold disk cache", f, meta, push, { state: f.state })] : []),
      nixCopyTool("nix copy, cold disk cache", f, meta, undefined),
      nixCopyTool("nix copy, warm disk cache", f, meta, f.xdgNix),
    ],
    run,
  );
}

export async function runFirstPush(ctx: RunContext, f: Fixture, run: number): Promise<void> {
  const meta: Meta = {
    scenario: "first push",
    label: `first push, ${fmt(f.paths)} paths`,
    paths: f.paths,
    diff: f.paths,
    run,
  };
  await runTools(
    ctx,
    undefined,
    [genpushTool("genpush push", f, meta, ["push", "--json"], {}), nixCopyTool("nix copy", f, meta, undefined)],
    run,
  );
}

/**
 * The cache lost one path after both generations had been pushed, and each
 * tool runs with the disk state that push left. A path new in N+1: genpush's
 * push asks about it again; a path N and N+1 share: only `verify` asks.
 */
export async function runLost(ctx: RunContext, f: Fixture, pushed: PushedFixture, run: number): Promise<void> {
  const fresh = new Set(f.newPaths);
  const kinds = [
    { scenario: "lost new path" as const, lost: f.newPaths.find((p) => p !== f.to.storePath) },
    { scenario: "lost old path" as const, lost: f.to.closure.find((p) => !fresh.has(p)) },
  ];
  for (const { scenario, lost } of kinds) {
    if (!lost) continue;
    const meta: Meta = { scenario, label: `${scenario}, ${fmt(f.paths)} paths`, paths: f.paths, diff: 1, run };
    const state = { state: f.state, xdg: pushed.xdgNix };
    const tools = [
      genpushTool("genpush push", f, meta, ["push", "--json"], state),
      nixCopyTool("nix copy, cold disk cache", f, meta, undefined),
      nixCopyTool("nix copy, warm disk cache", f, meta, pushed.xdgNix),
    ];
    if (scenario === "lost old path") {
      tools.push(genpushTool("genpush verify --repair", f, meta, ["verify", "--repair", "--json"], state));
    }
    await runTools(ctx, pushed.cache, tools, run, (cache) => rmSync(join(cache.dir, narinfoOf(lost))));
  }
}
