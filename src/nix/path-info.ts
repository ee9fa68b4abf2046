/**
 * Parse every JSON shape `nix path-info --json` has printed, into one form:
 * - Nix <= 2.18 and Lix: an array of objects with `path` (`valid: false` for an invalid one);
 * - Nix 2.19 .. 2.32 (and `--json-format 1`): an object keyed by store path, `null` if invalid;
 * - Nix 2.33+ `--json-format 2` and 2.35's format 3: `{version, storeDir, info: {<basename>: ...}}`,
 *   where references may be basenames and format 3 signatures are `{keyName, sig}` objects.
 */
import { GenpushError } from "../runtime/errors.js";
import { formatNix32, type NixHash, parseSri } from "./hash.js";
import { parseStorePath, STORE_DIR, type StorePath, storePathFromBasename } from "./store-path.js";

export interface PathInfo {
  path: StorePath;
  narSize: number;
  references: StorePath[];
  /** Names of the keys that signed this path, e.g. `cache.nixos.org-1`. */
  signedBy: string[];
  /** True when the path was built on this machine (Nix's "ultimate" trust). */
  ultimate: boolean;
  /**
   * What a narinfo file holds beyond the above, for genpush's own uploader;
   * absent when Nix printed a hash or content address genpush cannot render
   * exactly (the upload then goes through `nix copy`).
   */
  narinfo?: NarinfoFields;
}

export interface NarinfoFields {
  narHash: NixHash;
  deriver?: StorePath;
  /** Content address, as narinfo files write it (`fixed:r:sha256:<nix32>`). */
  ca?: string;
  /** Whole signatures, `<keyName>:<base64>`. */
  signatures: string[];
}

export interface PathInfoResult {
  infos: PathInfo[];
  invalid: StorePath[];
}

export function parsePathInfoJson(text: string): PathInfoResult {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new GenpushError(`nix path-info printed something that is not JSON: ${(error as Error).message}`);
  }
  const result: PathInfoResult = { infos: [], invalid: [] };
  const add = (key: string | undefined, entry: unknown) => addEntry(result, key, entry);

  if (Array.isArray(data)) {
    for (const entry of data) add(undefined, entry);
  } else if (isRecord(data) && isRecord(data.info) && typeof data.version === "number") {
    if (data.storeDir !== undefined && data.storeDir !== STORE_DIR) {
      throw new GenpushError(
        `nix path-info reports store ${String(data.storeDir)}; genpush supports ${STORE_DIR} only`,
      );
    }
    for (const [key, entry] of Object.entries(data.info)) add(key, entry);
  } else if (isRecord(data)) {
    for (const [key, entry] of Object.entries(data)) add(key, entry);
  } else {
    throw new GenpushError("nix path-info printed JSON of an unknown shape (expected an array or an object)");
  }
  return result;
}

function addEntry(result: PathInfoResult, key: string | undefined, entry: unknown): void {
  const rawPath = key ?? (isRecord(entry) ? entry.path : undefined);
  if (typeof rawPath !== "string") throw shapeError("an entry without a store path");
  const path = storePathFromBasename(rawPath);
  if (entry === null || (isRecord(entry) && entry.valid === false)) {
    result.invalid.push(path);
    return;
  }
  if (!isRecord(entry)) throw shapeError(`a non-object entry for ${path}`);
  const narSize = entry.narSize;
  if (typeof narSize !== "number") throw shapeError(`no narSize for ${path}`);
  const references = Array.isArray(entry.references) ? entry.references.map(toStorePath) : [];
  const signatures = Array.isArray(entry.signatures) ? entry.signatures : [];
  const narinfo = narinfoFields(entry, signatures);
  result.infos.push({
    path,
    narSize,
    references,
    signedBy: signatures.map(signatureKeyName).filter((name): name is string => name !== undefined),
    ultimate: entry.ultimate === true,
    ...(narinfo ? { narinfo } : {}),
  });
}

function narinfoFields(entry: Record<string, unknown>, signatures: unknown[]): NarinfoFields | undefined {
  const narHash = parseHash(entry.narHash);
  const ca = contentAddress(entry.ca);
  if (!narHash || ca === null) return undefined;
  const deriver = typeof entry.deriver === "string" ? toStorePath(entry.deriver) : undefined;
  return {
    narHash,
    ...(deriver ? { deriver } : {}),
    ...(ca ? { ca } : {}),
    signatures: signatures.map(wholeSignature).filter((sig): sig is string => sig !== undefined),
  };
}

/** SRI (every format so far), or the `{algorithm, format: "base64", hash}` object of a 2.33 pre-release. */
function parseHash(value: unknown): NixHash | undefined {
  if (typeof value === "string") return parseSri(value);
  if (isRecord(value) && value.format === "base64") return parseSri(`${String(value.algorithm)}-${String(value.hash)}`);
  return undefined;
}

/** The narinfo form of a content address: undefined for none, null for one genpush cannot render. */
function contentAddress(value: unknown): string | undefined | null {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (!isRecord(value)) return null;
  const hash = parseHash(value.hash);
  const prefix = { nar: "fixed:r:", flat: "fixed:", text: "text:" }[String(value.method)];
  return hash && prefix ? `${prefix}${formatNix32(hash)}` : null;
}

/** `"<keyName>:<base64>"` as it is, or format 3's `{keyName, sig}` joined back. */
function wholeSignature(signature: unknown): string | undefined {
  if (typeof signature === "string") return signature.includes(":") ? signature : undefined;
  if (isRecord(signature) && typeof signature.keyName === "string" && typeof signature.sig === "string")
    return `${signature.keyName}:${signature.sig}`;
  return undefined;
}

function toStorePath(value: unknown): StorePath {
  if (typeof value !== "string") throw shapeError("a reference that is not a string");
  return value.startsWith("/") ? parseStorePath(value, "reference") : storePathFromBasename(value);
}

/** `"cache.nixos.org-1:base64"` (formats up to 2) or `{keyName, sig}` (format 3). */
function signatureKeyName(signature: unknown): string | undefined {
  if (typeof signature === "string") {
    const colon = signature.indexOf(":");
    return colon > 0 ? signature.slice(0, colon) : undefined;
  }
  if (isRecord(signature) && typeof signature.keyName === "string") return signature.keyName;
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function shapeError(what: string): GenpushError {
  return new GenpushError(`nix path-info printed ${what}`, {
    hint: "this Nix version may print a shape genpush does not know yet; please report it",
  });
}
