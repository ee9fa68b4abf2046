/**
 * src/state/: what genpush remembers between runs, kept whole through kills
 * and full disks: the state files (here), the state directory (state-dir.ts),
 * locks (lock.ts) and atomic writes (atomic-file.ts).
 *
 * What genpush knows per profile x cache: the generation last pushed there
 * (the diff base for the next push), which cache that was (the name may since
 * point elsewhere), and the last result. One versioned JSON
 * file per profile, written atomically; a corrupt file is reported and
 * rebuilt (the next push asks the cache), never a crash.
 */
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { isStorePath, type StorePath } from "../nix/store-path.js";
import { GenpushError } from "../runtime/errors.js";
import { writeFileAtomic } from "./atomic-file.js";
import { checkStateDir } from "./state-dir.js";

export const STATE_VERSION = 1;
const HASH_RE = /^[0-9abcdfghijklmnpqrsvwxyz]{32}$/;

export interface PushedGeneration {
  generation: number | null;
  storePath: StorePath;
  at: string;
  /**
   * `uploaded` and `narBytes`: the paths found missing and their NAR bytes; of those, `waited`
   * paths (`waitedNarBytes`) another host of a fleet uploaded while this one waited for them
   * (absent in entries written before it was recorded).
   */
  counts: { closure: number; uploaded: number; narBytes: number; waited?: number; waitedNarBytes?: number };
}

export interface LastResult {
  /** `deferred`: the upload waits for an unmetered network (`message` says why). */
  status: "ok" | "failed" | "deferred";
  at: string;
  generation: number | null;
  storePath: StorePath;
  message?: string;
}

export interface CacheState {
  lastPushed: PushedGeneration | null;
  lastResult: LastResult | null;
  /**
   * Hash parts of the closure of `lastPushed`: what the cache is known to hold
   * from us, so the next diff needs no old generation in the local store.
   * Null when the closure was larger than HELD_LIMIT (the diff then reads the
   * old generation from the store, or asks about the whole closure).
   */
  held?: string[] | null;
  /**
   * The generation whose failure to get here the desktop was told of (host/notify.ts), until a push
   * here works: a deferral in between neither repeats nor forgets it.
   */
  failing?: StorePath;
  /** After a failed or deferred push: the paths it found missing, still not in the cache (unknown when it failed before asking). */
  pending?: number;
  /**
   * The identity of the cache `lastPushed` and `held` went to (caches/identity.ts).
   * Absent in entries written before it was recorded.
   */
  target?: string;
  /**
   * When a push here last succeeded (a rollback to what the cache has included): the metrics'
   * last success, which a failure or a rollback since never moves back. Absent in entries
   * written before it was recorded (metrics.ts then derives it from `lastResult` and `lastPushed`).
   */
  lastSuccessAt?: string;
}

/** At most this many hashes per cache (33 bytes each in the file). */
export const HELD_LIMIT = 100_000;

export interface ProfileState {
  version: typeof STATE_VERSION;
  profile: string;
  caches: Record<string, CacheState>;
}

export interface LoadedState {
  state: ProfileState;
  /** Set when the file existed but could not be used; it will be rebuilt. */
  problem?: string;
}

export function stateFile(stateDir: string, profile: string): string {
  return join(stateDir, "profiles", `${profile}.json`);
}

export function emptyState(profile: string): ProfileState {
  return { version: STATE_VERSION, profile, caches: {} };
}

/** Throws a UsageError for a state directory that is not genpush's (state-dir.ts); anything else is a `problem`. */
export async function readState(stateDir: string, profile: string): Promise<LoadedState> {
  await checkStateDir(stateDir);
  const file = stateFile(stateDir, profile);
  const unusable = (why: string): LoadedState => ({
    state: emptyState(profile),
    problem: `state file ${file} is unusable (${why}); rebuilding it: the next push asks each cache afresh`,
  });
  let text: string | undefined;
  try {
    text = await readRegularFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { state: emptyState(profile) };
    // Never followed, so nothing of what a link points at (another file's first bytes) is quoted.
    if (code === "ELOOP") return unusable("a symbolic link: genpush does not follow links in its state directory");
    return { state: emptyState(profile), problem: `cannot read ${file}: ${(error as Error).message}` };
  }
  if (text === undefined) return unusable("not a regular file");
  try {
    return { state: checkState(JSON.parse(text), profile) };
  } catch (error) {
    return unusable(printable((error as Error).message));
  }
}

/**
 * The file's text; undefined when it is not a regular file. A symbolic link is
 * not followed (ELOOP), and O_NONBLOCK makes opening a FIFO return at once
 * instead of waiting for a writer.
 */
async function readRegularFile(file: string): Promise<string | undefined> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    return await handle.readFile("utf8");
  } finally {
    await handle.close();
  }
}

