/**
 * What a post-build hook needs of a derivation, read from its `.drv` file in the
 * store (ATerm: `Derive([outputs],[inputDrvs],[inputSrcs],"system","builder",[args],[env])`)
 * without starting Nix, which would cost the build more than the rest of the hook:
 * the system it builds for, and its output paths (Nix 2.8 runs the hook with
 * OUT_PATHS empty).
 */
import { FileRefused, readBounded } from "../runtime/bounded-read.js";

/** A `.drv` far larger than this is no derivation a hook should parse whole. */
export const MAX_DRV_BYTES = 64 * 1024 * 1024;

export interface Derivation {
  system: string;
  /** The output paths it names; a content-addressed derivation's are known only once built (none here). */
  outputs: string[];
}

/**
 * The derivation, or undefined when the file is missing or not a derivation. Anything but a
 * regular file of at most MAX_DRV_BYTES in the store (a symbolic link out of it, a FIFO, a
 * device, a huge file) is FileRefused before a byte is read (src/runtime/bounded-read.ts).
 */
export async function readDerivation(drvPath: string): Promise<Derivation | undefined> {
  let buffer: Buffer;
  try {
    buffer = await readBounded(drvPath, { maxBytes: MAX_DRV_BYTES, noFollow: true });
  } catch (error) {
    if (error instanceof FileRefused && error.code === "ENOENT") return undefined;
    throw error;
  }
  return parseAterm(buffer.toString("utf8"));
}

/** `Derive([("out","/nix/store/…","",""),…],[inputDrvs],[inputSrcs],"system",…)`: the outputs and the fourth field. */
export function parseAterm(text: string): Derivation | undefined {
  if (!text.startsWith("Derive([")) return undefined;
  const outputs: string[] = [];
  let i = "Derive([".length;
  while (text[i] === "(") {
    const name = readString(text, i + 1);
    const path = name && text[name.end] === "," ? readString(text, name.end + 1) : undefined;
    if (!path) return undefined;
    if (path.value !== "") outputs.push(path.value);
    i = skipValue(text, i);
    if (i < 0) return undefined;
    if (text[i] === ",") i++;
  }
  if (text[i] !== "]" || text[i + 1] !== ",") return undefined;
  i += 2;
  for (let field = 0; field < 2; field++) {
    i = skipValue(text, i);
    if (i < 0 || text[i] !== ",") return undefined;
    i++;
  }
  const system = readString(text, i)?.value;
  return system === undefined ? undefined : { system, outputs };
}

/** The index after the value starting at `i` (a string, or a list or tuple of values); -1 if malformed. */
function skipValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return readString(text, i)?.end ?? -1;
  if (c !== "[" && c !== "(") return -1;
  const close = c === "[" ? "]" : ")";
  i++;
  if (text[i] === close) return i + 1;
  for (;;) {
    i = skipValue(text, i);
    if (i < 0) return -1;
    if (text[i] === close) return i + 1;
    if (text[i] !== ",") return -1;
    i++;
  }
}

/** The string literal starting at `i` (Nix escapes `\"`, `\\`, `\n`, `\r`, `\t`) and the index after it. */
function readString(text: string, i: number): { value: string; end: number } | undefined {
  if (text[i] !== '"') return undefined;
  let value = "";
  for (let j = i + 1; j < text.length; j++) {
    const c = text[j];
    if (c === '"') return { value, end: j + 1 };
    if (c === "\\") {
      j++;
      const e = text[j];
      value += e === "n" ? "\n" : e === "r" ? "\r" : e === "t" ? "\t" : (e ?? "");
    } else {
      value += c;
    }
  }
  return undefined;
}
