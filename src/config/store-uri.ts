/**
 * What a store URI may say, checked when the configuration is loaded: a scheme Nix knows and
 * store settings by Nix's own names. A typo here never fails loudly later: Nix warns about an
 * unknown setting and goes on with its default (`?compresion=zstd` uploads xz), and genpush
 * would hand the whole upload to `nix copy` for a setting its uploader does not know.
 */

import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { closest } from "./did-you-mean.js";
import { describe } from "./schema.js";

/** The store types of Nix (`nix help-stores`), as URI schemes. */
const SCHEMES = ["http", "https", "file", "s3", "ssh", "ssh-ng", "local", "daemon", "unix", "auto", "mounted-ssh-ng"];
/** Store URIs that are a word alone. */
const BARE = ["auto", "daemon", "local"];

/** The settings of every store type, by Nix's names (all versions since 2.4). */
export const STORE_SETTINGS = [
  // every store
  "priority",
  "want-mass-query",
  "system-features",
  "path-info-cache-size",
  "trusted",
  // binary caches (http, https, file, s3)
  "compression",
  "compression-level",
  "parallel-compression",
  "write-nar-listing",
  "index-debug-info",
  "secret-key",
  "secret-keys",
  "local-nar-cache",
  "ls-compression",
  "narinfo-compression",
  "log-compression",
  // s3
  "profile",
  "region",
  "scheme",
  "endpoint",
  "multipart-upload",
  "buffer-size",
  // local stores
  "root",
  "state",
  "log",
  "real",
  "require-sigs",
  "read-only",
  // remote stores (daemon, ssh, ssh-ng)
  "max-connections",
  "max-connection-age",
  "ssh-key",
  "base64-ssh-public-host-key",
  "compress",
  "remote-program",
  "remote-store",
] as const;

/** The settings that name a compression method. */
const COMPRESSION_SETTINGS = ["compression", "ls-compression", "narinfo-compression", "log-compression"];
/** What those may name. */
export const COMPRESSIONS = ["none", "xz", "bzip2", "br", "gzip", "zstd", "lz4", "lzip", "lzma", "lzop", "grzip"];

/** Store URI settings genpush's own HTTP uploader honours; any other leaves the upload to `nix copy`. */
export const UPLOADER_SETTINGS: readonly string[] = [
  "compression",
  "parallel-compression",
  "secret-key",
  "priority",
  "want-mass-query",
];
/** The compressions genpush's own uploader writes (caches/compression.ts); any other leaves the upload to `nix copy`. */
export const UPLOADER_COMPRESSIONS: readonly string[] = ["none", "xz", "bzip2", "zstd", "br", "gzip"];

/**
 * The first of a store URI's settings that leaves the upload to `nix copy` (one genpush's own
 * uploader does not take, or a compression it does not write); undefined where it takes them
 * all. The one rule for both the uploader (caches/nix-store.ts) and a fleet's check below.
 */
export function nixCopySetting(settings: URLSearchParams): { name: string; value: string } | undefined {
  for (const [name, value] of settings) {
    if (!UPLOADER_SETTINGS.includes(name) || (name === "compression" && !UPLOADER_COMPRESSIONS.includes(value))) {
      return { name, value };
    }
  }
  return undefined;
}

export interface StoreUriProblem {
  message: string;
  hint?: string;
}

