/**
 * How far V8's old generation may grow past what is live before it is collected. Left to
 * itself, V8 lets it grow to several times what is live: a 20,000-path push peaked at 230 MiB
 * with 30 MiB live. Collected once it has grown by half (`--heap-growing-percent=50`), that
 * push peaked at 150 MiB. What is live grows with the closures a run holds (their paths'
 * information, the state, the questions and uploads in flight), so the bound is set once the
 * closures read in this run hold BOUND_FROM_PATHS paths: below that, what is live is small
 * (about 10 MiB in a 250-path update), several times it still is, and the bound only made V8
 * collect the whole heap five times where it otherwise collects it once (about 40 ms of a
 * 0.5 s update on two cores, half of it on the threads that mark beside the main one).
 * V8 reads the setting at each collection: set during a run, it holds from the next one on.
 */
import { setFlagsFromString } from "node:v8";

/** Paths held in closures from which the old generation is bounded. */
export const BOUND_FROM_PATHS = 1000;

export class HeapBound {
  private paths = 0;
  private bounded = false;

  constructor(private readonly bound: () => void = () => setFlagsFromString("--heap-growing-percent=50")) {}

  /** Whether the bound is set. */
  get set(): boolean {
    return this.bounded;
  }

  /** A closure of `paths` paths was read, and is held for the rest of the run. */
  closureRead(paths: number): void {
    this.paths += paths;
    if (this.bounded || this.paths < BOUND_FROM_PATHS) return;
    this.bounded = true;
    this.bound();
  }
}

/** The run's own. */
export const heapBound = new HeapBound();
