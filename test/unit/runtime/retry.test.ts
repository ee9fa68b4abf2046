// The retry policy: what is retried, how long one operation may take in all (the try in flight
// included), and what the caller's own stop turns into.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { GenpushError } from "../../../src/runtime/errors.js";
import { parseRetryAfter, RetryableError, retryPolicy, withRetry } from "../../../src/runtime/retry.js";

const QUICK = { attempts: 5, baseMs: 1, maxMs: 5, totalMs: 300 };

/** A try that never ends by itself: it settles only when its signal aborts. */
const endless = (signal: AbortSignal) =>
  new Promise<never>((_, reject) =>
    signal.addEventListener("abort", () => reject(new RetryableError("cache c: trickled")), { once: true }),
  );

describe("withRetry", () => {
  test("retries a retryable error and returns the success", async () => {
    let n = 0;
    const told: string[] = [];
    const value = await withRetry(
      async () => {
        if (++n < 3) throw new RetryableError("cache c answered HTTP 503");
        return "ok";
      },
      { policy: QUICK, onRetry: (m) => told.push(m) },
    );
    assert.equal(value, "ok");
    assert.equal(n, 3);
    assert.equal(told.length, 2);
    assert.match(told[0] ?? "", /^cache c answered HTTP 503; retrying in \d+\.\ds \(try 2 of 5\)$/);
  });

  test("never retries an error that is not retryable", async () => {
    let n = 0;
    await assert.rejects(
      withRetry(
        async () => {
          n++;
          throw new GenpushError("cache c refused authentication");
        },
        { policy: QUICK },
      ),
      /refused authentication/,
    );
    assert.equal(n, 1);
  });

  test("gives up after its attempts, saying how many", async () => {
    let n = 0;
    await assert.rejects(
      withRetry(
        async () => {
          n++;
          throw new RetryableError("cache c is unreachable");
        },
        { policy: { ...QUICK, attempts: 3 } },
      ),
      /cache c is unreachable \(gave up after 3 tries in [\d.]+s\)/,
    );
    assert.equal(n, 3);
  });

  test("the budget ends the try in flight: a try that never settles by itself ends at the deadline", {
    timeout: 5000,
  }, async () => {
    const started = Date.now();
    await assert.rejects(withRetry(endless, { policy: { ...QUICK, totalMs: 200 } }), /gave up after 1 try/);
    const took = Date.now() - started;
    assert.ok(took >= 190 && took < 1500, `took ${took} ms`);
  });

  test("an upload's extra allowance lengthens its budget", { timeout: 5000 }, async () => {
    const started = Date.now();
    await assert.rejects(withRetry(endless, { policy: { ...QUICK, totalMs: 100 }, extraMs: 300 }), /gave up/);
    assert.ok(Date.now() - started >= 390, "waited for the budget plus the allowance");
  });

  test("no retry starts when its wait would end past the budget (Retry-After longer than the budget)", async () => {
    let n = 0;
    const started = Date.now();
    await assert.rejects(
      withRetry(
        async () => {
          n++;
          throw new RetryableError("cache c answered HTTP 429", 60_000);
        },
        { policy: { ...QUICK, maxMs: 60_000, totalMs: 1000 } },
      ),
      /gave up after 1 try/,
    );
    assert.equal(n, 1);
    assert.ok(Date.now() - started < 500, "did not sleep first");
  });

  test("Retry-After is waited for, within the budget", async () => {
    const waits: number[] = [];
    let n = 0;
    await withRetry(
      async () => {
        if (++n === 1) throw new RetryableError("cache c answered HTTP 429", 40);
        return n;
      },
      {
        policy: { ...QUICK, maxMs: 1000 },
        sleep: async (ms) => {
          waits.push(ms);
        },
      },
    );
    assert.ok((waits[0] ?? 0) >= 40, `waited ${waits[0]} ms`);
  });

  test("the caller's stop ends a try and a wait at once, with the caller's reason", { timeout: 5000 }, async () => {
    const stop = new AbortController();
    const reason = new GenpushError("genpush stopped this run at its limit of 6 hours");
    setTimeout(() => stop.abort(reason), 50);
    const started = Date.now();
    await assert.rejects(withRetry(endless, { policy: { ...QUICK, totalMs: 60_000 }, signal: stop.signal }), reason);
    assert.ok(Date.now() - started < 1000);

    const waiting = new AbortController();
    setTimeout(() => waiting.abort(reason), 50);
    await assert.rejects(
      withRetry(
        async () => {
          throw new RetryableError("cache c answered HTTP 503", 30_000);
        },
        { policy: { ...QUICK, maxMs: 30_000, totalMs: 60_000 }, signal: waiting.signal },
      ),
      reason,
    );
  });

  test("the default budget is four request time-outs: two minutes for timeoutSeconds 30", () => {
    assert.equal(retryPolicy(30_000).totalMs, 120_000);
    assert.equal(retryPolicy(2_000).totalMs, 8_000);
  });
});

describe("parseRetryAfter", () => {
  test("seconds, an HTTP date, and nonsense", () => {
    assert.equal(parseRetryAfter("3"), 3000);
    const now = Date.parse("2026-11-26T12:00:00Z");
    assert.equal(parseRetryAfter("Thu, 26 Nov 2026 12:00:10 GMT", now), 10_000);
    assert.equal(parseRetryAfter("soon"), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });
});