export async function writeState(stateDir: string, state: ProfileState): Promise<void> {
  const file = stateFile(stateDir, state.profile);
  try {
    await writeFileAtomic(file, `${JSON.stringify(state)}\n`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOSPC" || code === "EDQUOT" ? "the file system is full" : (error as Error).message;
    throw new GenpushError(`cannot record the result in ${file}: ${why}`, {
      hint: `free space in ${stateDir}; the previous state is intact and the generation stays pending`,
    });
  }
}

export function cacheState(state: ProfileState, cache: string): CacheState {
  return state.caches[cache] ?? { lastPushed: null, lastResult: null };
}

export interface TargetState extends CacheState {
  /** The entry says what another target (or one not recorded) got: it was set aside. */
  targetChanged: boolean;
}

/**
 * What the cache named `cache`, now pointing at `target`, got from us. An entry
 * about another target says nothing about this one: it reads as never pushed,
 * so the next push asks the cache about the whole closure. An entry with no
 * target was written before targets were recorded and may be about another
 * place too; reading it as changed is the safe side: one query about the whole
 * closure after an upgrade, in which only what is missing is uploaded.
 */
export function targetState(state: ProfileState, cache: string, target: string): TargetState {
  const entry = cacheState(state, cache);
  const claims = entry.lastPushed !== null || (entry.held?.length ?? 0) > 0;
  if (!claims || entry.target === target) return { ...entry, targetChanged: false };
  // A success records its target, so an ok result is about the other place; a failure or a
  // deferral may be this one's.
  const lastResult = entry.lastResult?.status === "ok" ? null : entry.lastResult;
  return { lastPushed: null, held: null, lastResult, targetChanged: true };
}

/**
 * The file's data, checked field by field: every field the code reads, nested ones included,
 * so that a file an older, newer or broken writer left (a field missing, a count that is a
 * string) is a problem here, reported and rebuilt, never a crash where the field is used. The
 * entries are rebuilt from the known fields alone.
 */
function checkState(data: unknown, profile: string): ProfileState {
  if (!isObject(data) || data.version !== STATE_VERSION || !isObject(data.caches)) {
    throw new Error(`expected version ${STATE_VERSION} state`);
  }
  const caches: Record<string, CacheState> = {};
  for (const [name, entry] of Object.entries(data.caches)) {
    if (!isObject(entry)) throw new Error(`entry for cache ${name} is not an object`);
    const where = (key: string) => `${key} of cache ${name}`;
    const checked: CacheState = {
      lastPushed: optional(entry.lastPushed, (record) => checkPushed(record, where("lastPushed"))),
      lastResult: optional(entry.lastResult, (record) => checkResult(record, where("lastResult"))),
    };
    const held = entry.held;
    if (held !== undefined) {
      if (held !== null && !(Array.isArray(held) && held.every((h) => typeof h === "string" && HASH_RE.test(h)))) {
        throw new Error(`${where("held")} is not a list of store hashes`);
      }
      checked.held = held as string[] | null;
    }
    if (entry.pending !== undefined) {
      if (!isCount(entry.pending)) throw new Error(`${where("pending")} is not a count`);
      checked.pending = entry.pending;
    }
    if (entry.failing !== undefined) checked.failing = storePathField(entry.failing, where("failing"));
    if (entry.target !== undefined) {
      if (typeof entry.target !== "string") throw new Error(`${where("target")} is not a string`);
      checked.target = entry.target;
    }
    if (entry.lastSuccessAt !== undefined)
      checked.lastSuccessAt = timeField(entry.lastSuccessAt, where("lastSuccessAt"));
    caches[name] = checked;
  }
  return { version: STATE_VERSION, profile, caches };
}

/** A record that may be absent (null; undefined in files of earlier writers). */
function optional<T>(record: unknown, check: (record: unknown) => T): T | null {
  return record === null || record === undefined ? null : check(record);
}

function checkPushed(record: unknown, what: string): PushedGeneration {
  if (!isObject(record)) throw new Error(`${what} is not an object`);
  const counts = record.counts;
  if (!isObject(counts)) throw new Error(`${what} has no counts`);
  const count = (key: "closure" | "uploaded" | "narBytes") => {
    const value = counts[key];
    if (!isCount(value)) throw new Error(`${what} has no count ${key}`);
    return value;
  };
  const checked: PushedGeneration = {
    generation: generationField(record.generation, what),
    storePath: storePathField(record.storePath, `${what} store path`),
    at: timeField(record.at, what),
    counts: { closure: count("closure"), uploaded: count("uploaded"), narBytes: count("narBytes") },
  };
  for (const key of ["waited", "waitedNarBytes"] as const) {
    const value = counts[key];
    if (value === undefined) continue;
    if (!isCount(value)) throw new Error(`${what} count ${key} is not a count`);
    checked.counts[key] = value;
  }
  return checked;
}

const STATUSES: readonly LastResult["status"][] = ["ok", "failed", "deferred"];

function checkResult(record: unknown, what: string): LastResult {
  if (!isObject(record)) throw new Error(`${what} is not an object`);
  const status = record.status as LastResult["status"];
  if (!STATUSES.includes(status)) throw new Error(`${what} has no status of ${STATUSES.join(", ")}`);
  const result: LastResult = {
    status,
    at: timeField(record.at, what),
    generation: generationField(record.generation, what),
    storePath: storePathField(record.storePath, `${what} store path`),
  };
  if (record.message !== undefined) {
    if (typeof record.message !== "string") throw new Error(`${what} has a message that is not a string`);
    result.message = record.message;
  }
  return result;
}

function storePathField(value: unknown, what: string): StorePath {
  if (typeof value !== "string" || !isStorePath(value)) throw new Error(`${what} is not a valid store path`);
  return value;
}

function generationField(value: unknown, what: string): number | null {
  if (value === null || isCount(value)) return value;
  throw new Error(`${what} has no generation number`);
}

function timeField(value: unknown, what: string): string {
  if (typeof value !== "string" || Number.isNaN(Date.parse(value))) throw new Error(`${what} has no valid time`);
  return value;
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** JSON.parse quotes the start of what it could not parse: no control bytes or mojibake into the journal. */
function printable(message: string): string {
  return message.replace(/[^\x20-\x7e]/g, "?");
}
