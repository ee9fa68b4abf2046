/**
 * Closures read from the local store, memoized for one run: a push to several
 * caches, or several rounds, asks Nix once per generation.
 */
import { invalidPaths, queryClosure } from "./cli.js";
import type { PathInfo } from "./path-info.js";
import type { StorePath } from "./store-path.js";

export class ClosureReader {
  private readonly closures = new Map<StorePath, Promise<PathInfo[]>>();

  constructor(private readonly signal?: AbortSignal) {}

  /** The runtime closure of a valid store path. */
  closure(path: StorePath): Promise<PathInfo[]> {
    let pending = this.closures.get(path);
    if (!pending) {
      pending = queryClosure([path], this.signal).then((result) => result.infos);
      this.closures.set(path, pending);
    }
    return pending;
  }

  /** The closure's paths, or null when `path` is no longer in the local store (garbage-collected). */
  async closureIfValid(path: StorePath): Promise<Set<StorePath> | null> {
    if (!this.closures.has(path) && (await invalidPaths([path], undefined, this.signal)).length > 0) return null;
    return new Set((await this.closure(path)).map((info) => info.path));
  }
}
