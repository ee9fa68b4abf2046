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
  /** A fresh compressing stream, or undefined for none. */
  stream(): Promise<Duplex | undefined>;
}

const EXTENSIONS: Record<string, string> = { xz: ".xz", bzip2: ".bz2", zstd: ".zst", br: ".br" };

const PROGRAMS: Record<string, (parallel: boolean) => string[]> = {
  xz: (parallel) => ["-c", ...(parallel ? ["-T0"] : [])],
  bzip2: () => ["-c"],
  zstd: (parallel) => ["-c", "-q", ...(parallel ? ["-T0"] : [])],
};

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
    stream: async () => {
      const { execa } = await import("execa");
      return execa(program, args(parallel), {
        stdin: "pipe",
        stdout: "pipe",
        stderr: "ignore",
        buffer: false,
      }).duplex();
    },
  };
}
