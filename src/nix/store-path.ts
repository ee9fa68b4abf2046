/**
 * Store paths are parsed once, where they enter genpush (nix output, state
 * files, profile links), so nothing downstream can pass an option-looking or
 * foreign string to `nix`.
 */
import { lstat, realpath } from "node:fs/promises";
import { GenpushError, UsageError } from "../runtime/errors.js";

export const STORE_DIR = "/nix/store";

/** nix-base32: no e, o, u, t. */
const STORE_PATH_RE = /^\/nix\/store\/([0-9abcdfghijklmnpqrsvwxyz]{32})-([A-Za-z0-9+\-._?=]+)$/;

export type StorePath = string & { readonly __storePath: unique symbol };

export function isStorePath(value: string): value is StorePath {
  return STORE_PATH_RE.test(value) && value.length <= STORE_DIR.length + 1 + 32 + 1 + 211;
}

export function parseStorePath(value: string, where = "store path"): StorePath {
  if (!isStorePath(value)) {
    throw new GenpushError(`${where}: expected a path in ${STORE_DIR}, got \`${value}\``);
  }
  return value;
}

/** A store derivation (`….drv`): Nix's tools take one for its outputs unless told otherwise. */
export function isDerivationPath(path: StorePath): boolean {
  return path.endsWith(".drv");
}

/** `/nix/store/<hash>-<name>` -> `<hash>`, the key a binary cache files narinfos under. */
export function hashPart(path: StorePath): string {
  return path.slice(STORE_DIR.length + 1, STORE_DIR.length + 33);
}

/** `/nix/store/<hash>-<name>` -> `<name>`. */
export function namePart(path: StorePath): string {
  return path.slice(STORE_DIR.length + 34);
}

/** Accept a basename (`<hash>-<name>`) as newer `nix path-info --json-format 2` prints it. */
export function storePathFromBasename(value: string): StorePath {
  return parseStorePath(value.startsWith("/") ? value : `${STORE_DIR}/${value}`);
}

/**
 * A store path as given: the path itself, or a link to one (`./result`) or to a file in one,
 * taken as the store path it is in. Not in the local store, or not in the store at all: bad
 * input (exit 2).
 */
export async function storePathArgument(given: string, from: string): Promise<StorePath> {
  // A store path may itself be a link (to another store path): it is what was named.
  if (isStorePath(given) && (await lstat(given).catch(() => undefined))) return given;
  const real = await realpath(given).catch(() => undefined);
  if (real === undefined) {
    throw new UsageError(
      isStorePath(given) ? `not in the local store: ${given} (from ${from})` : `no such file: ${given} (from ${from})`,
      "give paths that were built (`nix build --print-out-paths` prints them)",
    );
  }
  const top = real.split("/").slice(0, 4).join("/");
  if (!isStorePath(top)) {
    throw new UsageError(
      `not a store path: ${given}${real === given ? "" : ` (it is ${real})`} (from ${from})`,
      `give paths in ${STORE_DIR}, or links to them such as ./result`,
    );
  }
  return top;
}
