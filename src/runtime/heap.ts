/**
 * How far V8's old generation may grow past what is live before it is collected. Left to
 * itself, V8 lets it grow to several times what is live: a 20,000-path push peaked at 230 MiB
 * with 30 MiB live. Collected once it has grown by half (`--heap-growing-percent=50`), that
 * push peaked at 150 MiB. What is live grows with the paths a run holds (their information,
 * the state, the questions and uploads in flight), so the bound is set once the closures read
 * in this run hold BOUND_FROM_PATHS different paths. Below that, what is live is small (about
 * 10 MiB in a 250-path update) and several times it still is; the bound only made V8 collect
 * the whole heap five times where it otherwise collects it once, each time marking on its
 * helper threads beside the main one (about 40 ms of a 0.5 s update on two cores). V8 reads
 * the setting as a full collection sets the next one's limit: set during a run, it bounds
 * every limit set from then on.
 */
import { setFlagsFromString } from "node:v8";

/** Different paths held in closures from which the old generation is bounded. */
export const BOUND_FROM_PATHS = 1000;

export class HeapBound {
  /** The paths read so far, until the bound is set. */
  private paths: Set<string> | undefined = new Set();

  constructor(private readonly bound: () => void = () => setFlagsFromString("--heap-growing-percent=50")) {}

  /** Whether the bound is set. */
  get set(): boolean {
    return this.paths === undefined;
  }

  /**
   * A closure was read, and is held for the rest of the run: its paths count once each, however
   * many closures hold them (a generation and the one before it, a queue's batches).
   */
  closureRead(paths: Iterable<string>): void {
    if (!this.paths) return;
    for (const path of paths) {
      this.paths.add(path);
      if (this.paths.size < BOUND_FROM_PATHS) continue;
      this.paths = undefined;
      this.bound();
      return;
    }
  }
}

/** The run's own. */
export const heapBound = new HeapBound();
