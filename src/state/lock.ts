/**
 * One genpush at a time per profile: an exclusive lock file naming its holder.
 * A lock whose holder is gone is taken over; a live one is waited for, with a
 * message and a bound.
 *
 * A pid alone does not name a process for long: after a crash or a reboot it
 * is given to some other process, and a lock naming it would be waited for
 * until the bound on every trigger. So the file holds the pid, that process's
 * start time (field 22 of /proc/PID/stat, clock ticks since boot) and the boot
 * id, and the lock is live only while a process with that pid and that start
 * time runs on that boot, and has not exited (a zombie still has its pid).
 * The units' ProcSubset=pid hides /proc/sys, so the boot id may be unknown:
 * the start time alone tells then. Where /proc hides the process (hidepid),
 * that the pid exists is all there is to know. A lock of an earlier genpush
 * holds just a pid: that process wrote it only if it had started by then.
 *
 * Taking over must let exactly one in, and a release must remove only its own
 * lock. A lock file appears whole: a hard link to a fully written temp file
 * (link() fails when the lock exists). It is removed only by its holder, after
 * checking it is still its own, or by the one process that claimed that stale
 * file by creating NAME.lock.<its token> the same way (an earlier genpush's
 * lock has no token: its inode number stands in). The claimant removes the lock
 * only if it is still the very file judged stale (same inode, same text).
 * A claim left by a killed process is stale in turn, and taken over alike.
 *
 * A lock that names no holder (empty or unparseable: cut short by a power loss, or an earlier
 * genpush still writing it in place) is live for UNREADABLE_GRACE_MS after its mtime, and stale
 * when its mtime is in the future: the clock ran ahead when it was left, and waiting for the
 * clock to catch up would block every run for as long. A named holder is judged by its process
 * alone, whatever the file's time. Waiting ends at the bound, or at once when the run's signal
 * aborts (a stop): the lock is then not taken, and nothing is changed.
 */
import { randomBytes } from "node:crypto";
import { link, mkdir, open, readdir, readFile, unlink, writeFile } from "node:fs/promises";
import { uptime } from "node:os";
import { basename, join } from "node:path";
import { GenpushError } from "../runtime/errors.js";

export interface Lock {
  release(): Promise<void>;
}

export interface LockOptions {
  timeoutMs: number;
  /** Told once, when the lock is found held: the holder's pid, and the sentence to say about it. */
  onWait?(ownerPid: number, sentence: string): void;
  /** What the lock guards, for messages (default: `profile NAME`). */
  what?: string;
  /** The run's: a stop (SIGTERM, SIGINT) or the run's limit ends the wait at once, with its reason. */
  signal?: AbortSignal;
}

/** Who holds a lock, as its file says; what its writer could not know is missing. */
interface Holder {
  pid: number;
  start?: string | undefined;
  boot?: string | undefined;
  /** names this lock among all others: a stale one's claim is named after it */
  token?: string | undefined;
}

/** A lock file as read: its holder (none when the text names none), and what tells this file from a later one. */
interface LockFile {
  holder: Holder | undefined;
  text: string;
  ino: number;
  mtimeMs: number;
}

/** This process, trying to lock: its token, and the temp file naming it that it links into place. */
interface Claimant {
  token: string;
  temp: string;
}

const POLL_MS = 200;
/** An unreadable lock may be one an earlier genpush is still writing (it wrote in place). */
const UNREADABLE_GRACE_MS = 10_000;
/**
 * An unreadable lock dated further ahead of the clock than this was not written just now: it
 * was left while the clock ran ahead (an empty file from a power loss), and is stale. (A file's
 * time lags the clock a little, never leads it; the slack covers rounding.)
 */
const FUTURE_SLACK_MS = 1000;
/** /proc gives a start in ticks and the boot time to the second; a file's mtime is finer. */
const START_SLACK_MS = 2000;

export async function lockProfile(stateDir: string, profile: string, options: LockOptions): Promise<Lock> {
  const dir = join(stateDir, "locks");
  const file = join(dir, `${profile}.lock`);
  const what = options.what ?? `profile ${profile}`;
  const token = randomBytes(8).toString("hex");
  const me = { pid: process.pid, start: (await procStat(process.pid))?.start, boot: await bootId(), token };
  const claimant: Claimant = { token, temp: join(dir, `.${profile}.lock.${token}`) };
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await writeFile(claimant.temp, `${JSON.stringify(me)}\n`, { mode: 0o644 });
    const deadline = Date.now() + options.timeoutMs;
    let told = false;
    for (;;) {
      stopped(options.signal);
      if (await linked(claimant.temp, file)) {
        // Housekeeping, with the lock held: a failure here must not cost the lock.
        await sweep(dir, profile, claimant).catch(() => {});
        return { release: () => removeIfOurs(file, token) };
      }
      const found = await readLock(file);
      if (!found) continue;
      const live = await isLive(found);
      if (!live && (await removeStale(file, found, claimant))) continue;
      // Live, or stale and another process is taking it over: wait.
      const owner = found.holder?.pid;
      if (Date.now() >= deadline) {
        throw new GenpushError(
          `${what} is locked by another genpush (pid ${owner ?? "unknown"}) for over ${Math.round(options.timeoutMs / 1000)}s`,
          { hint: "let it finish (see `genpush status`), or stop it; the work stays pending" },
        );
      }
      if (!told && live && owner !== undefined) {
        options.onWait?.(owner, `waiting for another genpush (pid ${owner}) to finish with ${what}`);
        told = true;
      }
      await pause(POLL_MS, options.signal);
    }
  } catch (error) {
    if (error instanceof GenpushError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const full = code === "ENOSPC" || code === "EDQUOT";
    throw new GenpushError(
      `cannot take the lock ${file}: ${full ? "the file system is full" : (error as Error).message}`,
      {
        hint: `${full ? "free space in" : "check the permissions of"} ${stateDir}; the work stays pending`,
      },
    );
  } finally {
    // Held, the lock is the same file under its own name; and a temp file left behind is swept later.
    await unlink(claimant.temp).catch(() => {});
  }
}

