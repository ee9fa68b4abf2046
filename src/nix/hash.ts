/**
 * Hashes as Nix writes them: SRI (`sha256-<base64>`, what `nix path-info
 * --json` prints) in, Nix's own base-32 (`sha256:<nix32>`, what narinfo files
 * and signature fingerprints hold) out.
 */

const NIX32 = Buffer.from("0123456789abcdfghijklmnpqrsvwxyz", "latin1");
const DIGEST_BYTES: Record<string, number> = { md5: 16, sha1: 20, sha256: 32, sha512: 64 };

export interface NixHash {
  algorithm: string;
  digest: Buffer;
}

/** Nix's base-32: the digest read from its last byte, 5 bits a character. */
export function toNix32(digest: Uint8Array): string {
  const length = Math.ceil((digest.length * 8) / 5);
  // Bytes, not `out += char`: that builds a chain of one-character strings (a 52-character
  // hash held as 52 heap objects), and thousands of hashes are held during an upload.
  const out = Buffer.allocUnsafe(length);
  for (let n = length - 1; n >= 0; n--) {
    const bit = n * 5;
    const i = Math.floor(bit / 8);
    const j = bit % 8;
    const low = (digest[i] as number) >> j;
    const high = i + 1 < digest.length ? (digest[i + 1] as number) << (8 - j) : 0;
    out[length - 1 - n] = NIX32[(low | high) & 0x1f] as number;
  }
  return out.toString("latin1");
}

/** `sha256-<base64>`, or undefined when `text` is not an SRI hash of a known algorithm. */
export function parseSri(text: string): NixHash | undefined {
  const match = /^(md5|sha1|sha256|sha512)-([A-Za-z0-9+/]+={0,2})$/.exec(text);
  if (!match) return undefined;
  const algorithm = match[1] as string;
  const digest = Buffer.from(match[2] as string, "base64");
  return digest.length === DIGEST_BYTES[algorithm] ? { algorithm, digest } : undefined;
}

/** `sha256:<nix32>`: the form narinfo files and fingerprints use. */
export function formatNix32(hash: NixHash): string {
  return `${hash.algorithm}:${toNix32(hash.digest)}`;
}

/** Nix's base-32 read back into `bytes` bytes; undefined for another length, a foreign character or excess bits. */
function fromNix32(text: string, bytes: number): Buffer | undefined {
  if (text.length !== Math.ceil((bytes * 8) / 5)) return undefined;
  const out = Buffer.alloc(bytes);
  for (let n = 0; n < text.length; n++) {
    const digit = NIX32.indexOf(text.charCodeAt(text.length - 1 - n));
    if (digit < 0) return undefined;
    const bit = n * 5;
    const i = Math.floor(bit / 8);
    const j = bit % 8;
    out[i] = (out[i] as number) | ((digit << j) & 0xff);
    const carry = digit >> (8 - j);
    if (i + 1 < bytes) out[i + 1] = (out[i + 1] as number) | carry;
    else if (carry) return undefined;
  }
  return out;
}

/**
 * A hash as a narinfo's `NarHash:` or `FileHash:` may hold it — what Nix's `Hash::parseAnyPrefixed`
 * reads: `<algorithm>:<digest>` in base-16, Nix's base-32 or base-64 (told apart by length), or
 * SRI; undefined for anything else.
 */
export function parseNixHash(text: string): NixHash | undefined {
  const sri = parseSri(text);
  if (sri) return sri;
  const match = /^(md5|sha1|sha256|sha512):(.+)$/.exec(text);
  if (!match) return undefined;
  const algorithm = match[1] as string;
  const body = match[2] as string;
  const bytes = DIGEST_BYTES[algorithm] as number;
  let digest: Buffer | undefined;
  if (body.length === bytes * 2) digest = /^[0-9a-fA-F]+$/.test(body) ? Buffer.from(body, "hex") : undefined;
  else if (body.length === Math.ceil((bytes * 8) / 5)) digest = fromNix32(body, bytes);
  else if (/^[A-Za-z0-9+/]+={0,2}$/.test(body)) {
    const decoded = Buffer.from(body, "base64");
    digest = decoded.length === bytes && decoded.toString("base64") === body ? decoded : undefined;
  }
  return digest ? { algorithm, digest } : undefined;
}
