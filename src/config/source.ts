/**
 * A configuration file as read: its data, and the line of every key for
 * messages. The YAML parser (yaml.ts) is most of what a trigger with
 * nothing to do spends above Node's own start-up, so the data of the last file
 * parsed is kept in genpush's cache directory, with the text it came from, and
 * used while the file still holds that text; line numbers then come from a
 * fresh parse, needed only when there is a problem to report. (So yaml.ts is
 * imported lazily, and what both read, the document's shape, is document.ts.)
 */
import { mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { UsageError } from "../runtime/errors.js";
import { asOwnerCommand, otherOwner, userName } from "../runtime/owner.js";
import { writeFileAtomic } from "../state/atomic-file.js";
import type { ConfigSource } from "./document.js";

/** Who reads the file, and what to tell them when it is missing beside the usual hint. */
export interface ReadOptions {
  uid?: number;
  /** A sentence on another configuration they may mean (root's, for a user), put first in the hint. */
  missingHint?: string;
}

export async function readConfigSource(
  file: string,
  cacheFile?: string,
  { uid = process.getuid?.() ?? 0, missingHint }: ReadOptions = {},
): Promise<ConfigSource> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new UsageError(
        `configuration file ${file} does not exist`,
        missingHint ? `${missingHint}; or ${NO_FILE_HINT}` : NO_FILE_HINT,
      );
    }
    // Someone else's (root's /etc/genpush/config.yaml, 0600): whose, and how to run as them.
    const other = code === "EACCES" ? await otherOwner(file, uid) : undefined;
    if (other) {
      const whose = userName(other.owner);
      throw new UsageError(
        `cannot read configuration file ${file} (permission denied): ${other.path === file ? "it" : other.path} belongs to ${whose}, and genpush runs as ${userName(uid)}`,
        `it looks like ${whose}'s configuration: run genpush as ${whose} (\`${asOwnerCommand(other.owner)}\`), or use a configuration of your own (--config FILE)`,
      );
    }
    throw new UsageError(
      `cannot read configuration file ${file}: ${(error as Error).message}`,
      "check the file's permissions, or pass another one with --config FILE",
    );
  }
  const parse = async (): Promise<ConfigSource> => (await import("./yaml.js")).parseConfigSource(file, text);
  const cached = cacheFile ? await cachedData(cacheFile, text) : undefined;
  if (cached !== undefined) return { file, data: cached, lineOf: () => undefined, withLines: parse };
  const source = await parse();
  if (cacheFile && isJson(source.data)) await remember(cacheFile, text, source.data);
  return source;
}

interface CacheEntry {
  format: typeof CACHE_FORMAT;
  text: string;
  data: unknown;
}
const CACHE_FORMAT = 1;

async function cachedData(cacheFile: string, text: string): Promise<unknown> {
  try {
    const entry = JSON.parse(await readFile(cacheFile, "utf8")) as Partial<CacheEntry>;
    if (entry.format === CACHE_FORMAT && entry.text === text) return entry.data;
  } catch {
    // none yet, unreadable or torn: parse the file
  }
  return undefined;
}

async function remember(cacheFile: string, text: string, data: unknown): Promise<void> {
  const entry: CacheEntry = { format: CACHE_FORMAT, text, data };
  try {
    // genpush's own directory only: a HOME that does not exist (a Nix build's
    // /homeless-shelter) must stay that way.
    await mkdir(dirname(cacheFile), { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
    await writeFileAtomic(cacheFile, JSON.stringify(entry), 0o600);
  } catch {
    // A cache only: read-only, full or missing, the next run parses again.
  }
}

/** What JSON keeps exactly (YAML's .inf and .nan, for one, it does not). */
function isJson(value: unknown): boolean {
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isJson);
  if (typeof value !== "object") return false;
  const proto = Object.getPrototypeOf(value);
  return (proto === Object.prototype || proto === null) && Object.values(value).every(isJson);
}

export const MINIMAL_EXAMPLE = `caches:
  - name: lan
    systems: [x86_64-linux]
    type: nix
    store: http://cache.lan:8080
    signingKeyFile: /run/secrets/cache-signing-key`;

export const MINIMAL_EXAMPLE_HINT = `create it with at least one cache, for example:\n${MINIMAL_EXAMPLE}`;

/** No configuration file: the command line can name the store instead, in every command that pushes or reports. */
const NO_FILE_HINT =
  "name the store on the command line instead, as with `genpush push --to STORE_URI` (status, verify and diff take the same --to and --profile-path); " +
  `or ${MINIMAL_EXAMPLE_HINT}`;
