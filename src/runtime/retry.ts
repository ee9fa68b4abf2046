/**
 * One retry policy for every query and upload: exponential backoff with full
 * jitter, at least what a `Retry-After` asked for, bounded in attempts and by a
 * deadline for the whole operation. The deadline also ends the try in flight
 * (its signal aborts): a server that trickles an answer cannot keep one
 * operation going past it, however often its socket shows a byte. Only errors
 * marked retryable (429, 5xx, time-outs, refused or reset connections) are
 * retried; an authentication error never is.
 */
import { GenpushError } from "./errors.js";
import { formatSeconds } from "./format.js";

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  baseMs: number;
  maxMs: number;
  /** The whole operation, every try and wait included, ends by this long after the first try began. */
  totalMs: number;
}

/**
 * How many request time-outs one operation may take with its retries: with the
 * default `timeoutSeconds: 30`, two minutes.
 */
export const BUDGET_PER_TIMEOUT = 4;

/** The policy for a cache whose requests time out after `timeoutMs`. */
export function retryPolicy(timeoutMs: number): RetryPolicy {
  return { attempts: 5, baseMs: 500, maxMs: 30_000, totalMs: BUDGET_PER_TIMEOUT * timeoutMs };
}

/**
 * A failure another try may not repeat. Its hint, if any, says what to check about the cache;
 * what the failure means for the work (pending, nothing recorded) is the command's to say.
 */
export class RetryableError extends GenpushError {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    hint?: string,
  ) {
    super(message, hint === undefined ? {} : { hint });
    this.name = "RetryableError";
  }
}

export interface RetryOptions {
  policy: RetryPolicy;
  /** Added to the policy's budget for this operation (an upload: the time its bytes may take). */
  extraMs?: number;
  /** Told before each retry, with a sentence for the log (warning priority) and the try about to start (2 for the first retry). */
  onRetry?: (message: string, attempt: number) => void;
  signal?: AbortSignal;
  /** Test seam for the clock. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** The budget ran out while a try was under way: the reason its signal carries. */
export class OutOfTime extends GenpushError {}

/**
 * Run `attempt` until it succeeds, fails for good, or the operation's budget is
 * spent. `attempt` gets a signal that aborts when the caller's does or the
 * budget runs out. Every error handed to the policy names its cache, so the
 * messages need nothing added.
 */
export async function withRetry<T>(attempt: (signal: AbortSignal) => Promise<T>, options: RetryOptions): Promise<T> {
  const { policy, onRetry, signal } = options;
  const budgetMs = policy.totalMs + (options.extraMs ?? 0);
  const sleep = options.sleep ?? delay;
  const started = Date.now();
  // One controller for the tries: aborted by the caller's signal or by the budget's end.
  // (Not AbortSignal.any: thousands of operations would each leave a listener on the caller's.)
  const deadline = new AbortController();
  const tries = deadline.signal;
  const timer = setTimeout(
    () => deadline.abort(new OutOfTime(`no success within the ${formatSeconds(budgetMs)} this operation may take`)),
    budgetMs,
  );
  const onAbort = () => deadline.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  signal?.addEventListener("abort", onAbort, { once: true });
  let last: unknown;
  try {
    for (let n = 1; ; n++) {
      let failure: unknown;
      try {
        return await attempt(tries);
      } catch (error) {
        if (signal?.aborted) throw abortReason(signal, error);
        // A try cut short by the budget says less than the failure before it.
        failure = tries.aborted && last !== undefined ? last : error;
        last = failure;
      }
      if (!(failure instanceof RetryableError)) throw failure;
      const backoff = Math.random() * Math.min(policy.maxMs, policy.baseMs * 2 ** (n - 1));
      const wait = Math.max(backoff, Math.min(failure.retryAfterMs ?? 0, policy.maxMs));
      const giveUp = () =>
        new GenpushError(
          `${failure.message} (gave up after ${n} ${n === 1 ? "try" : "tries"} in ${formatSeconds(Date.now() - started)})`,
          { ...(failure.hint ? { hint: failure.hint } : {}), cause: failure },
        );
      if (n >= policy.attempts || tries.aborted || Date.now() - started + wait > budgetMs) throw giveUp();
      onRetry?.(
        `${failure.message}; retrying in ${(wait / 1000).toFixed(1)}s (try ${n + 1} of ${policy.attempts})`,
        n + 1,
      );
      try {
        await sleep(wait, tries);
      } catch (error) {
        if (signal?.aborted) throw abortReason(signal, error);
        throw giveUp();
      }
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/** What to throw when the caller stopped us: its own reason when that is one of ours (a run's limit). */
function abortReason(signal: AbortSignal, error: unknown): unknown {
  return signal.reason instanceof GenpushError ? signal.reason : error;
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** `Retry-After` as seconds or an HTTP date, in milliseconds. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
