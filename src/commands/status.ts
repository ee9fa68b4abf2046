/**
 * `genpush status`: per profile x cache, the current generation, the one last
 * pushed there, whether work is pending, and the last result.
 */

import { existsSync } from "node:fs";
import { lstat } from "node:fs/promises";
import { homedir, userInfo } from "node:os";
import { dirname } from "node:path";
import { cacheIdentity } from "../caches/identity.js";
import { type Config, SYSTEM_STATE_DIR } from "../config/config.js";
import { type BusKind, busKindFor, type UnitState, unitStates } from "../host/bus.js";
import { type Host, hostMismatch, thisHost } from "../host/host.js";
import { hostSystem } from "../nix/cli.js";
import { route, serves } from "../push/plan.js";
import { currentGeneration, type Generation } from "../push/profiles.js";
import { entryHas, listQueue } from "../push/queue.js";
import { describeError, ExitCode } from "../runtime/errors.js";
import { formatWhen, plural } from "../runtime/format.js";
import { asOwnerCommand } from "../runtime/owner.js";
import { type CacheState, cacheState, type ProfileState, readState, stateFile, targetState } from "../state/state.js";
import { unitsForProfiles } from "../units/profile-units.js";
import { renderUnits } from "../units/units.js";
import {
  type CommandLineOptions,
  closeContext,
  commandLineOf,
  type GlobalOptions,
  openContext,
  printJson,
} from "./context.js";

export interface StatusOptions extends CommandLineOptions {
  json: boolean;
}

export async function statusCommand(globals: GlobalOptions, options: StatusOptions): Promise<ExitCode> {
  // status reads no secret: it works where the services' credentials are not there.
  const ctx = await openContext(globals, { secrets: false, commandLine: commandLineOf(options) });
  try {
    const profiles = [];
    const states = new Map<string, ProfileState>();
    const host = await thisHost(ctx.config.caches);
    for (const profile of ctx.config.profiles) {
      let current: Generation | null = null;
      let error: { message: string; hint?: string } | undefined;
      try {
        current = await currentGeneration(profile);
      } catch (e) {
        error = describeError(e);
      }
      const loaded = await readState(ctx.config.stateDir, profile.name);
      if (loaded.problem) ctx.log.warn(loaded.problem);
      states.set(profile.name, loaded.state);
      const routed = current ? route(current.system, ctx.config.caches, host).caches : ctx.config.caches;
      // Caches that do not take this generation, and why: a typo in `systems` shows here.
      const otherCaches = ctx.config.caches
        .filter((cache) => !routed.includes(cache))
        .map((cache) => ({
          cache: cache.name,
          systems: cache.systems,
          why:
            current && cache.systems.includes(current.system)
              ? (hostMismatch(cache, host) as string)
              : `serves ${cache.systems.join(", ")}`,
        }));
      const caches = routed.map((cache) => {
        const { lastPushed, lastResult, targetChanged } = targetState(loaded.state, cache.name, cacheIdentity(cache));
        const pending = current !== null && lastPushed?.storePath !== current.storePath;
        return {
          cache: cache.name,
          lastPushed: lastPushed && {
            generation: lastPushed.generation,
            storePath: lastPushed.storePath,
            at: lastPushed.at,
          },
          pending,
          targetChanged,
          lastResult,
        };
      });
      profiles.push({
        profile: profile.name,
        path: profile.path,
        current: current && { generation: current.number, storePath: current.storePath, system: current.system },
        ...(error ? { error } : {}),
        ...(current || error ? {} : { directoryExists: existsSync(dirname(profile.path)) }),
        caches,
        otherCaches,
      });
    }
    const queue = await queueStatus(ctx.config, host);
    const units = await readUnitStates(ctx.config);
    if (options.json) {
      printJson({ host: hostJson(host), profiles, queue, units });
      return ExitCode.ok;
    }
    for (const p of profiles) {
      const head = p.error
        ? `${p.profile}: ${p.error.message}`
        : p.current
          ? `${p.profile}: generation ${p.current.generation ?? "?"} (${p.current.system}) ${p.current.storePath}`
          : `${p.profile}: does not exist yet (${p.path})${p.directoryExists ? "" : "; neither does its directory: check the path"}`;
      process.stdout.write(`${head}\n`);
      for (const c of p.caches) {
        const pushed = c.lastPushed
          ? `last pushed generation ${c.lastPushed.generation ?? "?"} (${formatWhen(c.lastPushed.at)})`
          : c.targetChanged
            ? targetChangedSentence(cacheState(states.get(p.profile) as ProfileState, c.cache))
            : "never pushed";
        const result = c.lastResult
          ? `; last result ${c.lastResult.status} (${formatWhen(c.lastResult.at)})${c.lastResult.message ? `: ${c.lastResult.message}` : ""}`
          : "";
        const state = !p.current ? "nothing to push yet" : c.pending ? "PENDING" : "up to date";
        process.stdout.write(`  ${c.cache}: ${state}, ${pushed}${result}\n`);
      }
      for (const o of p.otherCaches) {
        process.stdout.write(`  ${o.cache}: not for this generation: ${o.why}\n`);
      }
    }
    const elsewhere = await rootStateNote(ctx.config, states);
    if (elsewhere) process.stdout.write(`${elsewhere}\n`);
    if (queue.entries > 0) {
      const pending = queue.caches.map((c) => `${c.cache} ${c.pending}`).join(", ");
      process.stdout.write(
        `queue: ${plural(queue.entries, "entry", "entries")} (${plural(queue.paths, "path")}), the oldest ${formatWhen(queue.oldest as string)}; pending for ${pending || "no cache"}\n`,
      );
    }
    if (units.bus === null) {
      // Common outside systemd (a container, a CI runner): one short line; the cause with -v.
      process.stdout.write("units: not known here (no systemd manager answered over D-Bus)\n");
      ctx.log.debug(units.error);
    } else {
      process.stdout.write(`units (${units.bus} manager):\n`);
      for (const u of units.units) {
        const last = u.lastTrigger ? `, last ran ${u.lastTrigger}` : "";
        process.stdout.write(
          `  ${u.name}: ${u.activeState} (${u.subState})${u.result ? `, result ${u.result}` : ""}${last}\n`,
        );
      }
    }
    return ExitCode.ok;
  } finally {
    await closeContext(ctx);
  }
}

