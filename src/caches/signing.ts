/**
 * Signing narinfo files as `nix copy --to '...?secret-key=FILE'` does: an
 * ed25519 signature over the path's fingerprint, with a Nix secret key
 * (`<name>:<base64 of the 32-byte seed and the 32-byte public key>`).
 */
import { createPrivateKey, type KeyObject, sign } from "node:crypto";
import { formatNix32 } from "../nix/hash.js";
import { NIX_KEY_HINT, nixSecretKeyProblem } from "../nix/key.js";
import type { NarinfoFields } from "../nix/path-info.js";
import type { StorePath } from "../nix/store-path.js";
import { GenpushError } from "../runtime/errors.js";
import { rememberSecret } from "../runtime/secrets.js";
import { readSecret } from "./secret.js";

export interface SigningKey {
  name: string;
  key: KeyObject;
}

/** The key in `file`; errors name the file and the cache, never the key. */
export async function readSigningKey(file: string, cacheName: string): Promise<SigningKey> {
  const text = await readSecret(file, cacheName, "signing key");
  const colon = text.indexOf(":");
  // The key's name is public (it is in every signature); the part after it is the secret,
  // and may be quoted without its name.
  rememberSecret(text.slice(colon + 1));
  const problem = nixSecretKeyProblem(text);
  if (problem)
    throw new GenpushError(`cache ${cacheName}: the signing key file ${file} ${problem}`, { hint: NIX_KEY_HINT });
  const bytes = Buffer.from(text.slice(colon + 1), "base64");
  const key = createPrivateKey({
    format: "jwk",
    key: {
      kty: "OKP",
      crv: "Ed25519",
      d: bytes.subarray(0, 32).toString("base64url"),
      x: bytes.subarray(32).toString("base64url"),
    },
  });
  return { name: text.slice(0, colon), key };
}

/** What Nix signs: `1;<path>;<narHash>;<narSize>;<references, comma-separated>`. */
export function fingerprint(
  path: StorePath,
  narinfo: NarinfoFields,
  narSize: number,
  references: readonly StorePath[],
): string {
  return `1;${path};${formatNix32(narinfo.narHash)};${narSize};${[...references].sort().join(",")}`;
}

/** `<keyName>:<base64 signature>`. */
export function signFingerprint(key: SigningKey, text: string): string {
  return `${key.name}:${sign(null, Buffer.from(text), key.key).toString("base64")}`;
}
