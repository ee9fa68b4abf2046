/**
 * The shape of a Nix secret signing key, `<name>:<base64 of the 32-byte seed and the 32-byte
 * public key>`, checked without crypto: the configuration's check runs on every trigger.
 */

/** What is wrong with `text` as a Nix secret key (never quoting it), or undefined. */
export function nixSecretKeyProblem(text: string): string | undefined {
  const key = text.trim();
  const colon = key.indexOf(":");
  const body = key.slice(colon + 1);
  if (colon <= 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return "holds no Nix signing key (expected NAME:BASE64)";
  const bytes = Buffer.from(body, "base64").length;
  if (bytes === 32) return "holds a public key: signing needs the secret one";
  if (bytes !== 64) return `holds no Nix signing key (a secret key is 64 bytes, this one ${bytes})`;
  return undefined;
}

export const NIX_KEY_HINT =
  "make a key pair with `nix-store --generate-binary-cache-key NAME SECRET-FILE PUBLIC-FILE` and name the secret file";
