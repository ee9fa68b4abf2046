/**
 * The time bounds every run keeps, in one place (docs/guarantees.md
 * states them). A request's bound is the cache's
 * `timeoutSeconds`; an operation with its retries gets `BUDGET_PER_TIMEOUT`
 * of those (src/runtime/retry.ts); an upload may take longer by the time its bytes
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
 * The most bytes of an upload taken to be still on their way once the last of them was
 * handed to the system: 64 MiB. More than the two ends of a Linux connection buffer at
 * most (our send buffer grows to net.ipv4.tcp_wmem's maximum, 4 MiB by default; the
 * cache's receive buffer to net.ipv4.tcp_rmem's, 6 MiB by default and 32 MiB on hosts
 * tuned for fast links), with room for a proxy that buffers in between.
 */
export const IN_FLIGHT_BYTES = 64 * 1024 * 1024;

/**
 * The rule for a request that sends a body, the one every HTTP client of genpush keeps:
 * while its bytes are being handed to the system, `timeoutMs` with none accepted (no byte
 * moving) fails it; once the last of its `bytes` was handed over, nothing is seen to move
 * while the system sends what it buffered, so it may then show nothing for `timeoutMs`
 * plus the time what may still be on its way (all of it, up to IN_FLIGHT_BYTES) needs at
 * MIN_UPLOAD_BYTES_PER_SECOND. An upload that moves at that rate or faster is never cut
 * for being idle, whatever its size; a cache that stops reading is found within this.
 * The whole request stays bounded by `timeoutMs` plus uploadAllowanceMs of its size.
 */
export function idleAfterSendMs(timeoutMs: number, bytes: number): number {
  return timeoutMs + uploadAllowanceMs(Math.min(bytes, IN_FLIGHT_BYTES));
}

/**
 * A whole `push` or `verify` ends by this (the lock wait included): 6 hours.
 * What it pushed by then stays pushed, and the next run goes on from there.
 * The units' TimeoutStartSec= (6 h 15 min) is a backstop above it.
 */
export const RUN_LIMIT_MS = 6 * 60 * 60 * 1000;
