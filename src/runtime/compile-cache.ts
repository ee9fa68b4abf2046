/**
 * Node's on-disk cache of compiled code (Node >= 22.1: module.enableCompileCache), in
 * genpush's cache directory: a run then starts from V8's code instead of parsing and
 * compiling its modules again, about 30 ms of every push's start on a small machine.
 *
 * V8 trusts what it reads from there as code, so the cache is used only where nobody but
 * root and this user can change it (trust.ts), as the configuration's parse cache is. It
 * holds one directory for this build of genpush under this Node (about 1 MiB): one of any
 * other build or Node found beside it is removed, so an upgrade does not leave the last
 * one's behind. Anything that fails here (Node 20, a HOME that does not exist, a full or
 * read-only disk) leaves the run to compile as it would have: it is a cache only. Node's own
 * NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import module from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";
import { cacheDirectory } from "./cache-dir.js";
import { distrust, trustedOwners } from "./trust.js";

/** module.enableCompileCache: what it reports has `directory` when the cache is on. */
type EnableCompileCache = (dir: string) => unknown;

/** The folder of genpush's cache directory that holds the compile caches, one per build and Node. */
export const COMPILE_CACHE = "compile-cache";

export interface CompileCacheOptions {
  env?: NodeJS.ProcessEnv;
  home?: string;
  uid?: number;
  /** Node's module.enableCompileCache (the default); null: none, as before Node 22.1. */
  enable?: EnableCompileCache | null | undefined;
}

/**
 * Turn the cache on for the modules loaded from now on, for the build at `entry` (the CLI's
 * own file): the directory it is in, once it is on; undefined where it is not usable.
 */
export async function useCompileCache(
  entry: string,
  {
    env = process.env,
    home = homedir(),
    uid = process.getuid?.() ?? 0,
    enable = (module as typeof module & { enableCompileCache?: EnableCompileCache }).enableCompileCache,
  }: CompileCacheOptions = {},
): Promise<string | undefined> {
  if (!enable || env.NODE_DISABLE_COMPILE_CACHE) return undefined;
  const owners = trustedOwners(uid);
  const cache = cacheDirectory(env, home);
  const root = join(cache, COMPILE_CACHE);
  const build = createHash("sha256").update(`${entry}\0${process.version}\0${process.arch}`).digest("hex").slice(0, 16);
  const dir = join(root, build);
  try {
    // Nothing is made where others could change it, and only genpush's own directories are (as
    // for the parse cache: where ~/.cache exists): a HOME that does not exist (a Nix build's
    // /homeless-shelter) stays that way.
    if (await distrust(cache, owners)) return undefined;
    for (const own of [cache, root, dir]) mkdirIfMissing(own);
    if (await distrust(dir, owners)) return undefined;
    for (const other of readdirSync(root)) {
      if (other !== build) rmSync(join(root, other), { recursive: true, force: true });
    }
    // Node says where the cache went; nothing (or no directory) where it failed or is turned off.
    const on = enable(dir) as { directory?: string } | undefined;
    return on?.directory ? dir : undefined;
  } catch {
    return undefined;
  }
}

function mkdirIfMissing(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
}
