/**
 * Store paths are parsed once, where they enter genpush (nix output, state
 * files, profile links), so nothing downstream can pass an option-looking or
 * foreign string to `nix`.
 */
import { GenpushError } from "./errors.js";

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
