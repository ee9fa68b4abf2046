import type { CacheConfig } from "../config/config.js";
import type { PathInfo } from "../nix/path-info.js";
import type { StorePath } from "../nix/store-path.js";
import type { ListedClaim } from "./claims.js";

export interface PushProgress {
  /** Paths uploaded so far, of `total`; with the NAR bytes of those paths where the backend knows which they are. */
  onProgress?(done: number, total: number, narBytes?: number): void;
  /** A path of `narBytes` another host of a fleet uploaded while this one waited for it (caches/claims.ts). */
  onWaited?(narBytes: number): void;
}

/**
 * What Cache.pushMissing is told besides progress: the paths found missing (`P`: the paths'
 * type), and when the paths are held against garbage collection.
 */
export interface PushMissingEvents<P = PathInfo> extends PushProgress {
  onMissing?(missing: P[]): void;
  /** Settles once the paths' GC root is made (it never rejects); undefined: they are held already. */
  rooted?: Promise<void>;
}

/** One binary cache, whatever the backend. */
export interface Cache {
  readonly name: string;
  readonly config: CacheConfig;
  /**
   * The backend refuses a path whose references it lacks (`nix copy` to a
   * binary cache), so it must be sent whole closures: no upstream filter, and
   * excluding a path excludes what depends on it.
   */
  readonly wholeClosures: boolean;
  /** Which of `paths` the cache lacks, asked fresh (no cached answers). */
  missing(paths: readonly StorePath[], signal?: AbortSignal): Promise<StorePath[]>;
  /**
   * Which of `paths` the cache lacks whole: no narinfo, a narinfo that is not the path as the
   * local store holds it (malformed, another store path, other content, not signed by the
   * cache's key), or a narinfo whose NAR is gone (what `verify` asks: a cache's own clean-up
   * may take one without the other). Where the backend keeps the two together and its
   * narinfo is not read, the same as `missing`.
   */
  incomplete(paths: readonly PathInfo[], signal?: AbortSignal): Promise<StorePath[]>;
  /**
   * The claims hosts of a fleet hold in the cache (caches/claims.ts), for verify: "unlisted"
   * where the cache gives no listing of them; undefined where this kind of cache takes none.
   */
  claims?(signal?: AbortSignal): Promise<ListedClaim[] | "unlisted" | undefined>;
  /**
   * Where the backend uploads itself: ask which of `paths` (dependencies first) the cache lacks
   * and upload those, each path's upload starting as soon as its answer says it is missing
   * (what `missing` then `push` do, without waiting for the last answer). `onMissing` is told the
   * paths found missing, dependencies first, once every answer is in; they are returned once all
   * are uploaded. Undefined, having asked nothing, where the backend uploads another way: then
   * `missing`, then `push`. `rooted`, where given, settles once the paths are held against
   * garbage collection (their GC root made; it never rejects): the questions go out meanwhile,
   * and no NAR is read from the store before.
   */
  pushMissing?(
    paths: readonly PathInfo[],
    events: PushMissingEvents,
    signal?: AbortSignal,
  ): Promise<PathInfo[] | undefined>;
  /** Upload `paths`, ordered dependencies first. */
  push(paths: readonly PathInfo[], events: PushProgress, signal?: AbortSignal): Promise<void>;
  /** Release connections. */
  close(): void;
}
