/**
 * Every credential genpush has read in this process — tokens, signing keys,
 * netrc passwords and the `Authorization` values made from them — so that
 * whatever genpush quotes from a child process or a server is scrubbed of
 * them, wherever the quote ends up: a log line, an error, `--json`, the state
 * file. Secrets are remembered where they are read, not handed to each place
 * that quotes: a message may be made far from any secret (a retry warning, a
 * failure recorded in state), and a place that forgot its list would leak.
 *
 * Empty until a secret is read: a run that reads none pays one length check
 * per message.
 */

/**
 * Shorter values are not remembered. Scrubbing "abc" would mangle every
 * message that happens to contain it, and a secret that short is guessed
 * faster than it is leaked. Four characters still catch a short netrc
 * password someone chose by hand.
 */
const MIN_LENGTH = 4;

export const SCRUBBED = "[secret]";

/** Longest first: a secret that holds another (`Basic <base64>`) is replaced whole. */
const secrets: string[] = [];

export function rememberSecret(value: string): void {
  if (value.length < MIN_LENGTH || secrets.includes(value)) return;
  secrets.push(value);
  secrets.sort((a, b) => b.length - a.length);
}

/** `text` with every remembered secret replaced by `[secret]`. */
export function scrubSecrets(text: string): string {
  if (secrets.length === 0) return text;
  let out = text;
  for (const secret of secrets) out = out.replaceAll(secret, SCRUBBED);
  return out;
}
