/**
 * genpush's cache directory, for what a run may reuse and a later run can do without: the
 * parsed configuration (config/source.ts) and Node's compiled code (compile-cache.ts).
 * systemd's CacheDirectory= where a service has one, else the XDG cache.
 */
import { join } from "node:path";

export function cacheDirectory(env: NodeJS.ProcessEnv, home: string): string {
  return env.CACHE_DIRECTORY?.split(":")[0] || join(env.XDG_CACHE_HOME || join(home, ".cache"), "genpush");
}
