/**
 * `genpush push`: push the new generation of each selected profile to every
 * cache that serves its system. Exit 1 when any profile or cache failed: the
 * work stays pending for the next trigger.
 */
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { unsignedCacheWarning } from "../caches/signing.js";
import type { CacheConfig, ProfileConfig } from "../config/config.js";
import { inhibitSleep } from "../host/inhibit.js";
import { MeteredGate } from "../host/metered.js";
import { type Notice, noticeFor, sendNotice } from "../host/notify.js";
import { storePathArgument } from "../nix/store-path.js";
import { type ClosureResult, pushPaths, pushQueue, type QueueOutcome } from "../push/closure.js";
import { type ProfileOutcome, type PushContext, type PushResult, pushProfile } from "../push/push.js";
import { queueHasEntries } from "../push/queue.js";
import { ExitCode, UsageError } from "../runtime/errors.js";
import { formatBytes, formatDuration, generationLabel, plural, progressText } from "../runtime/format.js";
import {
  type CommandLineOptions,
  type Context,
  closeContext,
  commandLineOf,
  type GlobalOptions,
  openContext,
  printJson,
  selectProfiles,
} from "./context.js";
import { recordMetrics } from "./metrics.js";

export interface PushOptions extends CommandLineOptions {
  profile: string[];
  dryRun: boolean;
  json: boolean;
  lockTimeout: number;
  /** Only the queue. */
  queue: boolean;
  /** Only these store paths (and their closures), now. */
  paths?: string[];
  /** With `paths`: only this cache. */
  cache?: string;
  /** Upload on a metered network whatever `meteredLimit` says. */
  ignoreMetered: boolean;
}

export async function pushCommand(globals: GlobalOptions, options: PushOptions): Promise<ExitCode> {
  checkSelection(options);
  const ctx = await openContext(globals, { commandLine: commandLineOf(options) });
  const notices: Promise<void>[] = [];
  try {
    const only = options.cache === undefined ? undefined : selectCache(ctx, options.cache);
    const outcomes: ProfileOutcome[] = [];
    const progress = progressLine(!options.json && !ctx.journal && process.stderr.isTTY === true);
    const uploads = new Map<string, { started: number; bytes: number }>();
    const unsigned = unsignedWarner(ctx, options.to);
    const metered = options.ignoreMetered
      ? undefined
      : new MeteredGate(ctx.config.meteredLimit, (line) => ctx.log.debug(line));
    const push: PushContext = {
      config: ctx.config,
      cache: ctx.cache,
      dryRun: options.dryRun,
      lockTimeoutMs: options.lockTimeout * 1000,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      aroundUpload: (what, upload) => withSleepInhibited(ctx, what, upload),
      ...(metered ? { deferUpload: (cache, narBytes) => metered.defer(cache, narBytes) } : {}),
      events: {
        onResult: (result, previous) => {
          // Once per cache and state directory: at the first upload recorded there.
          if (previous.lastPushed === null && result.counts.uploaded > 0) unsigned(result.cache);
          const notice = noticeFor(ctx.config.notify, noticeResult(result), previous);
          if (notice) notices.push(sendDesktopNotice(ctx, notice));
        },
        onInfo: (message) => ctx.log.info(message),
        onWarning: (message) => ctx.log.warn(message),
        onUploadStart: (p, cache, n, bytes) => {
          uploads.set(`${p}\0${cache}`, { started: Date.now(), bytes });
          ctx.log.info(`${p}: uploading ${plural(n, "path")} to ${cache}`);
        },
        onUploadProgress: (p, cache, done, total, bytes) => {
          const upload = uploads.get(`${p}\0${cache}`);
          const elapsedMs = Date.now() - (upload?.started ?? Date.now());
          const of = {
            done,
            total,
            elapsedMs,
            totalBytes: upload?.bytes ?? 0,
            ...(bytes === undefined ? {} : { bytes }),
          };
          progress(`${p} -> ${cache}: ${progressText(of)}`);
        },
      },
    };
    if (options.paths) {
      const paths = await Promise.all(options.paths.map((path) => storePathArgument(path, "--paths")));
      const pushed = await pushPaths(push, [...new Set(paths)], only);
      // No state: every run that uploads says it (a CI job's log is its own).
      for (const result of pushed.results) if (result.counts.uploaded > 0) unsigned(result.cache);
      progress("");
      const ok = pushed.results.every((result) => result.status !== "failed");
      if (options.json) printJson({ ok, paths: pushed.results, warnings: pushed.warnings });
      else for (const result of pushed.results) say(ctx, closureLine(result, "paths"), result);
      return ok ? ExitCode.ok : ExitCode.failed;
    }
    const profiles = options.queue ? [] : selectProfiles(ctx.config, options.profile);
    if (profiles.length === 0 && !options.queue) ctx.log.warn("no profiles to push: the configuration lists none");
    for (const profile of profiles) {
      const outcome = await pushProfile(push, profile);
      progress("");
      outcomes.push(outcome);
      if (!options.json) report(ctx, outcome);
    }
    // The queue goes with every push that names no profile: one with nothing queued lists two directories.
    const drain = options.queue || (options.profile.length === 0 && !options.profilePath);
    const queue =
      drain && (options.queue || (await queueHasEntries(ctx.config.stateDir))) ? await pushQueue(push) : null;
    progress("");
    if (queue && !options.json) reportQueue(ctx, queue);
    if (
      !options.json &&
      outcomes.length > 0 &&
      outcomes.every((outcome) => outcome.status === "absent") &&
      !queue?.entries
    ) {
      process.stdout.write(`${nothingHere(profiles)}\n`);
    }
    const ok =
      outcomes.every((outcome) => outcome.status !== "failed") &&
      (queue?.results.every((result) => result.status !== "failed") ?? true);
    if (options.json) printJson(pushJson(ok, outcomes, queue));
    return ok ? ExitCode.ok : ExitCode.failed;
  } finally {
    await Promise.all(notices);
    await recordMetrics(ctx);
    await closeContext(ctx);
  }
}

