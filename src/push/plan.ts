/**
 * What a push of one generation to one cache should consider sending. Pure:
 * plain data in, a plan with its counts out.
 *
 * Policy:
 * - new: the closure of the generation minus the closure the cache already got
 *   from us (the last generation pushed there), or the whole closure when that
 *   is unknown;
 * - upstream: paths signed by an `upstreamKeys` key and not built here come
 *   from a public cache and are not pushed — only for backends that accept a
 *   path whose references they lack (a `nix copy` binary cache does not);
 * - excluded: paths whose name matches an `exclude` glob, and, for backends
 *   that must hold whole closures, every path that depends on one;
 * - candidates are ordered dependencies first, so an upload never gets ahead
 *   of what it refers to.
 */
import type { HostMatch } from "../config/config.js";
import type { Glob } from "../config/glob.js";
import { type Host, hostMismatch } from "../host/host.js";
import type { PathInfo } from "../nix/path-info.js";
import { namePart, type StorePath } from "../nix/store-path.js";

export interface PlanCounts {
  closure: number;
  new: number;
  upstream: number;
  excluded: number;
  candidates: number;
}

export interface Plan {
  candidates: PathInfo[];
  counts: PlanCounts;
}

export interface PlanInput {
  closure: readonly PathInfo[];
  /** What the cache is known to hold from us; null when unknown. */
  base: ReadonlySet<StorePath> | null;
  upstreamKeys: readonly string[];
  exclude: readonly Glob[];
  /** The backend refuses a path whose references it lacks (`nix copy` to a binary cache). */
  wholeClosures: boolean;
}

export function makePlan(input: PlanInput): Plan {
  const fresh = input.base ? input.closure.filter((info) => !input.base?.has(info.path)) : [...input.closure];
  const upstreamKeys = new Set(input.upstreamKeys);
  const isUpstream = (info: PathInfo) =>
    !input.wholeClosures && !info.ultimate && info.signedBy.some((key) => upstreamKeys.has(key));
  const notUpstream = fresh.filter((info) => !isUpstream(info));

  let excluded = new Set(
    notUpstream.filter((info) => input.exclude.some((g) => g.matches(namePart(info.path)))).map((i) => i.path),
  );
  if (input.wholeClosures && excluded.size > 0) excluded = withDependants(input.closure, excluded);
  const kept = notUpstream.filter((info) => !excluded.has(info.path));

  const candidates = dependenciesFirst(kept);
  return {
    candidates,
    counts: {
      closure: input.closure.length,
      new: fresh.length,
      upstream: fresh.length - notUpstream.length,
      excluded: notUpstream.length - kept.length,
      candidates: candidates.length,
    },
  };
}

/** `excluded` plus every path of the closure that reaches one of them. */
function withDependants(closure: readonly PathInfo[], excluded: ReadonlySet<StorePath>): Set<StorePath> {
  const dependants = new Map<StorePath, StorePath[]>();
  for (const info of closure) {
    for (const ref of info.references) {
      if (ref !== info.path) dependants.set(ref, [...(dependants.get(ref) ?? []), info.path]);
    }
  }
  const out = new Set(excluded);
  const queue = [...excluded];
  for (let path = queue.pop(); path !== undefined; path = queue.pop()) {
    for (const parent of dependants.get(path) ?? []) {
      if (!out.has(parent)) {
        out.add(parent);
        queue.push(parent);
      }
    }
  }
  return out;
}

/**
 * Kahn's algorithm over the references inside `paths` (self-references, which
 * Nix allows, are ignored). Ties are broken by path so the order is stable.
 */
export function dependenciesFirst(paths: readonly PathInfo[]): PathInfo[] {
  const byPath = new Map(paths.map((info) => [info.path, info]));
  const pending = new Map<StorePath, number>();
  const dependants = new Map<StorePath, StorePath[]>();
  for (const info of paths) {
    const refs = info.references.filter((ref) => ref !== info.path && byPath.has(ref));
    pending.set(info.path, refs.length);
    for (const ref of refs) dependants.set(ref, [...(dependants.get(ref) ?? []), info.path]);
  }
  const ready = [...pending]
    .filter(([, n]) => n === 0)
    .map(([path]) => path)
    .sort()
    .reverse();
  const out: PathInfo[] = [];
  while (ready.length > 0) {
    const path = ready.pop() as StorePath;
    out.push(byPath.get(path) as PathInfo);
    const unlocked: StorePath[] = [];
    for (const parent of dependants.get(path) ?? []) {
      const left = (pending.get(parent) as number) - 1;
      pending.set(parent, left);
      if (left === 0) unlocked.push(parent);
    }
    ready.push(...unlocked.sort().reverse());
  }
  if (out.length !== paths.length) throw new Error("reference cycle among store paths");
  return out;
}

export interface Route<C> {
  caches: C[];
  /** Set when no cache serves the generation here: names the system, and what each cache would need. */
  warning?: string;
}

/** Whether `cache` takes what was built for `system` on `host`. */
export function serves(cache: { systems: readonly string[] } & HostMatch, system: string, host: Host): boolean {
  return cache.systems.includes(system) && hostMismatch(cache, host) === undefined;
}

/** The caches that take a generation of `system` built on `host`: its system listed, and the host matched. */
export function route<C extends { name: string; systems: readonly string[] } & HostMatch>(
  system: string,
  caches: readonly C[],
  host: Host,
): Route<C> {
  const matching = caches.filter((cache) => serves(cache, system, host));
  if (matching.length > 0) return { caches: matching };
  const forSystem = caches.filter((cache) => cache.systems.includes(system));
  if (forSystem.length > 0) {
    const why = forSystem.map((cache) => `${cache.name} ${hostMismatch(cache, host)}`).join("; ");
    return { caches: [], warning: `no cache takes ${system} generations of this host (${host.name}): ${why}` };
  }
  const served = [...new Set(caches.flatMap((cache) => cache.systems))].sort();
  return {
    caches: [],
    warning: `no cache is configured for ${system}; caches serve ${served.join(", ") || "no system"}`,
  };
}
