/**
 * One retry policy for every query and upload: exponential backoff with full
 * jitter, at least what a `Retry-After` asked for, bounded in attempts and in
 * total time. Only errors marked retryable (429, 5xx, time-outs, refused or
 * reset connections) are retried; an authentication error never is.
 */
import { GenpushError } from "./errors.js";

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  baseMs: number;
  maxMs: number;
  /** No retry starts later than this after the first try. */
  totalMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 500, maxMs: 30_000, totalMs: 120_000 };

export class RetryableError extends GenpushError {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    hint = "the generation stays pending; the next `genpush push` retries it",
  ) {
    super(message, { hint });
    this.name = "RetryableError";
  }
}

export interface RetryOptions {
  policy: RetryPolicy;
  /** Told before each retry, with a sentence for the log (warning priority). */
  onRetry?: (message: string) => void;
  signal?: AbortSignal;
  /** Test seam for the clock. */
  sleep?: (ms: number) => Promise<void>;
}

/** Every error handed to the policy names its cache, so the retry messages need nothing added. */
export async function withRetry<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T> {
  const { policy, onRetry, signal } = options;
  const sleep = options.sleep ?? ((ms: number) => delay(ms, signal));
  const started = Date.now();
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof RetryableError) || signal?.aborted) throw error;
      const backoff = Math.random() * Math.min(policy.maxMs, policy.baseMs * 2 ** (n - 1));
      const wait = Math.max(backoff, Math.min(error.retryAfterMs ?? 0, policy.maxMs));
      if (n >= policy.attempts || Date.now() - started + wait > policy.totalMs) {
        throw new GenpushError(`${error.message} (gave up after ${n} ${n === 1 ? "try" : "tries"})`, {
          ...(error.hint ? { hint: error.hint } : {}),
          cause: error,
        });
      }
      onRetry?.(`${error.message}; retrying in ${(wait / 1000).toFixed(1)}s (try ${n + 1} of ${policy.attempts})`);
      await sleep(wait);
    }
  }
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

/** `Retry-After` as seconds or an HTTP date, in milliseconds. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
