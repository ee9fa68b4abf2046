/**
 * A cache's narinfo, read as input: parsed strictly (the lines Nix's NarInfo parser reads, and
 * what it refuses), then held against what the local store says of the path asked about, and,
 * where the cache has a signing key, against that key. `verify` counts a path present only
 * when its narinfo passes: one Nix would refuse, or that describes other content, offers
 * nothing to substitute, and `--repair` uploads the path again over it.
 */
import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { type NixHash, parseNixHash } from "../nix/hash.js";
import type { PathInfo } from "../nix/path-info.js";
import { isStorePath, STORE_DIR, type StorePath } from "../nix/store-path.js";
import { fingerprint, type SigningKey } from "./signing.js";

export interface Narinfo {
  storePath: StorePath;
  url: string;
  compression: string;
  narHash: NixHash;
  narSize: number;
  references: StorePath[];
  /** Whole signatures, `<keyName>:<base64>`. */
  signatures: string[];
}

/** The public half of a cache's signing key: what its narinfos must be signed by. */
export interface TrustedKey {
  name: string;
  key: KeyObject;
}

export function trustedKey(signing: SigningKey): TrustedKey {
  return { name: signing.name, key: createPublicKey(signing.key) };
}

/** Fields that appear once at most: a second one makes the narinfo ambiguous. */
const SINGLE = new Set([
  "StorePath",
  "URL",
  "Compression",
  "FileHash",
  "FileSize",
  "NarHash",
  "NarSize",
  "References",
  "Deriver",
  "CA",
]);

/** A path inside the cache (`nar/<hash>.nar.xz`): no scheme, no host, no `..`, no query. */
const NAR_URL = /^[A-Za-z0-9_+=-][A-Za-z0-9._+=-]*(\/[A-Za-z0-9_+=-][A-Za-z0-9._+=-]*)*$/;

/**
 * Where a narinfo may place its NAR: a file of the cache, or, as Nix's HTTP binary cache
 * fetches it as given, an absolute http(s) URL (a mirror; it gets only its own host's
 * credential). Never a `file://` URL or anything else genpush would read locally.
 */
function narUrlOk(url: string): boolean {
  if (/^https?:\/\//.test(url)) {
    try {
      const parsed = new URL(url);
      return parsed.username === "" && parsed.password === "" && parsed.hostname !== "";
    } catch {
      return false;
    }
  }
  return NAR_URL.test(url) && !url.split("/").some((part) => part === "." || part === "..");
}

class Malformed extends Error {}

/**
 * The narinfo `text` parsed, or what is wrong with it (never quoting it: a sentence that
 * completes "the narinfo ..."). Every line is `Name: value` ending in a newline; unknown
 * names are skipped, as Nix skips them.
 */
export function parseNarinfo(text: string): Narinfo | string {
  try {
    return parse(text);
  } catch (error) {
    if (error instanceof Malformed) return error.message;
    throw error;
  }
}