/** The first thing wrong with `uri` as a Nix store URI, or undefined. */
export function storeUriProblem(uri: string): StoreUriProblem | undefined {
  // A space would split it on a command line; a leading `-` would read as an option.
  if (/\s/.test(uri) || uri.startsWith("-")) {
    return { message: `expected a store URI without spaces or a leading \`-\`, got ${describe(uri)}` };
  }
  const query = uri.includes("?") ? uri.slice(uri.indexOf("?") + 1) : "";
  const base = uri.slice(0, uri.length - (query ? query.length + 1 : 0));
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(base)?.[1];
  if (scheme === undefined && !BARE.includes(base) && !base.startsWith("/")) {
    const directory = localDirectory(base);
    return {
      message: `\`${base}\` has no scheme: Nix would not know what kind of store it is`,
      hint: directory
        ? `for a binary cache in that directory, give its absolute path: \`file://${directory}\``
        : `write it with one, e.g. \`http://${base}\` for an HTTP binary cache, or \`file:///absolute/dir\` for one in a directory (schemes: ${SCHEMES.join(", ")})`,
    };
  }
  if (scheme?.toLowerCase() === "file") {
    const problem = fileUrlProblem(base);
    if (problem) return problem;
  }
  if (scheme !== undefined && !SCHEMES.includes(scheme.toLowerCase())) {
    const guess = closest(scheme.toLowerCase(), SCHEMES);
    return {
      message: `\`${scheme}://\` is no kind of store Nix knows${guess ? `; did you mean \`${guess}://\`?` : ""}`,
      hint: `Nix's store schemes: ${SCHEMES.join(", ")}`,
    };
  }
  for (const [name, value] of new URLSearchParams(query)) {
    if (!(STORE_SETTINGS as readonly string[]).includes(name)) {
      const guess = closest(name, STORE_SETTINGS);
      return {
        message: `\`${name}\` is no store setting of Nix's${guess ? `; did you mean \`${guess}\`?` : ""}`,
        hint: "Nix would ignore it with a warning and use its default: see `nix help-stores` for each store's settings",
      };
    }
    if (COMPRESSION_SETTINGS.includes(name) && !COMPRESSIONS.includes(value)) {
      const guess = closest(value, COMPRESSIONS);
      return {
        message: `\`${name}=${value}\` names no compression Nix knows${guess ? `; did you mean \`${guess}\`?` : ""}`,
        hint: `one of ${COMPRESSIONS.join(", ")}`,
      };
    }
  }
  return undefined;
}

/**
 * Why genpush cannot claim paths in the store `uri` names (`fleet: true`), or undefined where
 * it can: an http(s) cache genpush uploads to itself, or a file:// cache (docs/fleet.md, "Which
 * caches coordinate"). Every other store is uploaded to by `nix copy`, which knows no claims.
 */
export function coordinationProblem(uri: string): StoreUriProblem | undefined {
  const hint =
    'leave `fleet` unset for this cache; hosts that share a cache coordinate through an http(s) cache genpush uploads to itself, or a file:// cache (docs/fleet.md, "Which caches coordinate")';
  // As the cache is opened (caches/nix-store.ts): these schemes, written in lower case.
  if (uri.startsWith("file://")) return undefined;
  if (!/^https?:\/\//.test(uri)) {
    return {
      message: `is true, but genpush cannot coordinate uploads to \`${uri.replace(/\?.*$/, "")}\`: \`nix copy\` uploads to it, and knows no claims`,
      hint,
    };
  }
  const query = uri.includes("?") ? uri.slice(uri.indexOf("?") + 1) : "";
  const setting = nixCopySetting(new URLSearchParams(query));
  if (!setting) return undefined;
  const { name, value } = setting;
  return {
    message: `is true, but the store setting \`${name}=${value}\` has \`nix copy\` upload to this cache instead of genpush's own uploader, and \`nix copy\` knows no claims`,
    hint: `${name === "compression" ? `use a compression genpush writes itself (${UPLOADER_COMPRESSIONS.join(", ")})` : `genpush's uploader takes the settings ${UPLOADER_SETTINGS.join(", ")}`}, or ${hint}`,
  };
}

/**
 * Nix 2.8 opens `file://PATH` with PATH exactly as written after `file://`: only an absolute
 * path works (`file://relcache` and `file://localhost/dir` are "don't know how to open"), and a
 * `%` is no escape to Nix while genpush, reading the URL, would decode it: another directory.
 */
function fileUrlProblem(base: string): StoreUriProblem | undefined {
  const path = base.slice(base.indexOf("://") + 3);
  if (!path.startsWith("/")) {
    return {
      message: `\`${base}\` names no absolute directory: a file URL is \`file://\` followed by an absolute path, and \`${path.replace(/\/.*$/, "")}\` would read as a host`,
      hint: `for a binary cache in the directory ${resolveLocal(path)}: \`file://${resolveLocal(path)}\``,
    };
  }
  if (path.includes("%")) {
    return {
      message: `\`${base}\` has a \`%\`: Nix reads a file URL's path as written, genpush would decode it, and the two would not mean the same directory`,
      hint: "write the directory's path as it is, or choose a directory whose path has no `%`",
    };
  }
  return undefined;
}

/** `./cache`, `../cache`, `~/cache`, or a directory that exists here: its absolute path. */
function localDirectory(base: string): string | undefined {
  if (/^(\.{1,2}|~)(\/|$)/.test(base) || existsSync(base)) return resolveLocal(base);
  return undefined;
}

function resolveLocal(path: string): string {
  if (path === "~" || path.startsWith("~/")) return join(homedir(), path.slice(1));
  return isAbsolute(path) ? path : resolve(path);
}

/** The URL's authority up to its last `@`: user, or user:password (`//` is optional to WHATWG URL for http). */
const USERINFO_RE = /^([A-Za-z][A-Za-z0-9+.-]*:(?:\/\/)?)([^/?#]*)@/;

/** The URL with its user name and password shown as `***`, when it has any. */
export function credentialsIn(url: string): { masked: string; host: string; password: boolean } | undefined {
  const m = USERINFO_RE.exec(url);
  if (!m) return undefined;
  const rest = url.slice(m[0].length);
  return {
    masked: `${m[1]}***@${rest}`,
    host: /^(\[[^\]]*\]|[^:/?#]*)/.exec(rest)?.[1] ?? "",
    password: (m[2] as string).includes(":"),
  };
}

export function credentialsMessage(masked: string): string {
  return `holds credentials (${masked}): genpush would repeat them in its logs, --json, its state and the command lines of the tools it runs`;
}
