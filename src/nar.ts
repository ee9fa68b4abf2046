/**
 * A store path serialised as a NAR (Nix ARchive), read straight from the
 * file system: what `nix-store --dump` prints, without a process per path.
 * Directory entries are sorted by their bytes, names stay bytes (a name need
 * not be UTF-8), and only the owner's execute bit counts, as in Nix.
 * The caller checks the result against the NAR hash the store recorded.
 */
import type { Stats } from "node:fs";
import { lstat, open, readdir, readlink } from "node:fs/promises";
import { GenpushError } from "./errors.js";

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
  for await (const piece of narPieces(path)) {
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
 * The NAR of `path` in the pieces it is made of, as they are read (many of a few bytes):
 * for a reader that copies them into a buffer of its own, which dumpPath's chunks would
 * make it copy twice.
 */
export function narPieces(path: string): AsyncGenerator<Buffer> {
  return node(Buffer.from(path));
}

async function* node(path: Buffer, top = true): AsyncGenerator<Buffer> {
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
    yield* contents(path, stat);
    yield Buffer.alloc(padding(stat.size));
  } else if (stat.isDirectory()) {
    yield DIRECTORY;
    const names = (await readdir(path, { encoding: "buffer" })).sort(Buffer.compare);
    for (const name of names) {
      yield ENTRY;
      yield str(name);
      yield NODE;
      yield* node(Buffer.concat([path, SLASH, name]), false);
      yield CLOSE;
    }
  } else {
    throw new GenpushError(`${path.toString()} is neither a file, a directory nor a symlink: it cannot be in a NAR`);
  }
  yield CLOSE;
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