function parse(text: string): Narinfo {
  if (!text.endsWith("\n")) throw new Malformed("does not end with a newline (it may be cut short)");
  const fields = new Map<string, string>();
  const signatures: string[] = [];
  const lines = text.slice(0, -1).split("\n");
  for (const [i, line] of lines.entries()) {
    const match = /^([A-Za-z]+): (.*)$/.exec(line);
    if (!match) throw new Malformed(`has a line (${i + 1}) that is not \`Name: value\``);
    const name = match[1] as string;
    const value = match[2] as string;
    if (name === "Sig") signatures.push(signature(value));
    else if (SINGLE.has(name)) {
      if (fields.has(name)) throw new Malformed(`has ${name} twice`);
      fields.set(name, value);
    }
  }
  const storePath = fields.get("StorePath");
  if (storePath === undefined) throw new Malformed("has no StorePath");
  if (!isStorePath(storePath)) throw new Malformed("has a StorePath that is no store path");
  const url = fields.get("URL");
  if (!url) throw new Malformed("has no URL");
  if (!narUrlOk(url)) throw new Malformed("has a URL that is neither a file of the cache nor an http(s) URL");
  // Nix reads a missing Compression as bzip2.
  const compression = fields.get("Compression") ?? "bzip2";
  if (!/^[a-z0-9]+$/.test(compression)) throw new Malformed("has a Compression that names no method");
  const narHashText = fields.get("NarHash");
  if (narHashText === undefined) throw new Malformed("has no NarHash");
  const narHash = parseNixHash(narHashText);
  if (!narHash) throw new Malformed("has a NarHash that is no hash");
  const narSize = size(fields.get("NarSize"), "NarSize");
  if (narSize === undefined || narSize === 0) throw new Malformed("has no NarSize above 0");
  const fileHash = fields.get("FileHash");
  if (fileHash !== undefined && !parseNixHash(fileHash)) throw new Malformed("has a FileHash that is no hash");
  size(fields.get("FileSize"), "FileSize");
  const references = (fields.get("References") ?? "")
    .split(" ")
    .filter((ref) => ref !== "")
    .map((ref) => {
      const path = `${STORE_DIR}/${ref}`;
      if (!isStorePath(path)) throw new Malformed("has a reference that is no store path");
      return path;
    });
  const deriver = fields.get("Deriver");
  if (deriver !== undefined && deriver !== "unknown-deriver" && !isStorePath(`${STORE_DIR}/${deriver}`))
    throw new Malformed("has a Deriver that is no store path");
  const ca = fields.get("CA");
  if (ca !== undefined && !/^(text|fixed):\S+$/.test(ca)) throw new Malformed("has a CA that is no content address");
  return { storePath, url, compression, narHash, narSize, references, signatures };
}

/** A `Sig:` value, `<keyName>:<base64 of 64 bytes>` (an ed25519 signature). */
function signature(value: string): string {
  const colon = value.indexOf(":");
  const body = value.slice(colon + 1);
  if (
    colon <= 0 ||
    /\s/.test(value.slice(0, colon)) ||
    !/^[A-Za-z0-9+/]+={0,2}$/.test(body) ||
    Buffer.from(body, "base64").length !== 64
  )
    throw new Malformed("has a Sig that is not `<key name>:<base64 ed25519 signature>`");
  return value;
}

/** A decimal size, or undefined when the field is absent. */
function size(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n)) throw new Malformed(`has a ${name} that is not a size`);
  return n;
}

/**
 * The narinfo `text` when it offers `info` as the local store holds it — well-formed, for that
 * very store path, with the NAR hash, size and references the store recorded, and, where `key`
 * is given, a valid signature by that key over Nix's fingerprint of the path — else why not (a
 * sentence that completes "the narinfo ...").
 */
export function checkNarinfo(text: string, info: PathInfo, key?: TrustedKey): Narinfo | string {
  const narinfo = parseNarinfo(text);
  if (typeof narinfo === "string") return narinfo;
  if (narinfo.storePath !== info.path) return `describes another path, ${narinfo.storePath}`;
  const local = info.narinfo?.narHash;
  if (local && (local.algorithm !== narinfo.narHash.algorithm || !local.digest.equals(narinfo.narHash.digest)))
    return "has another NarHash than the local store's: it describes other content";
  if (narinfo.narSize !== info.narSize)
    return `has another NarSize (${narinfo.narSize}) than the local store's (${info.narSize}): it describes other content`;
  const references = new Set(narinfo.references);
  if (references.size !== info.references.length || info.references.some((ref) => !references.has(ref)))
    return "has other References than the local store's: it describes other content";
  if (key && !signedBy(narinfo, key)) return `carries no valid signature by the cache's key ${key.name}`;
  return narinfo;
}

/** One of the narinfo's signatures is `key`'s, and verifies over the path's fingerprint. */
function signedBy(narinfo: Narinfo, key: TrustedKey): boolean {
  const text = Buffer.from(
    fingerprint(narinfo.storePath, { narHash: narinfo.narHash, signatures: [] }, narinfo.narSize, narinfo.references),
  );
  return narinfo.signatures.some((sig) => {
    const colon = sig.indexOf(":");
    if (sig.slice(0, colon) !== key.name) return false;
    return verify(null, text, key.key, Buffer.from(sig.slice(colon + 1), "base64"));
  });
}
