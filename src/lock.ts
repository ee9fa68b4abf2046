/**
 * One genpush at a time per profile: an exclusive lock file holding the
 * owner's pid. A lock left by a killed process (its pid is gone) is taken
 * over; a live one is waited for, with a message and a bound.
 */
import { mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { GenpushError } from "./errors.js";

export interface Lock {
  release(): Promise<void>;
}

export interface LockOptions {
  timeoutMs: number;
  onWait?(ownerPid: number): void;
}

export async function lockProfile(stateDir: string, profile: string, options: LockOptions): Promise<Lock> {
  const dir = join(stateDir, "locks");
  const file = join(dir, `${profile}.lock`);
  const deadline = Date.now() + options.timeoutMs;
  let told = false;
  for (;;) {
    try {
      if (await create(dir, file)) return { release: () => rm(file, { force: true }) };
    } catch (error) {
      await rm(file, { force: true });
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === "ENOSPC" || code === "EDQUOT" ? "the file system is full" : (error as Error).message;
      throw new GenpushError(`cannot take the lock ${file}: ${why}`, {
        hint: `free space in ${stateDir}; the generation stays pending`,
      });
    }
    const owner = await lockOwner(file);
    // No pid yet may mean its owner is still writing it: stale only once old.
    if (owner === null ? await olderThan(file, 10_000) : !isAlive(owner)) {
      await rm(file, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      throw new GenpushError(
        `profile ${profile} is locked by another genpush (pid ${owner ?? "unknown"}) for over ${Math.round(options.timeoutMs / 1000)}s`,
        {
          hint: "let it finish (see `genpush status`), or stop it; the work stays pending",
        },
      );
    }
    if (!told && owner !== null) {
      options.onWait?.(owner);
      told = true;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Creates the lock holding our pid; false when another process holds it. */
async function create(dir: string, file: string): Promise<boolean> {
  await mkdir(dir, { recursive: true });
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, "wx", 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    await handle.writeFile(`${process.pid}\n`);
  } finally {
    await handle.close();
  }
  return true;
}

async function lockOwner(file: string): Promise<number | null> {
  try {
    const pid = Number.parseInt(await readFile(file, "utf8"), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function olderThan(file: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await stat(file)).mtimeMs > ms;
  } catch {
    return true;
  }
}
