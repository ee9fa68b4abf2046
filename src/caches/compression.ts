/**
 * Compressing NARs for an HTTP binary cache the way the store URI's
 * `compression=` asks (Nix's default: xz): in-process with zlib where it can
 * (none, br, gzip, zstd on Node >= 22.15), else through the method's own
 * program on PATH (xz, bzip2, zstd). Any other method, or a program not
 * found, leaves the upload to `nix copy`.
 */
import type { Duplex } from "node:stream";
import zlib from "node:zlib";
import { findExecutable } from "./client-process.js";

export interface Compression {
  /** As the narinfo names it. */
  method: string;
  /** What Nix appends to `.nar` in the file's name. */
  extension: string;
  /** A fresh compressing stream for a NAR of `narSize` bytes, or undefined for none. */
  stream(narSize: number): Promise<Duplex | undefined>;
}

const EXTENSIONS: Record<string, string> = { xz: ".xz", bzip2: ".bz2", zstd: ".zst", br: ".br" };

const PROGRAMS: Record<string, (parallel: boolean, narSize: number) => string[]> = {
  xz: (parallel, narSize) => ["-c", `--lzma2=preset=6,dict=${xzDictionary(narSize)}`, ...(parallel ? ["-T0"] : [])],
  bzip2: () => ["-c"],
  zstd: (parallel) => ["-c", "-q", ...(parallel ? ["-T0"] : [])],
};

/**
 * Nix compresses with xz's preset 6 (an 8 MiB dictionary). A dictionary
 * larger than the NAR compresses it no better, and setting one up costs xz
 * more than compressing a small NAR: the smallest power of two that holds it.
 */
export function xzDictionary(narSize: number): number {
  let dictionary = 4096;
  while (dictionary < narSize && dictionary < 8 * 1024 * 1024) dictionary *= 2;
  return dictionary;
}

type ZlibWithZstd = typeof zlib & { createZstdCompress?: () => Duplex };

export async function findCompression(method: string, parallel: boolean): Promise<Compression | undefined> {
  const extension = EXTENSIONS[method] ?? "";
  if (method === "none") return { method, extension, stream: async () => undefined };
  const z = zlib as ZlibWithZstd;
  const inProcess = {
    br: () => zlib.createBrotliCompress(),
    gzip: () => zlib.createGzip(),
    zstd: z.createZstdCompress ? () => (z.createZstdCompress as () => Duplex)() : undefined,
  }[method];
  if (inProcess) return { method, extension, stream: async () => inProcess() };
  const args = PROGRAMS[method];
  const program = args && (await findExecutable(method));
  if (!args || !program) return undefined;
  return {
    method,
    extension,
    stream: async (narSize) => {
      const { execa } = await import("execa");
      return execa(program, args(parallel, narSize), {
        stdin: "pipe",
        stdout: "pipe",
        stderr: "ignore",
        buffer: false,
      }).duplex();
    },
  };
}
