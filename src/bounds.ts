/**
 * The time bounds every run keeps, in one place (docs/guarantees.md
 * states them). A request's bound is the cache's
 * `timeoutSeconds`; an operation with its retries gets `BUDGET_PER_TIMEOUT`
 * of those (src/retry.ts); an upload may take longer by the time its bytes
 * need at the slowest rate still worth waiting for; and a whole run ends by
 * RUN_LIMIT_MS, which the units' TimeoutStartSec= backs up.
 */

/**
 * The slowest upload still waited for: 64 KiB/s (512 kbit/s, a poor residential
 * uplink). A server that reads slower than this cannot keep an upload going.
 */
export const MIN_UPLOAD_BYTES_PER_SECOND = 64 * 1024;

/** The extra time an upload of `bytes` may take beyond a request's bound. */
export function uploadAllowanceMs(bytes: number): number {
  return Math.ceil((bytes / MIN_UPLOAD_BYTES_PER_SECOND) * 1000);
}

/**
 * A whole `push` or `verify` ends by this (the lock wait included): 6 hours.
 * What it pushed by then stays pushed, and the next run goes on from there.
 * The units' TimeoutStartSec= (6 h 15 min) is a backstop above it.
 */
export const RUN_LIMIT_MS = 6 * 60 * 60 * 1000;
