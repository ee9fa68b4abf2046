/**
 * Reading a file someone else names (a post-build hook's `$DRV_PATH`, a Hydra event) without
 * letting it hold or swell the process: it is opened without blocking (a FIFO would otherwise
 * wait for a writer for ever), the opened descriptor is checked to be a regular file no larger
 * than the limit before a byte is read, and the read ends by a deadline.
 */
import { constants, type Stats } from "node:fs";
import { open } from "node:fs/promises";
import { formatBytes } from "./format.js";

/** How long reading one such file may take: far more than a local file of the limits here needs. */
export const READ_TIME_LIMIT_MS = 10_000;

export interface ReadBounds {
  maxBytes: number;
  /** Refuse a symbolic link rather than follow it (a `.drv` in the store is never one). */
  noFollow?: boolean;
  timeLimitMs?: number;
}

/** Why a file was not read: `reason` completes "FILE ..."; `code` is the system's, where it gave one. */
export class FileRefused extends Error {
  readonly reason: string;
  readonly code: string | undefined;
  constructor(file: string, reason: string, code?: string) {
    super(`${file} ${reason}`);
    this.name = "FileRefused";
    this.reason = reason;
    this.code = code;
  }
}

/** The whole content of `file`, a regular file of at most `maxBytes`; anything else is FileRefused. */
export async function readBounded(file: string, bounds: ReadBounds): Promise<Buffer> {
  const limitMs = bounds.timeLimitMs ?? READ_TIME_LIMIT_MS;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FileRefused(file, `could not be read within ${limitMs / 1000} s`)), limitMs);
  });
  try {
    return await Promise.race([read(file, bounds), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function read(file: string, bounds: ReadBounds): Promise<Buffer> {
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | (bounds.noFollow ? constants.O_NOFOLLOW : 0);
  const handle = await open(file, flags).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ELOOP" && bounds.noFollow) throw new FileRefused(file, "is a symbolic link, not a file");
    throw new FileRefused(file, `cannot be opened (${error.code ?? error.message})`, error.code);
  });
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new FileRefused(file, `is ${kind(info)}, not a regular file`);
    if (info.size > bounds.maxBytes) {
      // Sizes that read alike rounded (64 MiB and a byte) are said to the byte.
      const [size, max] =
        formatBytes(info.size) === formatBytes(bounds.maxBytes)
          ? [`${info.size} bytes`, `${bounds.maxBytes} bytes`]
          : [formatBytes(info.size), formatBytes(bounds.maxBytes)];
      throw new FileRefused(file, `is ${size}, more than the ${max} allowed`);
    }
    // One byte more than it holds, to see a file that grew since.
    const buffer = Buffer.alloc(info.size + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > info.size) throw new FileRefused(file, "grew while it was read");
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

function kind(info: Stats): string {
  if (info.isDirectory()) return "a directory";
  if (info.isFIFO()) return "a FIFO (named pipe)";
  if (info.isSocket()) return "a socket";
  if (info.isCharacterDevice() || info.isBlockDevice()) return "a device";
  return "no regular file";
}
