/**
 * The push queue: store paths recorded by `genpush enqueue` (Nix's post-build
 * hook, a Hydra RunCommand, a script) for the next `genpush push` to upload.
 *
 * In the state directory:
 *   queue/new/ID.json       entries just recorded: what genpush-queue.path waits for
 *                           (DirectoryNotEmpty=)
 *   queue/pending/ID.json   entries a push has taken up; they stay here until every
 *                           cache serving them has them, so a failed push does not
 *                           start the queue's unit again at once (only a new entry,
 *                           the retry timer or the next push does)
 *   queue/roots/ID/         indirect GC roots holding the entry's paths until then
 *   queue/tmp/              where an entry is written before it appears whole
 *
 * Recording contacts no cache and builds nothing (`nix-store --realise --add-root`
 * with no substituters; `nix-instantiate --add-root` for a `.drv`, held as itself):
 * the roots first, then the entry, written in tmp/ and renamed into new/, so a
 * kill at any moment leaves either a whole entry or none (roots of an entry
 * that never appeared are removed by a later push). Hooks of parallel builds
 * each write their own file: nothing is shared, nothing lost. An entry leaves
 * the queue (file first, then its roots) only once every cache serving it has
 * every path of its closure that the cache takes.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { cacheIdentity } from "../caches/identity.js";
import type { CacheConfig } from "../config/config.js";
import { addIndirectRoots } from "../nix/cli.js";
import { isStorePath, type StorePath } from "../nix/store-path.js";
import { GenpushError } from "../runtime/errors.js";
import { writeFileAtomic } from "../state/atomic-file.js";
import { checkStateDir, claimStateDir } from "../state/state-dir.js";

/** Entries in the queue at most: enqueue refuses more (is anything draining it?). */
export const QUEUE_LIMIT = 100_000;
/** Paths one entry may record (a derivation's outputs; a Hydra build's). */
export const ENTRY_PATHS_LIMIT = 10_000;
/** Roots without an entry this old belong to an enqueue that was killed. */
const ORPHAN_ROOTS_MS = 60 * 60 * 1000;

export interface CacheDone {
  cache: string;
  /** The cache's identity when it got the paths (caches/identity.ts): a moved cache has nothing. */
  target: string;
}

export interface QueueEntry {
  id: string;
  enqueuedAt: string;
  paths: StorePath[];
  /** The system the paths were built for, where the enqueuer knew it (a derivation's, Hydra's). */
  system: string | null;
  /** The derivation that built them, if known. */
  drv: StorePath | null;
  /** Caches that have every path of the entry's closure they take. */
  done: CacheDone[];
}

export interface NewEntry {
  paths: readonly StorePath[];
  system?: string | null;
  drv?: StorePath | null;
}

export function queueDirs(stateDir: string) {
  const root = join(stateDir, "queue");
  return {
    root,
    incoming: join(root, "new"),
    pending: join(root, "pending"),
    roots: join(root, "roots"),
    tmp: join(root, "tmp"),
  };
}

const ENTRY_FILE = /^(\d{13}-\d+-[0-9a-f]{8})\.json$/;

/** Record `entry`; returns its id. Contacts no cache. */
export async function enqueue(stateDir: string, entry: NewEntry): Promise<string> {
  if (entry.paths.length === 0) throw new GenpushError("nothing to enqueue: no store paths given");
  if (entry.paths.length > ENTRY_PATHS_LIMIT) {
    throw new GenpushError(`one entry may hold at most ${ENTRY_PATHS_LIMIT} paths, not ${entry.paths.length}`, {
      hint: "enqueue them in several calls",
    });
  }
  await claimStateDir(stateDir);
  const dirs = queueDirs(stateDir);
  try {
    await Promise.all(
      [dirs.incoming, dirs.pending, dirs.roots, dirs.tmp].map((d) => mkdir(d, { recursive: true, mode: 0o755 })),
    );
    const held = (await entryNames(dirs.incoming)).length + (await entryNames(dirs.pending)).length;
    if (held >= QUEUE_LIMIT) {
      throw new GenpushError(`the push queue is full: it holds ${held} entries (at most ${QUEUE_LIMIT})`, {
        hint: "nothing has drained it: check `genpush status` and `systemctl status genpush-queue.service`, then run `genpush push --queue`",
      });
    }
    const id = `${Date.now()}-${process.pid}-${randomBytes(4).toString("hex")}`;
    const rootDir = join(dirs.roots, id);
    await mkdir(rootDir);
    const record: QueueEntry = {
      id,
      enqueuedAt: new Date().toISOString(),
      paths: [...entry.paths],
      system: entry.system ?? null,
      drv: entry.drv ?? null,
      done: [],
    };
    try {
      await addIndirectRoots(join(rootDir, "path"), entry.paths);
      await writeEntry(dirs.tmp, dirs.incoming, record);
    } catch (error) {
      await rm(rootDir, { recursive: true, force: true }).catch(() => {});
      throw error;
    }
    return id;
  } catch (error) {
    throw writeError(error, stateDir);
  }
}

/**
 * Move what was recorded since into pending/, and return every pending entry, oldest first.
 * Unreadable entries are set aside (renamed *.broken) with a warning; roots left by a killed
 * enqueue are removed.
 */
