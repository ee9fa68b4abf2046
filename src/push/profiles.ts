/**
 * Profiles as Nix makes them: `DIR/NAME -> NAME-N-link -> /nix/store/...`.
 * Resolving one yields a Generation, or says the profile does not exist yet
 * (nothing to do) — a broken profile is an error for that profile only.
 */
import { lstat, readFile, readlink, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ProfileConfig } from "../config/config.js";
import { hostSystem } from "../nix/cli.js";
import { isStorePath, STORE_DIR, type StorePath } from "../nix/store-path.js";
import { GenpushError } from "../runtime/errors.js";

export interface Generation {
  profile: string;
  /** The generation number from `NAME-N-link`, or null when the profile links to the store directly. */
  number: number | null;
  storePath: StorePath;
  system: string;
}

const MAX_HOPS = 40;
const SYSTEM_RE = /^[a-z0-9_]+-[a-z0-9_]+$/;
/** `system-42-link`: the number of the first such hop is the generation's. */
const GENERATION_LINK_RE = /-(\d+)-link$/;

/** The current generation, or null when the profile does not exist yet. */
export async function currentGeneration(profile: ProfileConfig): Promise<Generation | null> {
  try {
    await lstat(profile.path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw profileError(profile, `cannot read ${profile.path}: ${(error as Error).message}`);
  }
  return resolveGeneration(profile, profile.path);
}

/** Generation `n` of a profile, from its `NAME-N-link`. */
export async function numberedGeneration(profile: ProfileConfig, n: number): Promise<Generation> {
  const link = join(dirname(profile.path), `${basename(profile.path)}-${n}-link`);
  try {
    await lstat(link);
  } catch {
    throw profileError(
      profile,
      `generation ${n} does not exist (no ${link})`,
      "list generations with `nix-env --list-generations --profile PATH`",
    );
  }
  return resolveGeneration(profile, link);
}

async function resolveGeneration(profile: ProfileConfig, start: string): Promise<Generation> {
  let current = start;
  let number: number | null = null;
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const match = GENERATION_LINK_RE.exec(basename(current));
    if (match && number === null) number = Number(match[1]);
    const storePath = storePathOf(current);
    if (storePath) {
      if (!(await exists(storePath))) {
        throw profileError(profile, `${start} is a dangling link: ${storePath} does not exist`, DANGLING_HINT);
      }
      return { profile: profile.name, number, storePath, system: await systemOf(profile, storePath) };
    }
    let target: string;
    try {
      target = await readlink(current);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EINVAL") {
        throw profileError(
          profile,
          current === start
            ? `${start} is not a link into ${STORE_DIR}`
            : `${start} points outside ${STORE_DIR} (to ${current})`,
          "a profile is the link Nix switches, such as /nix/var/nix/profiles/system",
        );
      }
      if (code === "ENOENT")
        throw profileError(profile, `${start} is a dangling link: ${current} does not exist`, DANGLING_HINT);
      throw profileError(profile, `cannot read link ${current}: ${(error as Error).message}`);
    }
    current = resolve(dirname(current), target);
    if (current.startsWith(`${STORE_DIR}/`) && !storePathOf(current)) {
      throw profileError(profile, `${start} points to ${current}, which is not a valid store path`);
    }
  }
  throw profileError(profile, `${start} is a loop of links (more than ${MAX_HOPS} hops)`);
}

/** `/nix/store/<hash>-<name>[/...]` -> the store path, if it exists. */
function storePathOf(path: string): StorePath | null {
  if (!path.startsWith(`${STORE_DIR}/`)) return null;
  const top = path.split("/").slice(0, 4).join("/");
  return isStorePath(top) ? top : null;
}

async function systemOf(profile: ProfileConfig, storePath: StorePath): Promise<string> {
  if (profile.system) return profile.system;
  let text: string;
  try {
    text = await readFile(join(storePath, "system"), "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return hostSystem();
    throw profileError(profile, `cannot read ${storePath}/system: ${(error as Error).message}`);
  }
  const system = text.trim();
  if (!SYSTEM_RE.test(system)) {
    throw profileError(
      profile,
      `${storePath}/system holds \`${system.slice(0, 40)}\`, not a Nix system`,
      "set `system:` on the profile to override it",
    );
  }
  return system;
}

const DANGLING_HINT = "the generation was probably garbage-collected; switch to a generation that exists";

function profileError(profile: ProfileConfig, message: string, hint?: string): GenpushError {
  return new GenpushError(`profile ${profile.name}: ${message}`, hint ? { hint } : {});
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Wait until the profile's directory has not changed for `quietMs` (at most
 * `maxMs`): Nix writes a switch as several links and renames there, and the
 * path unit starts genpush at the first, so a run can look before the last.
 * An event while the service runs starts no second run (systemd is not watching),
 * so the run looks again once the directory is still.
 */
export async function profileDirectoryQuiet(profile: ProfileConfig, quietMs = 200, maxMs = 2000): Promise<void> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    let changed: number;
    try {
      changed = (await stat(dirname(profile.path))).mtimeMs;
    } catch {
      return;
    }
    const wait = Math.min(changed + quietMs - Date.now(), deadline - Date.now());
    if (wait <= 0) return;
    await sleep(wait);
  }
}