/**
 * Warns, once per run and cache, that a binary cache got unsigned paths (caches/signing.ts).
 * The key pair's files go beside the configuration file, else in the current directory.
 */
function unsignedWarner(ctx: Context, to: readonly string[]): (cache: string) => void {
  const told = new Set<string>();
  const file = ctx.config.file;
  const keyDir = existsSync(file) ? dirname(resolve(file)) : "";
  return (name) => {
    const cache = ctx.config.caches.find((c) => c.name === name);
    if (!cache || told.has(name)) return;
    told.add(name);
    const use =
      cache.type === "nix" && to.includes(cache.store)
        ? "push with `--signing-key KEY`"
        : `set \`signingKeyFile: KEY\` on cache ${name} in ${file}`;
    const warning = unsignedCacheWarning(cache, keyDir, use);
    if (warning) ctx.log.warn({ hint: warning.hint }, warning.message);
  };
}

function noticeResult(r: PushResult) {
  const message = r.status === "deferred" ? r.reason : r.error?.message;
  return { ...r, uploaded: r.counts.uploaded, ...(message === undefined ? {} : { message }) };
}

/** A desktop notice where a session bus has a notification server; a debug line where not. */
async function sendDesktopNotice(ctx: Context, notice: Notice): Promise<void> {
  const { sent, why } = await sendNotice(notice);
  if (!sent) ctx.log.debug(`no desktop notice (${notice.summary}): ${why}`);
}

/** No profile exists here yet: say so, and where else genpush could look. */
function nothingHere(profiles: ProfileConfig[]): string {
  const where = profiles.map((p) => `${p.name}: ${p.path}`).join(", ");
  return (
    `nothing to push: no profile exists here yet (${where}). ` +
    "Point genpush at a profile link with --profile-path PATH (for example ~/.nix-profile), or list yours under `profiles:` in the configuration"
  );
}

/** Hold a logind delay lock on sleep while uploading, where logind is reachable. */
async function withSleepInhibited<T>(ctx: Context, what: string, upload: () => Promise<T>): Promise<T> {
  const inhibitor = inhibitSleep(`genpush: ${what}`, (reason) => ctx.log.debug(`no sleep inhibitor: ${reason}`));
  try {
    return await upload();
  } finally {
    inhibitor.release();
  }
}

function report(ctx: Context, outcome: ProfileOutcome): void {
  if (outcome.error) {
    ctx.log.error({ hint: outcome.error.hint }, `${outcome.error.message}; the other profiles go on`);
  }
  for (const result of outcome.results) say(ctx, resultLine(result), result);
}

/**
 * A result line: a failure is an error with its hint, a deferral a warning; anything else goes
 * to the journal, or stdout.
 */
function say(ctx: Context, line: string, result?: { status: string; error?: { hint?: string } }): void {
  if (result?.status === "failed") ctx.log.error({ hint: result.error?.hint }, line);
  else if (result?.status === "deferred") ctx.log.warn({ hint: DEFERRED_HINT }, line);
  else if (ctx.journal) ctx.log.info(line);
  else process.stdout.write(`${line}\n`);
}

const DEFERRED_HINT =
  "`genpush push --ignore-metered` uploads it now; `meteredLimit` in the configuration sets the size";