export async function takeUpQueue(stateDir: string, warn: (message: string) => void): Promise<QueueEntry[]> {
  const dirs = queueDirs(stateDir);
  for (const name of await entryNames(dirs.incoming)) {
    await rename(join(dirs.incoming, name), join(dirs.pending, name));
  }
  const entries: QueueEntry[] = [];
  for (const name of (await entryNames(dirs.pending)).sort()) {
    const file = join(dirs.pending, name);
    const entry = await readEntry(file);
    if (entry === "broken") {
      warn(`${file} is not a queue entry genpush can read; set aside as ${name}.broken`);
      await rename(file, `${file}.broken`);
    } else if (entry !== "gone") entries.push(entry);
  }
  await removeOrphanRoots(dirs, new Set(entries.map((e) => e.id)));
  return entries;
}

/** Every entry in the queue (recorded and pending), oldest first, without taking them up. */
export async function listQueue(stateDir: string): Promise<QueueEntry[]> {
  // Read without a claim (status, a dry run): the entries name what would be pushed, so only root's count.
  await checkStateDir(stateDir);
  const dirs = queueDirs(stateDir);
  const files = [
    ...(await entryNames(dirs.incoming)).map((name) => join(dirs.incoming, name)),
    ...(await entryNames(dirs.pending)).map((name) => join(dirs.pending, name)),
  ];
  const entries = await Promise.all(files.map((file) => readEntry(file)));
  return entries.filter((e): e is QueueEntry => typeof e === "object").sort((a, b) => a.id.localeCompare(b.id));
}

/** Whether the queue holds anything: two directory listings, so a push with nothing queued stays cheap. */
export async function queueHasEntries(stateDir: string): Promise<boolean> {
  const dirs = queueDirs(stateDir);
  return (await entryNames(dirs.incoming)).length > 0 || (await entryNames(dirs.pending)).length > 0;
}

/** Whether `cache`, where it is now (its identity), has the entry's closure. */
export function entryHas(entry: QueueEntry, cache: CacheConfig): boolean {
  const target = cacheIdentity(cache);
  return entry.done.some((d) => d.cache === cache.name && d.target === target);
}

/** Record that `done` caches now have a pending entry. */
export async function updateEntry(stateDir: string, entry: QueueEntry): Promise<void> {
  const dirs = queueDirs(stateDir);
  await writeEntry(dirs.tmp, dirs.pending, entry);
}

/** The entry leaves the queue: its file first, then its roots (a crash between leaves only roots, removed later). */
export async function removeEntry(stateDir: string, entry: QueueEntry): Promise<void> {
  const dirs = queueDirs(stateDir);
  await rm(join(dirs.pending, `${entry.id}.json`), { force: true });
  await rm(join(dirs.roots, entry.id), { recursive: true, force: true });
}

async function entryNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => ENTRY_FILE.test(name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

/** An entry as read; "gone" when another push took it away meanwhile, "broken" when it is no entry. */
async function readEntry(file: string): Promise<QueueEntry | "gone" | "broken"> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "gone";
    throw error;
  }
  try {
    const data: unknown = JSON.parse(text);
    return isEntry(data) ? data : "broken";
  } catch {
    return "broken";
  }
}

function isEntry(data: unknown): data is QueueEntry {
  if (typeof data !== "object" || data === null) return false;
  const e = data as Record<string, unknown>;
  return (
    typeof e.id === "string" &&
    typeof e.enqueuedAt === "string" &&
    Array.isArray(e.paths) &&
    e.paths.every((p) => typeof p === "string" && isStorePath(p)) &&
    (e.system === null || typeof e.system === "string") &&
    (e.drv === null || (typeof e.drv === "string" && isStorePath(e.drv))) &&
    Array.isArray(e.done) &&
    e.done.every(
      (d) => typeof d === "object" && d !== null && typeof d.cache === "string" && typeof d.target === "string",
    )
  );
}

/** Written in `tmp`, synced, renamed into `dir`, and `dir` synced: it appears whole or not at all. */
function writeEntry(tmp: string, dir: string, entry: QueueEntry): Promise<void> {
  return writeFileAtomic(join(dir, `${entry.id}.json`), `${JSON.stringify(entry)}\n`, 0o600, tmp);
}

async function removeOrphanRoots(dirs: ReturnType<typeof queueDirs>, live: ReadonlySet<string>): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dirs.roots);
  } catch {
    return;
  }
  const recorded = new Set((await entryNames(dirs.incoming)).map((name) => name.replace(/\.json$/, "")));
  for (const id of names) {
    if (live.has(id) || recorded.has(id)) continue;
    const at = Number(id.split("-")[0]);
    // An enqueue under way makes its roots before its entry appears.
    if (!(Date.now() - at > ORPHAN_ROOTS_MS)) continue;
    const info = await stat(join(dirs.roots, id)).catch(() => undefined);
    if (info?.isDirectory()) await rm(join(dirs.roots, id), { recursive: true, force: true });
  }
}

function writeError(error: unknown, stateDir: string): unknown {
  if (error instanceof GenpushError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new GenpushError(`cannot record the paths in the push queue: the file system of ${stateDir} is full`, {
      hint: `free space in ${stateDir}; the paths were not queued`,
    });
  }
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
    return new GenpushError(`cannot record the paths in the push queue: ${stateDir} is not writable (${code})`, {
      hint: "run it as the user whose state directory it is (Nix runs post-build-hook as root: /var/lib/genpush)",
    });
  }
  return error;
}
