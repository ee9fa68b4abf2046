/**
 * Whose a file is, in words, and the command line that runs genpush as them: for a user who
 * runs genpush with root's configuration, or against root's state, and is told whose those are
 * and how to reach them (`sudo genpush ...`).
 */
import { readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { dirname } from "node:path";

/** Where the user names come from; a user it does not list (LDAP, say) is named by uid. */
const PASSWD = "/etc/passwd";

/** The user's name in /etc/passwd, else `uid N`. */
export function userName(uid: number): string {
  try {
    for (const line of readFileSync(PASSWD, "utf8").split("\n")) {
      const [name, , id] = line.split(":");
      if (name && id !== undefined && Number(id) === uid) return name;
    }
  } catch {
    // no passwd to read: the uid it is
  }
  return `uid ${uid}`;
}

/**
 * The owner of `path`, when someone other than `uid` owns it: of the file itself, or, where
 * the file cannot be looked at, of the nearest directory on its way that can (the one that
 * keeps the user out, /root for /root/key).
 */
export async function otherOwner(path: string, uid: number): Promise<{ path: string; owner: number } | undefined> {
  for (let at = path; ; at = dirname(at)) {
    try {
      const owner = (await stat(at)).uid;
      return owner === uid ? undefined : { path: at, owner };
    } catch {
      if (at === dirname(at)) return undefined;
    }
  }
}

/** The command line as typed, run as `owner`: `sudo genpush push`, `sudo -u alice genpush status --json`. */
export function asOwnerCommand(owner: number, argv: readonly string[] = process.argv.slice(2)): string {
  const sudo = owner === 0 ? "sudo" : `sudo -u ${userName(owner)}`;
  return [sudo, "genpush", ...argv.map(shellWord)].join(" ");
}

/** A word as a shell reads it back: quoted where it has anything beside plain path characters. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
