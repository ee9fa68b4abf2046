import type { RetryPolicy } from "../runtime/retry.js";

/** How a cache is driven, apart from its configuration: tests shrink the delays. */
export interface CacheOptions {
  retry: RetryPolicy;
  /** A retry is about to happen: a sentence for the log, at warning priority. */
  onRetry?: (message: string, attempt: number) => void;
  /** A cache's narinfo refused, the path counted as missing: a sentence for the log, at warning priority. */
  onRefused?: (message: string) => void;
  /** A sentence for the debug log (a cache that takes no claims: src/caches/claims.ts). */
  onDebug?: (message: string) => void;
  /** Per-request time-out for cache APIs. */
  timeoutMs: number;
}

/** The retry options for one operation of a cache. */
export function retryOptions(options: CacheOptions, signal?: AbortSignal) {
  return {
    policy: options.retry,
    ...(options.onRetry ? { onRetry: options.onRetry } : {}),
    ...(signal ? { signal } : {}),
  };
}
