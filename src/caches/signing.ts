/**
 * Signing narinfo files as `nix copy --to '...?secret-key=FILE'` does: an
 * ed25519 signature over the path's fingerprint, with a Nix secret key
 * (`<name>:<base64 of the 32-byte seed and the 32-byte public key>`).
 */
import { createPrivateKey, type KeyObject, sign } from "node:crypto";
import type { CacheConfig } from "../config/config.js";
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

/** Binary caches Nix substitutes from only with a valid signature by a trusted key (`require-sigs`). */
const BINARY_CACHE_SCHEMES = new Set(["http", "https", "file", "s3"]);

/**
 * The warning for a cache that gets unsigned paths: a `nix` binary cache (http, https, file,
 * s3) with neither `signingKeyFile` nor `secret-key=` in its store URI. Nix refuses to
 * substitute such paths ("lacks a valid signature") unless the machine sets
 * `require-sigs = false`; Attic and Cachix sign on their server. The hint is a command that
 * makes a key pair in `keyDir` (absolute, or "" for the current directory), and what to do
 * with each half. Undefined when the cache signs.
 */
export function unsignedCacheWarning(
  cache: CacheConfig,
  keyDir: string,
  use: string,
): { message: string; hint: string } | undefined {
  if (cache.type !== "nix" || cache.signingKeyFile) return undefined;
  const [scheme, rest] = cache.store.split("://", 2);
  if (rest === undefined || !BINARY_CACHE_SCHEMES.has(scheme ?? "")) return undefined;
  if (new URLSearchParams(rest.split("?")[1] ?? "").get("secret-key")) return undefined;
  const secret = keyDir ? `${keyDir}/${cache.name}-signing-key` : `${cache.name}-signing-key`;
  return {
    message: `cache ${cache.name} (${cache.store}) has no signing key: the paths pushed there are unsigned, and Nix refuses to substitute them ("lacks a valid signature") unless a machine sets require-sigs = false`,
    hint: `make a key pair once, \`nix-store --generate-binary-cache-key ${cache.name}-1 ${secret} ${secret}.pub\`, then ${use.replaceAll("KEY", secret)}, and add the public key (${secret}.pub) to trusted-public-keys where the cache is used`,
  };
}
