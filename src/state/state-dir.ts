/**
 * The state directory must be genpush's own. A configuration that names a
 * directory in use for something else (`stateDir: /etc`) would otherwise get
 * profiles/, locks/ and gcroots/ created among its files. A marker file says
 * the directory is genpush's; genpush writes it into a directory it creates,
 * into an empty one (systemd's StateDirectory=), and into one that holds only
 * what earlier versions left (profiles/ of state files, locks/, gcroots/).
 * Anything else is refused before the first write or read, as is a directory
 * someone other than root (or the user running genpush) can change, or whose
 * profiles/, locks/, gcroots/ or push queue they can (trust.ts): what is in
 * it decides what is uploaded, and the queue names paths to push.
 *
 * Cheap, as a trigger with nothing to do must be: one stat when the marker is
 * there, once per process.
 */
import type { Dirent } from "node:fs";
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { UsageError } from "../runtime/errors.js";
import { assertTrusted } from "../runtime/trust.js";

export const STATE_MARKER = ".genpush-state";
const MARKER_TEXT =
  "genpush keeps its state here (profiles/, locks/, gcroots/); it uses a state directory only if this file is in it or the directory is empty.\n";
/** What genpush versions before the marker left in a state directory. */
const LAYOUT = new Set(["profiles", "locks", "gcroots"]);
/** A state file, or the temp file of a write that was killed (atomic-file.ts). */
const STATE_ENTRY = /\.json$|^\..*\.tmp$/;

/** What genpush keeps in a state directory, parents first: none of it may be another user's to change. */
const OWN_DIRS = ["profiles", "locks", "gcroots", "queue", "queue/new", "queue/pending", "queue/roots", "queue/tmp"];

/** Directories seen to carry the marker in this process. */
const marked = new Set<string>();

/** Before the first write: creates the directory if absent and marks it; refuses one that is not genpush's. */
export async function claimStateDir(dir: string): Promise<void> {
  if (marked.has(dir)) return;
  await checkTrust(dir);
  const found = await inspect(dir);
  if (typeof found === "object") throw notOurs(dir, found.foreign);
  if (found === "marked") {
    marked.add(dir);
    return;
  }
  if (found === "unreadable") return;
  // The content says it is genpush's: a marker that cannot be written (a full or read-only
  // file system) must not stop the push, whose own writes then report the problem.
  try {
    if (found === "absent") await mkdir(dir, { recursive: true, mode: 0o755 });
    await writeFile(join(dir, STATE_MARKER), MARKER_TEXT, { flag: "wx", mode: 0o644 });
    marked.add(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") marked.add(dir);
  }
}

/** Before reading state (status, diff): refuses a directory that is not genpush's; creates and marks nothing. */
export async function checkStateDir(dir: string): Promise<void> {
  if (marked.has(dir)) return;
  await checkTrust(dir);
  const found = await inspect(dir);
  if (typeof found === "object") throw notOurs(dir, found.foreign);
  if (found === "marked") marked.add(dir);
}

/** Where it does not exist yet, the directories it is created in (its path) are checked. */
function checkTrust(dir: string): Promise<void> {
  return assertTrusted(dir, "state directory", process.getuid?.() ?? 0, OWN_DIRS);
}

/**
 * "unreadable": the directory cannot be listed (permissions): whatever reads or
 * writes it next reports that in its own words.
 */
type Found = "marked" | "absent" | "empty" | "layout" | "unreadable" | { foreign: string };

async function inspect(dir: string): Promise<Found> {
  try {
    if ((await stat(join(dir, STATE_MARKER))).isFile()) return "marked";
  } catch {
    // Not there, or the directory is not one: its listing tells.
  }
  const entries = await list(dir);
  if (typeof entries === "string") return entries === "ENOENT" ? "absent" : "unreadable";
  if (entries === null) return { foreign: "it is not a directory" };
  if (entries.length === 0) return "empty";
  // Marked between the stat and the listing, by a genpush claiming it at the same moment.
  if (entries.some((entry) => entry.name === STATE_MARKER && entry.isFile())) return "marked";
  const others = entries.filter((entry) => !(LAYOUT.has(entry.name) && entry.isDirectory()));
  if (others.length > 0) return { foreign: `it holds ${names(others)} and no ${STATE_MARKER} file` };
  const profiles = await list(join(dir, "profiles"));
  const stray = Array.isArray(profiles) ? profiles.filter((entry) => !STATE_ENTRY.test(entry.name)) : [];
  if (stray.length > 0) return { foreign: `its profiles/ holds ${names(stray)}, which are no state files of genpush` };
  return "layout";
}

/** The entries of `dir`; null when it is not a directory; the error code when it cannot be listed. */
async function list(dir: string): Promise<Dirent[] | null | string> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unknown";
    return code === "ENOTDIR" ? null : code;
  }
}

function names(entries: Dirent[]): string {
  const sorted = entries.map((entry) => entry.name).sort();
  const shown = sorted.slice(0, 3).join(", ");
  return sorted.length > 3 ? `${shown} and ${sorted.length - 3} more` : shown;
}

function notOurs(dir: string, why: string): UsageError {
  return new UsageError(
    `state directory ${dir} is not genpush's: ${why}`,
    `set stateDir to a directory of genpush's own (genpush creates one that does not exist, e.g. /var/lib/genpush); if ${dir} is genpush's, run \`touch ${join(dir, STATE_MARKER)}\``,
  );
}
