/**
 * Compressing NARs for an HTTP binary cache the way the store URI's
 * `compression=` asks (Nix's default: xz): in-process with zlib where it can
 * (none, br, gzip, zstd on Node >= 22.15), else through the method's own
 * program on PATH (xz, bzip2, zstd). Any other method, or a program not
 * found, leaves the upload to `nix copy`.
 *
 * A large NAR streams through a compressor of its own. Small ones are compressed whole, a
 * group at a time: in process (zstd: one stream, a frame per NAR; gzip and br: one call
 * each), or, where a program does it, in one run of the
 * program over a temporary directory holding the group's NARs as files. Starting a process
 * costs Node several milliseconds (more than compressing a small NAR takes): one per NAR
 * was most of an update's time.
 */
import { constants } from "node:fs";
import { access, mkdtemp, readFile, rm, statfs, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { basename, isAbsolute, join } from "node:path";
import type { Duplex } from "node:stream";
import { promisify } from "node:util";
import zlib from "node:zlib";
import { CHILD_BOUNDS } from "../nix/cli.js";
import { uploadAllowanceMs } from "../runtime/bounds.js";
import { GenpushError } from "../runtime/errors.js";
import { findExecutable } from "../runtime/executable.js";
import { distrust, trustedOwners } from "../runtime/trust.js";

export interface Compression {
  /** As the narinfo names it. */
  method: string;
  /** What Nix appends to `.nar` in the file's name. */
  extension: string;
  /** A fresh compressing stream for a NAR of `narSize` bytes, or undefined for none. */
  stream(narSize: number): Promise<Duplex | undefined>;
  /** Small NARs (SMALL_NAR_BYTES at most each), compressed whole: the results in their order. */
  compressMany(nars: Buffer[], signal?: AbortSignal): Promise<Buffer[]>;
  /**
   * Whether compressMany runs in process: a group then costs nothing to start, and the first
   * groups of an upload can be small (its first PUT leaves early); a program's run costs
   * milliseconds, and its groups are as large as the bounds allow from the first.
   */
  inProcess: boolean;
}

/** NARs up to this size are read whole and compressed whole (`compressMany`); larger ones stream. */
export const SMALL_NAR_BYTES = 512 * 1024;

const EXTENSIONS: Record<string, string> = { xz: ".xz", bzip2: ".bz2", zstd: ".zst", br: ".br" };

/** Each program's settings for NARs of up to `narSize` bytes (`-c` added to stream one). */
const PROGRAMS: Record<string, (parallel: boolean, narSize: number) => string[]> = {
  xz: (parallel, narSize) => [`--lzma2=preset=6,dict=${xzDictionary(narSize)}`, ...(parallel ? ["-T0"] : [])],
  bzip2: () => [],
  zstd: (parallel) => ["-q", ...(parallel ? ["-T0"] : [])],
};

/**
 * What each program adds over a group's files: nothing said but errors (zstd's settings hold
 * its -q already). xz gives each output the input's owner, and exits 2 (a warning) where it
 * cannot, as under the services' SystemCallFilter=, which refuses chown: the files are
 * genpush's own, and -Q keeps such warnings out of the exit status.
 */
const OVER_FILES: Record<string, string[]> = { xz: ["-q", "-Q"], bzip2: ["-q"], zstd: [] };

/**
 * A run of a program over a group ends within twice the cache's request time-out (a minute by
 * default) plus the time its bytes get as an upload.
 */
const GROUP_LIMIT_TIMEOUTS = 2;

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

type ZlibWithZstd = typeof zlib & { createZstdCompress?: (options: object) => Duplex };

/** zlib hands its output on in chunks of this size: its default, 16 KiB, costs a main-thread callback per 16 KiB. */
const ZLIB_CHUNK = 256 * 1024;
/**
 * ... and a streamed (large) NAR's zstd output in chunks of this size: the store's reader reads
 * a file 1 MiB at a time (nix/nar.ts), and an output chunk as large takes each piece through
 * zstd in one trip to the thread pool and back, where 256 KiB took four. (An update's two
 * 10.7 MiB NARs ended about 15 ms sooner under Node 22 and 24, in 10 alternating runs.)
 */
const ZSTD_STREAM_CHUNK = 1024 * 1024;
/** zstd's ZSTD_e_end: the frame ends here, and what follows is a new frame. */
const ZSTD_E_END = (zlib.constants as Record<string, number>).ZSTD_e_end ?? 2;

/** `timeoutMs`: the cache's request time-out, which bounds a compressor's run over a group too. */
export async function findCompression(
  method: string,
  parallel: boolean,
  timeoutMs: number,
): Promise<Compression | undefined> {
  const extension = EXTENSIONS[method] ?? "";
  if (method === "none")
    return { method, extension, stream: async () => undefined, compressMany: async (nars) => nars, inProcess: true };
  const z = zlib as ZlibWithZstd;
  const createZstd = z.createZstdCompress;
  if (method === "zstd" && createZstd) {
    const stream = () => createZstd({ chunkSize: ZSTD_STREAM_CHUNK });
    // Contexts of finished groups, reused by the next: one is allocated (and zeroed) per group at once, not per group.
    // Each write of theirs ends a frame (ZSTD_e_end): one trip to the thread pool per NAR.
    const contexts: Duplex[] = [];
    return {
      method,
      extension,
      stream: async () => stream(),
      compressMany: async (nars) => {
        const context = contexts.pop() ?? createZstd({ chunkSize: ZLIB_CHUNK, flush: ZSTD_E_END });
        const frames = await framesOf(context, nars);
        contexts.push(context);
        return frames;
      },
      inProcess: true,
    };
  }
  const inProcess = {
    br: [() => zlib.createBrotliCompress({ chunkSize: ZLIB_CHUNK }), promisify(zlib.brotliCompress)] as const,
    gzip: [() => zlib.createGzip({ chunkSize: ZLIB_CHUNK }), promisify(zlib.gzip)] as const,
  }[method];
  if (inProcess) {
    const [stream, whole] = inProcess;
    return {
      method,
      extension,
      stream: async () => stream(),
      // One after another: a context each, freed only when the garbage collector gets to it.
      compressMany: async (nars) => {
        const out: Buffer[] = [];
        for (const nar of nars) out.push(await whole(nar));
        return out;
      },
      inProcess: true,
    };
  }
  const args = PROGRAMS[method];
  const program = args && (await findExecutable(method));
  if (!args || !program) return undefined;
  return {
    method,
    extension,
    stream: async (narSize) => {
      const { execa } = await import("execa");
      return execa(program, ["-c", ...args(parallel, narSize)], {
        stdin: "pipe",
        stdout: "pipe",
        stderr: "ignore",
        buffer: false,
      }).duplex();
    },
    compressMany: (nars, signal) => {
      const largest = Math.max(...nars.map((nar) => nar.length));
      return compressFiles(
        program,
        [...args(parallel, largest), ...(OVER_FILES[method] ?? [])],
        extension,
        nars,
        GROUP_LIMIT_TIMEOUTS * timeoutMs,
        signal,
      );
    },
    inProcess: false,
  };
}

/**
 * `nars` compressed one after another by one zstd stream whose every write ends a frame
 * (its `flush` is ZSTD_e_end): each is a whole zstd file, and one compression context serves
 * them all (and the next group's: the stream is left open for reuse; it is destroyed if it
 * failed). (A context each, as zlib.zstdCompress makes, holds about half a megabyte until the
 * garbage collector frees it: hundreds of small NARs held hundreds of megabytes.) A frame that
 * came in one piece is that piece, not a copy.
 */
async function framesOf(stream: Duplex, nars: Buffer[]): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  let chunks: Buffer[] = [];
  const collect = (chunk: Buffer) => chunks.push(chunk);
  stream.on("data", collect);
  try {
    for (const nar of nars) {
      // zlib hands a write's output on before it calls the write's callback; a failure of the
      // context itself destroys the stream, and may leave that callback uncalled.
      await new Promise<void>((resolve, reject) => {
        stream.once("error", reject);
        stream.write(nar, (error) => {
          stream.off("error", reject);
          if (error) reject(error);
          else resolve();
        });
      });
      frames.push(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
      chunks = [];
    }
    return frames;
  } catch (error) {
    stream.destroy();
    throw error;
  } finally {
    stream.off("data", collect);
  }
}

/**
 * Where a program's group of `bytes` of NARs is written: in a runtime directory, which systemd
 * keeps in memory (a tmpfs under /run), where there is one — `$RUNTIME_DIRECTORY` (the system
 * services' RuntimeDirectory=), else `$XDG_RUNTIME_DIR` (a login's, a user service's) — that
 * no one but root and this user can change, that this process may write to, and that has room
 * for the group twice over (its NARs and what the program writes), as many times as groups
 * are compressed at once (one per core), and then a tenth of the file system (64 MiB at
 * least) to spare for everything else in /run; else `$TMPDIR` (os.tmpdir(); the services'
 * PrivateTmp=, on disk). On a disk, making and removing two files per NAR took the program as
 * long again as compressing them: an update's 300 NARs through `zstd`, 0.2 s on ext4, 0.1 s
 * on a tmpfs.
 */
export async function groupParent(
  bytes: number,
  env: NodeJS.ProcessEnv = process.env,
  uid = process.getuid?.() ?? 0,
  atOnce = availableParallelism(),
): Promise<string> {
  // systemd lists several runtime directories separated by colons: the unit's first is its own.
  for (const dir of [env.RUNTIME_DIRECTORY?.split(":")[0], env.XDG_RUNTIME_DIR]) {
    if (!dir || !isAbsolute(dir)) continue;
    try {
      if (await distrust(dir, trustedOwners(uid))) continue;
      const { bavail, blocks, bsize } = await statfs(dir);
      if (bavail * bsize - groupDirectoryReserve(blocks * bsize) < 2 * bytes * atOnce) continue;
      await access(dir, constants.W_OK | constants.X_OK);
      return dir;
    } catch {
      // Not there, or not ours to look into or write to: the next, or $TMPDIR.
    }
  }
  return tmpdir();
}

/** What a runtime directory of `size` bytes keeps free of groups: a tenth, 64 MiB at least. */
export function groupDirectoryReserve(size: number): number {
  return Math.max(64 * 1024 * 1024, size / 10);
}

/**
 * `nars` compressed by one run of `program` over a temporary directory (groupParent) holding
 * each as a file: `xz`, `zstd` and `bzip2` each write FILE.xz, FILE.zst, FILE.bz2 beside
 * FILE. The directory is removed after. The run ends within `limitMs` plus the time its
 * bytes get as an upload.
 */
async function compressFiles(
  program: string,
  args: string[],
  extension: string,
  nars: Buffer[],
  limitMs: number,
  signal?: AbortSignal,
): Promise<Buffer[]> {
  const { execa } = await import("execa");
  const bytes = nars.reduce((sum, nar) => sum + nar.length, 0);
  const parent = await groupParent(bytes);
  const dir = await mkdtemp(join(parent, "genpush-nars-"));
  try {
    const files = nars.map((_, i) => join(dir, String(i)));
    await Promise.all(nars.map((nar, i) => writeFile(files[i] as string, nar)));
    const timeout = limitMs + uploadAllowanceMs(bytes);
    await execa(program, [...args, "--", ...files], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      timeout,
      forceKillAfterDelay: CHILD_BOUNDS.forceKillAfterMs,
      maxBuffer: 64 * 1024,
      ...(signal ? { cancelSignal: signal } : {}),
    }).catch((error: { shortMessage?: string; stderr?: string; timedOut?: boolean }) => {
      if (error.timedOut) {
        throw new GenpushError(
          `${basename(program)} did not finish compressing ${nars.length} NARs within ${Math.round(timeout / 1000)}s`,
          {
            hint: `${program} is stuck or the machine is overloaded: check \`${program} --version\` and the load (the bound is twice the cache's timeoutSeconds plus the time the bytes get as an upload)`,
          },
        );
      }
      throw new GenpushError(
        `${program} could not compress ${nars.length} NARs: ${error.stderr?.trim() || error.shortMessage}`,
        { hint: `check that ${parent} has room for them` },
      );
    });
    return await Promise.all(files.map((file) => readFile(`${file}${extension}`)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