export function resultLine(r: PushResult): string {
  const what = generationLabel(r.profile, r.generation);
  const time = formatDuration(r.durationMs);
  const nar = `${formatBytes(r.narBytes)} NAR`;
  switch (r.status) {
    case "up-to-date":
      return `${what} is already in ${r.cache}: nothing to push`;
    case "planned":
      return `would push ${r.counts.missing} of ${plural(r.counts.closure, "path")} (${nar}) of ${what} to ${r.cache}${skipped(r)}`;
    case "pushed":
      if (r.counts.uploaded === 0)
        return `${what} was already in ${r.cache}: none of the ${plural(r.counts.candidates, "path")} asked about was missing${skipped(r)}`;
      return `pushed ${r.counts.uploaded} of ${plural(r.counts.closure, "path")} (${nar}) of ${what} to ${r.cache} in ${time}${skipped(r)}`;
    case "failed":
      return `failed to push ${what} to ${r.cache} after ${time}: ${r.error?.message ?? "unknown error"}; it stays pending`;
    case "deferred":
      return `did not push ${r.counts.missing} of ${plural(r.counts.closure, "path")} (${nar}) of ${what} to ${r.cache}: ${r.reason}; it stays pending`;
  }
}

function skipped(r: { counts: PushResult["counts"] }): string {
  const parts = [
    r.counts.upstream > 0 ? `${r.counts.upstream} from upstream` : "",
    r.counts.excluded > 0 ? `${r.counts.excluded} excluded` : "",
  ].filter(Boolean);
  return parts.length > 0 ? ` (skipped ${parts.join(", ")})` : "";
}

/** --paths goes alone; --cache only with it; --queue with no profile. */
function checkSelection(options: PushOptions): void {
  if (options.paths && (options.queue || options.profile.length > 0 || options.profilePath)) {
    throw new UsageError("--paths pushes the paths given alone: not with --queue, --profile or --profile-path");
  }
  if (options.cache !== undefined && !options.paths) {
    throw new UsageError("--cache goes with --paths", "genpush push --paths ./result --cache NAME");
  }
  if (options.queue && (options.profile.length > 0 || options.profilePath)) {
    throw new UsageError(
      "--queue pushes only the queue: not with --profile or --profile-path",
      "run them as two pushes",
    );
  }
}

function selectCache(ctx: Context, name: string): CacheConfig {
  const cache = ctx.config.caches.find((c) => c.name === name);
  if (!cache) {
    throw new UsageError(
      `no cache named \`${name}\` in ${ctx.config.file}`,
      `configured caches: ${ctx.config.caches.map((c) => c.name).join(", ") || "none"}`,
    );
  }
  return cache;
}

function reportQueue(ctx: Context, queue: QueueOutcome): void {
  if (queue.entries === 0) {
    say(ctx, "queue: nothing queued");
    return;
  }
  for (const result of queue.results) say(ctx, closureLine(result, "queue"), result);
  say(ctx, `queue: ${plural(queue.done, "entry", "entries")} done, ${queue.entries - queue.done} left`);
}

export function closureLine(r: ClosureResult, kind: "queue" | "paths"): string {
  const what =
    kind === "queue"
      ? `${plural(r.entries, "queued entry", "queued entries")} (${plural(r.paths, "path")})`
      : plural(r.paths, "given path");
  const nar = `${formatBytes(r.narBytes)} NAR`;
  switch (r.status) {
    case "up-to-date":
      return `${r.cache} already has the ${plural(r.counts.closure, "path")} of ${what} and their closure`;
    case "planned":
      return `would push ${r.counts.missing} of ${plural(r.counts.closure, "path")} (${nar}) of ${what} and their closure to ${r.cache}${skipped(r)}`;
    case "pushed":
      return `pushed ${r.counts.uploaded} of ${plural(r.counts.closure, "path")} (${nar}) of ${what} and their closure to ${r.cache} in ${formatDuration(r.durationMs)}${skipped(r)}`;
    case "failed":
      return `failed to push ${what} to ${r.cache} after ${formatDuration(r.durationMs)}: ${r.error?.message ?? "unknown error"}${kind === "queue" ? "; they stay queued" : ""}`;
    case "deferred":
      return `did not push ${r.counts.missing} of ${plural(r.counts.closure, "path")} (${nar}) of ${what} and their closure to ${r.cache}: ${r.reason}${kind === "queue" ? "; they stay queued" : ""}`;
  }
}

function pushJson(ok: boolean, outcomes: ProfileOutcome[], queue: QueueOutcome | null) {
  return {
    ok,
    profiles: outcomes.map((o) => ({
      profile: o.profile,
      status: o.status,
      generation: o.generation?.number ?? null,
      storePath: o.generation?.storePath ?? null,
      system: o.generation?.system ?? null,
      ...(o.error ? { error: o.error } : {}),
    })),
    results: outcomes.flatMap((o) => o.results),
    queue: queue && { entries: queue.entries, done: queue.done, results: queue.results },
    warnings: [...outcomes.flatMap((o) => o.warnings), ...(queue?.warnings ?? [])],
  };
}

/** A self-overwriting progress line on a terminal; nothing elsewhere. */
function progressLine(enabled: boolean): (text: string) => void {
  let shown = false;
  return (text) => {
    if (!enabled || (!shown && !text)) return;
    process.stderr.write(`\r\x1b[2K${text}`);
    shown = text !== "";
  };
}