function hostJson(host: Host) {
  return {
    name: host.name,
    systemFeatures: host.features ? [...host.features].sort() : null,
    ...(host.featuresUnknown ? { systemFeaturesUnknown: host.featuresUnknown } : {}),
  };
}

/** The push queue: entries, paths, the oldest, and per cache how many entries it still lacks. */
async function queueStatus(config: Config, host: Host) {
  const entries = await listQueue(config.stateDir);
  const hostSystemName = entries.some((entry) => entry.system === null) ? await hostSystem().catch(() => null) : null;
  return {
    entries: entries.length,
    paths: entries.reduce((sum, entry) => sum + entry.paths.length, 0),
    oldest: entries[0]?.enqueuedAt ?? null,
    caches: config.caches.map((cache) => ({
      cache: cache.name,
      pending: entries.filter(
        (entry) => serves(cache, entry.system ?? hostSystemName ?? "", host) && !entryHas(entry, cache),
      ).length,
    })),
  };
}

/**
 * A user whose own state has no record of a profile root's genpush has records of (the
 * user ran root's configuration, say): one line on where root's state is and how to see it.
 */
async function rootStateNote(config: Config, states: Map<string, ProfileState>): Promise<string | undefined> {
  if ((process.getuid?.() ?? 0) === 0 || config.stateDir === SYSTEM_STATE_DIR) return undefined;
  const unrecorded = [...states.values()].filter((state) => Object.keys(state.caches).length === 0);
  const recorded = await Promise.all(unrecorded.map((state) => rootHasRecord(state.profile)));
  const names = unrecorded.filter((_, i) => recorded[i]).map((state) => state.profile);
  if (names.length === 0) return undefined;
  return `${names.join(", ")}: no record in ${config.stateDir}; root's genpush keeps its state in ${SYSTEM_STATE_DIR}: \`${asOwnerCommand(0)}\` shows it`;
}

/** Whether root's state has a record of `profile`; where its directory may not be looked into, that it exists. */
async function rootHasRecord(profile: string): Promise<boolean> {
  try {
    await lstat(stateFile(SYSTEM_STATE_DIR, profile));
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EACCES" && existsSync(SYSTEM_STATE_DIR);
  }
}

function targetChangedSentence({ lastPushed, target }: CacheState): string {
  const last = `generation ${lastPushed?.generation ?? "?"} at ${lastPushed?.at ?? "?"}`;
  const whole = "the next push asks it about the whole closure";
  return target === undefined
    ? `never pushed to its target as far as genpush knows: an older genpush did not record it with ${last}; ${whole}`
    : `never pushed to its target: it changed since the last push (${last}); ${whole}`;
}

/** genpush's units as the systemd that would run them sees them: root's on the system bus, a user's on theirs. */
async function readUnitStates(
  config: Config,
): Promise<{ bus: BusKind; units: UnitState[] } | { bus: null; units: []; error: string }> {
  const kind = busKindFor(process.getuid?.() ?? 0);
  try {
    // The units `units install` writes for this configuration; the shipped ones where it could write none.
    const units = await unitsForProfiles(kind, "genpush", config, {
      home: homedir(),
      user: userInfo().username,
    }).catch(() => renderUnits(kind, "genpush"));
    const names = units.map((unit) => unit.name);
    return { bus: kind, units: await unitStates(kind, names) };
  } catch (error) {
    return { bus: null, units: [], error: `no ${kind} bus reachable: ${describeError(error).message}` };
  }
}