/** Throws the reason a stopped run was stopped for (a GenpushError of run.ts's). */
function stopped(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  throw reason instanceof GenpushError
    ? reason
    : new GenpushError("stopped while waiting for the lock", { hint: "the work stays pending for the next run" });
}

/** `ms`, or less when `signal` aborts meanwhile. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Links `temp` to `target`; false when `target` exists. */
async function linked(temp: string, target: string): Promise<boolean> {
  try {
    await link(temp, target);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

/**
 * Removes the stale lock (or claim) at `path` if it is still the file judged stale;
 * false when another process has claimed it and is at it.
 */
async function removeStale(path: string, stale: LockFile, claimant: Claimant): Promise<boolean> {
  const claim = `${path}.${stale.holder?.token ?? `i${stale.ino}`}`;
  if (!(await linked(claimant.temp, claim))) {
    const other = await readLock(claim);
    if (other && (await isLive(other))) return false;
    // Gone already, or its claimant was killed at it.
    if (other) await removeStale(claim, other, claimant);
    return true;
  }
  try {
    const now = await readLock(path);
    if (now && now.ino === stale.ino && now.text === stale.text) await unlinkQuiet(path);
  } finally {
    await removeIfOurs(claim, claimant.token);
  }
  return true;
}

/** Temp files and claims of killed genpush runs, left in the lock directory. */
async function sweep(dir: string, profile: string, claimant: Claimant): Promise<void> {
  const leftover = new RegExp(`^\\.?${profile.replaceAll(".", "\\.")}\\.lock(\\.([0-9a-f]{16}|i\\d+))+$`);
  for (const name of await readdir(dir)) {
    if (!leftover.test(name) || name === basename(claimant.temp)) continue;
    const found = await readLock(join(dir, name));
    if (found && !(await isLive(found))) await removeStale(join(dir, name), found, claimant);
  }
}

async function removeIfOurs(path: string, token: string): Promise<void> {
  if ((await readLock(path))?.holder?.token === token) await unlinkQuiet(path);
}

async function unlinkQuiet(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}

/** The lock file, read and stat'ed through one handle (the same file); undefined when there is none. */
async function readLock(path: string): Promise<LockFile | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    const { ino, mtimeMs } = await handle.stat();
    const text = await handle.readFile("utf8");
    return { holder: parseHolder(text), text, ino, mtimeMs };
  } finally {
    await handle.close();
  }
}

function parseHolder(text: string): Holder | undefined {
  // An earlier genpush wrote its pid and nothing else.
  if (/^\d+\n?$/.test(text)) {
    const pid = Number.parseInt(text, 10);
    return pid > 0 ? { pid } : undefined;
  }
  try {
    const json = JSON.parse(text);
    if (!Number.isSafeInteger(json?.pid) || json.pid <= 0) return undefined;
    const str = (v: unknown) => (typeof v === "string" ? v : undefined);
    // A token becomes part of a file name: only what genpush writes.
    const token = /^[0-9a-f]{16}$/.test(json.token) ? json.token : undefined;
    return { pid: json.pid, start: str(json.start), boot: str(json.boot), token };
  } catch {
    return undefined;
  }
}

async function isLive({ holder, mtimeMs }: LockFile): Promise<boolean> {
  if (!holder) {
    const age = Date.now() - mtimeMs;
    return age >= -FUTURE_SLACK_MS && age < UNREADABLE_GRACE_MS;
  }
  const boot = await bootId();
  if (holder.boot && boot && holder.boot !== boot) return false;
  const proc = await procStat(holder.pid);
  if (!proc) return exists(holder.pid);
  if (proc.state === "Z") return false;
  if (holder.start !== undefined) return proc.start === holder.start;
  return startedAtMs(proc.start) <= mtimeMs + START_SLACK_MS;
}

/** State and start time (fields 3 and 22 of /proc/PID/stat); undefined when /proc has no such process to show. */
async function procStat(pid: number): Promise<{ state: string; start: string } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // The command name, field 2, is in parentheses and may hold spaces and parentheses itself.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const [state, start] = [fields[0], fields[19]];
    return state && start ? { state, start } : undefined;
  } catch {
    return undefined;
  }
}

/** Wall-clock ms of a start in clock ticks since boot: USER_HZ is 100 on every Linux Nix runs on. */
function startedAtMs(ticks: string): number {
  return Date.now() - uptime() * 1000 + Number(ticks) * 10;
}

let boot: Promise<string | undefined> | undefined;
function bootId(): Promise<string | undefined> {
  boot ??= readFile("/proc/sys/kernel/random/boot_id", "utf8").then(
    (id) => id.trim() || undefined,
    () => undefined,
  );
  return boot;
}

function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
