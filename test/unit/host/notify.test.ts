// Which push results are worth a desktop notice (notify.ts): a failure once per generation and
// cache, a deferral in between forgetting nothing, the upload that recovers, and with `always`
// every upload and deferral.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type NoticeHistory, type NoticeResult, noticeFor } from "../../../src/host/notify.js";
import type { StorePath } from "../../../src/nix/store-path.js";
import type { LastResult } from "../../../src/state/state.js";

const GEN1 = "/nix/store/00000000000000000000000000000001-nixos-system";
const GEN2 = "/nix/store/00000000000000000000000000000002-nixos-system";
const NONE: NoticeHistory = { lastResult: null };

function result(status: NoticeResult["status"], storePath = GEN2, extra: Partial<NoticeResult> = {}): NoticeResult {
  return { profile: "system", cache: "lan", generation: 2, storePath, status, uploaded: 0, ...extra };
}
/** The history after a last result `status` for `storePath`; `failing` as push.ts records it. */
function after(status: LastResult["status"], storePath = GEN1, failing?: string): NoticeHistory {
  const lastResult = { status, storePath: storePath as StorePath, generation: 1, at: "2026-12-05T06:00:00.000Z" };
  return failing === undefined ? { lastResult } : { lastResult, failing };
}

describe("noticeFor", () => {
  it("a failure: told once per generation and cache, with the error and what happens next", () => {
    const failed = result("failed", GEN2, { message: "cache lan is unreachable" });
    assert.deepEqual(noticeFor("failures", failed, NONE), {
      summary: "system generation 2 did not reach lan",
      body: "cache lan is unreachable. It stays pending: the next switch or the verify timer tries again; `genpush status` says more.",
      urgency: "normal",
    });
    assert.notEqual(noticeFor("failures", failed, after("ok")), null);
    assert.notEqual(noticeFor("failures", failed, after("failed", GEN1, GEN1)), null, "another generation is news");
    assert.equal(noticeFor("failures", failed, after("failed", GEN2, GEN2)), null, "the same one again is not");
    assert.equal(
      noticeFor("failures", failed, after("deferred", GEN2, GEN2)),
      null,
      "a deferral in between does not make it news again",
    );
    assert.equal(noticeFor("never", failed, NONE), null);
  });

  it("the upload after a failure: a recovery, also when a deferral came between", () => {
    assert.deepEqual(noticeFor("failures", result("pushed", GEN2, { uploaded: 3 }), after("failed", GEN2, GEN2)), {
      summary: "lan has system generation 2 now",
      body: "The push that failed before went through: 3 paths uploaded.",
      urgency: "low",
    });
    assert.equal(
      noticeFor("failures", result("pushed"), after("deferred", GEN2, GEN2))?.summary,
      "lan has system generation 2 now",
    );
    assert.equal(noticeFor("failures", result("pushed", GEN2, { uploaded: 3 }), after("ok")), null);
    assert.equal(noticeFor("never", result("pushed"), after("failed", GEN2, GEN2)), null);
  });

  it("a rollback to a generation pushed before (up-to-date) is no recovery", () => {
    assert.equal(noticeFor("failures", result("up-to-date", GEN1), after("failed", GEN2, GEN2)), null);
  });

  it("always: every upload and deferral too, but not a push with nothing to send", () => {
    assert.equal(
      noticeFor("always", result("pushed", GEN2, { uploaded: 3 }), after("ok"))?.summary,
      "system generation 2 pushed to lan",
    );
    assert.equal(noticeFor("always", result("pushed", GEN2, { uploaded: 0 }), after("ok")), null);
    assert.equal(noticeFor("always", result("up-to-date"), after("ok")), null);
    const deferred = result("deferred", GEN2, { message: "the network is metered" });
    assert.equal(noticeFor("always", deferred, NONE)?.summary, "system generation 2 waits for an unmetered network");
    assert.equal(noticeFor("always", deferred, after("deferred", GEN2)), null, "once per generation");
    assert.equal(noticeFor("failures", deferred, NONE), null, "a deferral is no failure");
  });

  it("a dry run's plan is never told", () => {
    assert.equal(noticeFor("always", result("planned"), after("failed", GEN2, GEN2)), null);
  });
});
