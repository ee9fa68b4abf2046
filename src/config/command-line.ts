/**
 * A push with no configuration file, or a cache added for one run: `push --to STORE_URI`
 * (repeatable), `--signing-key FILE` for those caches, `--profile-path PATH` for a profile
 * link of your choosing. `status`, `verify` and `diff` take the same options with the same
 * meaning, so they see what such a push did. The options become configuration as a file
 * would give it, checked by the same validation; a `--to` Nix could not use, or a
 * `--profile-path` that does not exist, is refused naming the option.
 */
import { lstatSync, readdirSync, readlinkSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { STORE_DIR } from "../nix/store-path.js";
import { NIX_SYSTEMS } from "../nix/systems.js";
import { UsageError } from "../runtime/errors.js";
import { closest } from "./did-you-mean.js";
import { credentialsIn, storeUriProblem } from "./store-uri.js";

export interface CommandLineConfig {
  to: string[];
  signingKey?: string;
  profilePath?: string;
}

/**
 * Refuse a `--to` Nix could not use, and a `--profile-path` that does not exist, naming the
 * option (exit 2): a profile the user named is not "not yet" as a default one is, but a typo
 * a script would otherwise never notice.
 */
export function checkCommandLine({ to, profilePath }: CommandLineConfig): void {
  for (const uri of to) {
    // One with a login in it is refused where every store URI is checked (config.ts), shown masked.
    if (credentialsIn(uri)) continue;
    const problem = storeUriProblem(uri);
    if (problem) throw new UsageError(`--to \`${uri}\`: ${problem.message}`, problem.hint);
  }
  if (profilePath !== undefined && !linkExists(resolve(profilePath))) {
    const path = resolve(profilePath);
    const guess = closest(basename(path), entries(dirname(path)));
    throw new UsageError(
      `--profile-path \`${profilePath}\`: ${path} does not exist${guess ? `; did you mean ${join(dirname(path), guess)}?` : ""}`,
      "name a profile link that exists, such as ~/.nix-profile or /nix/var/nix/profiles/system (`nix-env --list-generations --profile PATH` lists its generations)",
    );
  }
}

/**
 * The user's own profile, which `nix-env` and `nix profile` switch: `~/.nix-profile` links to
 * it (`/nix/var/nix/profiles/per-user/$USER/profile` or `~/.local/state/nix/profiles/profile`),
 * and it is that link, in its own directory, that a switch renames and numbers
 * (`profile-N-link`). Undefined where `~/.nix-profile` does not exist.
 */
export function userProfile(home: string): { name: string; path: string } | undefined {
  const link = join(home, ".nix-profile");
  let target: string;
  try {
    target = resolve(home, readlinkSync(link));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Not a link (EINVAL): the profile is whatever is there, and resolving it says what is wrong.
    return code === "EINVAL" ? { name: USER_PROFILE, path: link } : undefined;
  }
  return { name: USER_PROFILE, path: target.startsWith(`${STORE_DIR}/`) ? link : target };
}

/** The name of the user's own profile, with or without a configuration file. */
export const USER_PROFILE = "user";

/** The configuration a file gave (or none), with what the command line adds or replaces. */
export function withCommandLine(
  data: unknown,
  options: CommandLineConfig,
  { home, profiles }: { home: string; profiles?: { name: string; path: string }[] },
): unknown {
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
    ...(options.profilePath
      ? { profiles: [profileFor(options.profilePath, home)] }
      : profiles && file.profiles === undefined
        ? { profiles }
        : {}),
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

/** The profile `--profile-path` names; `~/.nix-profile` is the user's profile, as where no path is given. */
function profileFor(path: string, home: string): { name: string; path: string } {
  const user = userProfile(home);
  if (user && [join(home, ".nix-profile"), user.path].includes(resolve(path))) return user;
  const name =
    basename(path)
      .replace(/[^A-Za-z0-9._-]+/g, "-")
      .replace(/^[-._]+/, "") || "profile";
  return { name: name.slice(0, 64), path: resolve(path) };
}

function linkExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
