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
 */
import { mkdir, open, readFile, rm } from "node:fs/promises";
import { uptime } from "node:os";
import { join } from "node:path";
import { GenpushError } from "./errors.js";

export interface Lock {
  release(): Promise<void>;
}

export interface LockOptions {
  timeoutMs: number;
  onWait?(ownerPid: number): void;
}

/** Who holds a lock, as its file says; what its writer could not know is missing. */
interface Holder {
  pid: number;
  start?: string | undefined;
  boot?: string | undefined;
}

/** A lock file as read: its holder (none when the text names none) and when it was written. */
interface LockFile {
  holder: Holder | undefined;
  mtimeMs: number;
}

const POLL_MS = 200;
/** An unreadable lock may be one an earlier genpush is still writing (it wrote in place). */
const UNREADABLE_GRACE_MS = 10_000;
/** /proc gives a start in ticks and the boot time to the second; a file's mtime is finer. */
const START_SLACK_MS = 2000;

export async function lockProfile(stateDir: string, profile: string, options: LockOptions): Promise<Lock> {
  const dir = join(stateDir, "locks");
  const file = join(dir, `${profile}.lock`);
  const me: Holder = {
    pid: process.pid,
    start: (await procStat(process.pid))?.start,
    boot: await bootId(),
  };
  const deadline = Date.now() + options.timeoutMs;
  let told = false;
  for (;;) {
    try {
      if (await create(dir, file, me)) return { release: () => rm(file, { force: true }) };
    } catch (error) {
      await rm(file, { force: true });
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === "ENOSPC" || code === "EDQUOT" ? "the file system is full" : (error as Error).message;
      throw new GenpushError(`cannot take the lock ${file}: ${why}`, {
        hint: `free space in ${stateDir}; the generation stays pending`,
      });
    }
    const found = await readLock(file);
    if (!found) continue;
    if (!(await isLive(found))) {
      await rm(file, { force: true });
      continue;
    }
    const owner = found.holder?.pid;
    if (Date.now() >= deadline) {
      throw new GenpushError(
        `profile ${profile} is locked by another genpush (pid ${owner ?? "unknown"}) for over ${Math.round(options.timeoutMs / 1000)}s`,
        {
          hint: "let it finish (see `genpush status`), or stop it; the work stays pending",
        },
      );
    }
    if (!told && owner !== undefined) {
      options.onWait?.(owner);
      told = true;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Creates the lock naming us; false when another process holds it. */
async function create(dir: string, file: string, me: Holder): Promise<boolean> {
  await mkdir(dir, { recursive: true });
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, "wx", 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    await handle.writeFile(`${JSON.stringify(me)}\n`);
  } finally {
    await handle.close();
  }
  return true;
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
    const { mtimeMs } = await handle.stat();
    return { holder: parseHolder(await handle.readFile("utf8")), mtimeMs };
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
    return { pid: json.pid, start: str(json.start), boot: str(json.boot) };
  } catch {
    return undefined;
  }
}

async function isLive({ holder, mtimeMs }: LockFile): Promise<boolean> {
  if (!holder) return Date.now() - mtimeMs < UNREADABLE_GRACE_MS;
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
