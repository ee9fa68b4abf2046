/**
 * Credentials for an HTTP binary cache, from the netrc file Nix itself uses
 * (its `netrc-file` setting, /etc/nix/netrc by default), so a cache that
 * `nix copy` can write to genpush can write to as well.
 */
import { readFile } from "node:fs/promises";
import { nixSetting } from "../nix/cli.js";
import { rememberSecret } from "../runtime/secrets.js";

interface Entry {
  machine?: string;
  login?: string;
  password?: string;
}

/** The entries of a netrc file; `default` is an entry without a machine. */
export function parseNetrc(text: string): Entry[] {
  const tokens = text.split(/\s+/).filter(Boolean);
  const entries: Entry[] = [];
  let current: Entry | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token === "machine" || token === "default") {
      current = token === "machine" ? { machine: tokens[++i] ?? "" } : {};
      entries.push(current);
    } else if ((token === "login" || token === "password") && current) {
      current[token] = tokens[++i] ?? "";
    } else if (token === "account") {
      i++;
    }
  }
  return entries;
}

export interface NetrcCredential {
  /** The `Authorization` value curl sends: `Basic base64(login:password)`. */
  authorization: string;
  /**
   * Every form of the credential a server may echo: the password, the base64
   * and the whole header value. Not the login on its own: it names who logs
   * in, and is often an ordinary word (`login cache`, FlakeHub's `login
   * flakehub`) that scrubbing would cut out of every message and host name.
   */
  secrets: string[];
}

/** The credential for `host` in `text`: its own entry first, else `default`, as curl picks. */
export function netrcCredential(text: string, host: string): NetrcCredential | undefined {
  const entries = parseNetrc(text);
  const entry = entries.find((e) => e.machine === host) ?? entries.find((e) => e.machine === undefined);
  if (!entry?.login && !entry?.password) return undefined;
  const base64 = Buffer.from(`${entry.login ?? ""}:${entry.password ?? ""}`).toString("base64");
  const authorization = `Basic ${base64}`;
  return { authorization, secrets: [...(entry.password ? [entry.password] : []), base64, authorization] };
}

/**
 * The credential Nix would send to `url`'s host, or undefined when its netrc
 * file has none; remembered as a secret, so nothing genpush quotes carries it.
 */
export async function nixNetrcAuthorization(url: URL): Promise<string | undefined> {
  const file = (await nixSetting("netrc-file")) || "/etc/nix/netrc";
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return undefined;
  }
  const credential = netrcCredential(text, url.hostname);
  for (const secret of credential?.secrets ?? []) rememberSecret(secret);
  return credential?.authorization;
}
