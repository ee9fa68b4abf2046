/**
 * A push with no configuration file, or a cache added for one run: `push --to STORE_URI`
 * (repeatable), `--signing-key FILE` for those caches, `--profile-path PATH` for a profile
 * link of your choosing. The options become configuration as a file would give it, checked
 * by the same validation; a `--to` Nix could not use is refused naming the option.
 */
import { basename, resolve } from "node:path";
import { NIX_SYSTEMS } from "../nix/systems.js";
import { UsageError } from "../runtime/errors.js";
import { storeUriProblem } from "./store-uri.js";

export interface CommandLineConfig {
  to: string[];
  signingKey?: string;
  profilePath?: string;
}

/** Refuse a `--to` Nix could not use, naming the option (exit 2). */
export function checkCommandLine({ to }: CommandLineConfig): void {
  for (const uri of to) {
    const problem = storeUriProblem(uri);
    if (problem) throw new UsageError(`--to \`${uri}\`: ${problem.message}`, problem.hint);
  }
}

/** The configuration a file gave (or none), with what the command line adds or replaces. */
export function withCommandLine(data: unknown, options: CommandLineConfig): unknown {
  const file = (typeof data === "object" && data !== null && !Array.isArray(data) ? data : {}) as Record<
    string,
    unknown
  >;
  const fileCaches = Array.isArray(file.caches) ? file.caches : [];
  const taken = new Set(fileCaches.map((cache) => (cache as { name?: unknown })?.name));
  const added = options.to.map((store) => {
    let name = cacheName(store);
    while (taken.has(name)) name = `${name}-to`;
    taken.add(name);
    return {
      name,
      type: "nix",
      // A cache named on the command line takes whatever is pushed to it.
      systems: NIX_SYSTEMS,
      store,
      ...(options.signingKey ? { signingKeyFile: resolve(options.signingKey) } : {}),
    };
  });
  return {
    ...file,
    ...(added.length > 0 || file.caches !== undefined ? { caches: [...fileCaches, ...added] } : {}),
    ...(options.profilePath ? { profiles: [profileFor(options.profilePath)] } : {}),
  };
}

/** A readable name for a cache known only by its URI: `http://cache.lan:8080` is `cache.lan-8080`. */
export function cacheName(store: string): string {
  const where = store
    .replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//, "")
    .replace(/\?.*$/, "")
    .replace(/[^A-Za-z0-9._-]+/g, "-")
    .replace(/^[-._]+|-+$/g, "")
    .slice(0, 64);
  return where || "to";
}

function profileFor(path: string): { name: string; path: string } {
  const name =
    basename(path)
      .replace(/[^A-Za-z0-9._-]+/g, "-")
      .replace(/^[-._]+/, "") || "profile";
  return { name: name.slice(0, 64), path: resolve(path) };
}
