/**
 * A store path serialised as a NAR (Nix ARchive), read straight from the
 * file system: what `nix-store --dump` prints, without a process per path.
 * Directory entries are sorted by their bytes, names stay bytes (a name need
 * not be UTF-8), and only the owner's execute bit counts, as in Nix.
 * The caller checks the result against the NAR hash the store recorded.
 */
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from "node:fs";
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
 * than `target` is read no further than that: the size returned is then larger than
 * `target` (the caller compares it with what the store recorded, and refuses the path).
 *
 * Synchronous, for small NARs only (the caller's `target` bounds the work: at most its bytes
 * read, and the entries they hold): a few hundred files each opened, read and closed through
 * `fs/promises` cost five times what they cost read synchronously (each await a turn of the
 * event loop and a trip through the thread pool); the event loop is held for the reading of
 * one small NAR, and the caller gives it a turn between two.
 */
export function narIntoSync(path: string, target: Buffer): number {
  const at = { size: 0 };
  try {
    put(target, at, HEADER);
    nodeInto(Buffer.from(path), target, at);
  } catch (error) {
    if (error instanceof Larger) return error.size;
    throw error;
  }
  return at.size;
}

/** Thrown to stop a NAR that has grown past its buffer: how large it is known to be by then. */
class Larger {
  constructor(readonly size: number) {}
}

/** Append `piece` to `target` at `at.size`, or stop: the NAR is larger than `target`. */
function put(target: Buffer, at: { size: number }, piece: Buffer): void {
  if (at.size + piece.length > target.length) throw new Larger(at.size + piece.length);
  piece.copy(target, at.size);
  at.size += piece.length;
}

function nodeInto(path: Buffer, target: Buffer, at: { size: number }): void {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) {
    put(target, at, SYMLINK);
    put(target, at, str(readlinkSync(path, { encoding: "buffer" })));
  } else if (stat.isFile()) {
    put(target, at, REGULAR);
    if (stat.mode & 0o100) put(target, at, EXECUTABLE);
    put(target, at, CONTENTS);
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(stat.size));
    put(target, at, length);
    if (at.size + stat.size > target.length) throw new Larger(at.size + stat.size);
    readWholeSync(path, target.subarray(at.size, at.size + stat.size));
    at.size += stat.size;
    put(target, at, Buffer.alloc(padding(stat.size)));
  } else if (stat.isDirectory()) {
    put(target, at, DIRECTORY);
    const names = readdirSync(path, { encoding: "buffer" }).sort(Buffer.compare);
    for (const name of names) {
      put(target, at, ENTRY);
      put(target, at, str(name));
      put(target, at, NODE);
      nodeInto(Buffer.concat([path, SLASH, name]), target, at);
      put(target, at, CLOSE);
    }
  } else {
    throw notInNar(path);
  }
  put(target, at, CLOSE);
}

function notInNar(path: Buffer): GenpushError {
  return new GenpushError(`${path.toString()} is neither a file, a directory nor a symlink: it cannot be in a NAR`);
}

/** The file's first `into.length` bytes (its size when it was looked at), read into `into`. */
function readWholeSync(path: Buffer, into: Buffer): void {
  const file = openSync(path, "r");
  try {
    for (let done = 0; done < into.length; ) {
      const bytesRead = readSync(file, into, done, into.length - done, done);
      if (bytesRead === 0) throw new GenpushError(`${path.toString()} shrank while it was being read`);
      done += bytesRead;
    }
  } finally {
    closeSync(file);
  }
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
    throw notInNar(path);
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
