/**
 * Credentials for an HTTP binary cache, from the netrc file Nix itself uses
 * (its `netrc-file` setting, /etc/nix/netrc by default), so a cache that
 * `nix copy` can write to genpush can write to as well.
 */
import { readFile } from "node:fs/promises";
import { nixSetting } from "../nix.js";

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

/** `Basic …` for `host` from `text`: its own entry first, else `default`, as curl picks. */
export function netrcAuthorization(text: string, host: string): string | undefined {
  const entries = parseNetrc(text);
  const entry = entries.find((e) => e.machine === host) ?? entries.find((e) => e.machine === undefined);
  if (!entry?.login && !entry?.password) return undefined;
  return `Basic ${Buffer.from(`${entry.login ?? ""}:${entry.password ?? ""}`).toString("base64")}`;
}

/** The credential Nix would send to `url`'s host, or undefined when its netrc file has none. */
export async function nixNetrcAuthorization(url: URL): Promise<string | undefined> {
  const file = (await nixSetting("netrc-file")) || "/etc/nix/netrc";
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return undefined;
  }
  return netrcAuthorization(text, url.hostname);
}
