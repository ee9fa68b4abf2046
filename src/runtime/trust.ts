/**
 * Who may change what genpush acts on. Run as root, genpush reads a
 * configuration that names programs to run and secret files, and a state
 * directory (with the push queue) that decides what is uploaded: anyone who
 * can change one of them can make root run their program, read a file of
 * their choosing into a request, or skip a generation. So, as sshd's
 * StrictModes and sudo do, genpush uses such a file or directory only when no
 * one else can change it:
 *
 *   - it, and every directory on the way to it, is owned by a trusted user
 *     (root; for a user's genpush, root or that user) and not writable by its
 *     group or by others;
 *   - except a directory with the sticky bit (/tmp, /nix/store: root:nixbld
 *     1775) on the way, whose entry on the way is owned by a trusted user:
 *     others may add entries there but not replace that one;
 *   - symbolic links are followed: the link is an entry of its directory (the
 *     rules above hold for it, its own mode does not count), and its target
 *     is checked the same way from its own directory on.
 *
 * A path that does not exist has nothing to trust yet: whoever reads or
 * creates it reports that. Nor has one this process may not look into (a
 * directory on the way it cannot search, EACCES): it cannot open it either,
 * so whoever reads it reports that, or, for a cache, does without. Cheap: one
 * lstat per component.
 */
import type { Stats } from "node:fs";
import { lstat, readlink } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { UsageError } from "./errors.js";

/** Links followed at most on one path, as the kernel's ELOOP limit. */
const MAX_LINKS = 40;

export interface Distrust {
  /** The file or directory on the way that someone else can change. */
  culprit: string;
  /** Who can, in words: "is owned by uid 65534", "is writable by anyone (mode 0777)". */
  why: string;
}

/** The users trusted by a genpush running as `uid`: root, and that user. */
export function trustedOwners(uid: number): ReadonlySet<number> {
  return new Set([0, uid]);
}

/** What makes `path` changeable by someone other than the trusted `owners`; undefined if nothing does. */
export async function distrust(path: string, owners: ReadonlySet<number>): Promise<Distrust | undefined> {
  const pending = components(resolve(path));
  const root = await lstat("/");
  let dir = "/";
  let dirStats = root;
  const atRoot = ownerOrMode("/", root, owners, pending.length > 0);
  if (atRoot) return atRoot;
  let links = 0;
  for (let name = pending.shift(); name !== undefined; name = pending.shift()) {
    if (name === "..") {
      // Every ancestor of `dir` was checked on the way down to it.
      dir = dirname(dir);
      dirStats = await lstat(dir);
      continue;
    }
    const entry = join(dir, name);
    // Not there, or not to be looked at by this user: whatever reads it will say so.
    const stats = await lstatIf(entry, ["ENOENT", "ENOTDIR", "EACCES"]);
    if (!stats) return undefined;
    // `dir` passed: writable by others only when sticky, where an entry of another user is theirs to replace.
    if (dirStats.mode & 0o022 && !owners.has(stats.uid)) {
      return { culprit: entry, why: `is owned by uid ${stats.uid}, in ${dir}, a directory others can write to` };
    }
    if (stats.isSymbolicLink()) {
      links += 1;
      if (links > MAX_LINKS) return { culprit: path, why: `goes through more than ${MAX_LINKS} symbolic links` };
      const target = await readlink(entry);
      if (isAbsolute(target)) {
        dir = "/";
        dirStats = root;
      }
      pending.unshift(...components(target));
      continue;
    }
    const last = pending.length === 0;
    if (!last && !stats.isDirectory()) return undefined;
    const problem = ownerOrMode(entry, stats, owners, !last);
    if (problem) return problem;
    dir = entry;
    dirStats = stats;
  }
  return undefined;
}

/**
 * What makes an entry of `dir` changeable by others, `dir` itself being
 * trusted (and no directory others can write to): the entries in `names` that
 * exist, parents listed before their children ("queue" before "queue/new").
 */
export async function distrustWithin(
  dir: string,
  names: readonly string[],
  owners: ReadonlySet<number>,
): Promise<Distrust | undefined> {
  for (const name of names) {
    const entry = join(dir, name);
    const stats = await lstatIf(entry, ["ENOENT", "ENOTDIR"]);
    if (!stats) continue;
    const problem = stats.isSymbolicLink() ? await distrust(entry, owners) : ownerOrMode(entry, stats, owners, false);
    if (problem) return problem;
  }
  return undefined;
}

/** `entry`'s own status, or undefined where lstat fails with one of `absent`. */
async function lstatIf(entry: string, absent: readonly string[]): Promise<Stats | undefined> {
  try {
    return await lstat(entry);
  } catch (error) {
    if (absent.includes((error as NodeJS.ErrnoException).code ?? "")) return undefined;
    throw error;
  }
}

/**
 * Throws a UsageError (exit 2) naming `what` and `path` when someone other
 * than the trusted owners of a genpush running as `uid` can change it, or
 * the entries `within` it that exist (distrustWithin).
 */
export async function assertTrusted(path: string, what: string, uid: number, within: readonly string[] = []) {
  const owners = trustedOwners(uid);
  const problem = (await distrust(path, owners)) ?? (await distrustWithin(path, within, owners));
  if (problem) throw distrustError(path, what, problem, uid);
}

/** The sentence for `what` at `path`, e.g. "configuration file /etc/genpush/config.yaml can be changed by others: ...". */
export function distrustMessage(path: string, what: string, { culprit, why }: Distrust): string {
  const where = culprit === path ? "it" : culprit;
  return `${what} ${path} can be changed by others: ${where} ${why}`;
}

/** What to run about it: root can make the culprit its own; a user can make it unwritable, or replace it. */
export function distrustHint({ culprit }: Distrust, uid: number): string {
  const whom = uid === 0 ? "root only" : "root or you only";
  const fix =
    uid === 0
      ? `\`chown root:root ${culprit} && chmod go-w ${culprit}\``
      : `\`chmod go-w ${culprit}\` if it is yours, else a copy of your own in its place`;
  return `genpush uses only files and directories that ${whom} can change; run ${fix}`;
}

function distrustError(path: string, what: string, problem: Distrust, uid: number): UsageError {
  return new UsageError(distrustMessage(path, what, problem), distrustHint(problem, uid));
}

function components(path: string): string[] {
  return path.split("/").filter((part) => part !== "" && part !== ".");
}

/** An untrusted owner, or a group or others that can write (a directory on the way may instead be sticky). */
function ownerOrMode(path: string, stats: Stats, owners: ReadonlySet<number>, onTheWay: boolean): Distrust | undefined {
  if (!owners.has(stats.uid)) return { culprit: path, why: `is owned by uid ${stats.uid}` };
  if (onTheWay && stats.mode & 0o1000) return undefined;
  const mode = `mode ${(stats.mode & 0o7777).toString(8).padStart(4, "0")}`;
  if (stats.mode & 0o002) return { culprit: path, why: `is writable by anyone (${mode})` };
  if (stats.mode & 0o020) return { culprit: path, why: `is writable by its group, gid ${stats.gid} (${mode})` };
  return undefined;
}
