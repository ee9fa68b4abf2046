/**
 * A store path serialised as a NAR (Nix ARchive), read straight from the
 * file system: what `nix-store --dump` prints, without a process per path.
 * Directory entries are sorted by their bytes, names stay bytes (a name need
 * not be UTF-8), and only the owner's execute bit counts, as in Nix.
 * The caller checks the result against the NAR hash the store recorded.
 */
import type { Stats } from "node:fs";
import { lstat, open, readdir, readlink } from "node:fs/promises";
import { GenpushError } from "../runtime/errors.js";

/** Pieces are gathered into chunks of about this size before they are handed on. */
const CHUNK = 128 * 1024;
const SLASH = Buffer.from("/");

function str(value: string | Buffer): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value) : value;
  const out = Buffer.alloc(8 + bytes.length + padding(bytes.length));
  out.writeBigUInt64LE(BigInt(bytes.length));
  bytes.copy(out, 8);
  return out;
}

function padding(length: number): number {
  return (8 - (length % 8)) % 8;
}

const token = (...parts: string[]) => Buffer.concat(parts.map((part) => str(part)));
const HEADER = token("nix-archive-1");
const REGULAR = token("(", "type", "regular");
const EXECUTABLE = token("executable", "");
const CONTENTS = token("contents");
const SYMLINK = token("(", "type", "symlink", "target");
const DIRECTORY = token("(", "type", "directory");
const ENTRY = token("entry", "(", "name");
const NODE = token("node");
const CLOSE = token(")");

/** The NAR of `path`, in chunks. */
export async function* dumpPath(path: string): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let size = 0;
  for await (const piece of node(Buffer.from(path))) {
    pending.push(piece);
    size += piece.length;
    if (size >= CHUNK) {
      yield pending.length === 1 ? piece : Buffer.concat(pending, size);
      pending = [];
      size = 0;
    }
  }
  if (size > 0) yield Buffer.concat(pending, size);
}

/**
 * Writes the NAR of `path` into `target` (a NAR whose size is known: the store recorded it),
 * files read straight into it, no piece copied twice; returns the NAR's size. A NAR larger
 * than `target` is counted to its end and written only as far as it fits: the caller
 * compares the size with what the store recorded.
 */
export async function narInto(path: string, target: Buffer): Promise<number> {
  let size = 0;
  const readInto = async (file: Buffer, stat: Stats) => {
    if (size + stat.size <= target.length) await readWhole(file, target.subarray(size, size + stat.size));
    size += stat.size;
  };
  for await (const piece of node(Buffer.from(path), true, readInto)) {
    if (size + piece.length <= target.length) piece.copy(target, size);
    size += piece.length;
  }
  return size;
}

/** Where a file's contents go: handed on in pieces (by default), or read into place by the consumer. */
type ReadInto = (path: Buffer, stat: Stats) => Promise<void>;

async function* node(path: Buffer, top = true, readInto?: ReadInto): AsyncGenerator<Buffer> {
  if (top) yield HEADER;
  const stat = await lstat(path);
  if (stat.isSymbolicLink()) {
    yield SYMLINK;
    yield str(await readlink(path, { encoding: "buffer" }));
  } else if (stat.isFile()) {
    yield REGULAR;
    if (stat.mode & 0o100) yield EXECUTABLE;
    yield CONTENTS;
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(stat.size));
    yield length;
    if (readInto) await readInto(path, stat);
    else yield* contents(path, stat);
    yield Buffer.alloc(padding(stat.size));
  } else if (stat.isDirectory()) {
    yield DIRECTORY;
    const names = (await readdir(path, { encoding: "buffer" })).sort(Buffer.compare);
    for (const name of names) {
      yield ENTRY;
      yield str(name);
      yield NODE;
      yield* node(Buffer.concat([path, SLASH, name]), false, readInto);
      yield CLOSE;
    }
  } else {
    throw new GenpushError(`${path.toString()} is neither a file, a directory nor a symlink: it cannot be in a NAR`);
  }
  yield CLOSE;
}

/** The file's first `into.length` bytes (its size when it was looked at), read into `into`. */
async function readWhole(path: Buffer, into: Buffer): Promise<void> {
  const file = await open(path, "r");
  try {
    for (let done = 0; done < into.length; ) {
      const { bytesRead } = await file.read(into, done, into.length - done, done);
      if (bytesRead === 0) throw new GenpushError(`${path.toString()} shrank while it was being read`);
      done += bytesRead;
    }
  } finally {
    await file.close();
  }
}

async function* contents(path: Buffer, stat: Stats): AsyncGenerator<Buffer> {
  const file = await open(path, "r");
  try {
    let left = stat.size;
    while (left > 0) {
      const buffer = Buffer.allocUnsafe(Math.min(left, 1024 * 1024));
      const { bytesRead } = await file.read(buffer, 0, buffer.length, stat.size - left);
      if (bytesRead === 0) throw new GenpushError(`${path.toString()} shrank while it was being read`);
      left -= bytesRead;
      yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
    }
  } finally {
    await file.close();
  }
}
