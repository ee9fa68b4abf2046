// Which push results are worth a desktop notice (notify.ts): a failure once per generation and
// cache, the recovery after it, and with `always` every upload and deferral.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type NoticeResult, noticeFor } from "../../src/notify.js";
import type { LastResult } from "../../src/state.js";
import type { StorePath } from "../../src/store-path.js";

const GEN1 = "/nix/store/00000000000000000000000000000001-nixos-system";
const GEN2 = "/nix/store/00000000000000000000000000000002-nixos-system";

function result(status: NoticeResult["status"], storePath = GEN2, extra: Partial<NoticeResult> = {}): NoticeResult {
  return { profile: "system", cache: "lan", generation: 2, storePath, status, uploaded: 0, ...extra };
}
function last(status: LastResult["status"], storePath = GEN1): LastResult {
  return { status, storePath: storePath as StorePath, generation: 1, at: "2026-12-05T06:00:00.000Z" };
}

describe("noticeFor", () => {
  it("a failure: told once per generation and cache, with the error and what happens next", () => {
    const failed = result("failed", GEN2, { message: "cache lan is unreachable" });
    assert.deepEqual(noticeFor("failures", failed, null), {
      summary: "system generation 2 did not reach lan",
      body: "cache lan is unreachable. It stays pending: the next switch or the verify timer tries again; `genpush status` says more.",
      urgency: "normal",
    });
    assert.notEqual(noticeFor("failures", failed, last("ok")), null);
    assert.notEqual(noticeFor("failures", failed, last("failed", GEN1)), null, "another generation failing is news");
    assert.equal(noticeFor("failures", failed, last("failed", GEN2)), null, "the same one failing again is not");
    assert.equal(noticeFor("never", failed, null), null);
  });

  it("the push after a failure: a recovery, whatever it uploaded", () => {
    assert.deepEqual(noticeFor("failures", result("pushed", GEN2, { uploaded: 3 }), last("failed")), {
      summary: "lan has system generation 2 now",
      body: "The push that failed before went through: 3 paths uploaded.",
      urgency: "low",
    });
    assert.equal(
      noticeFor("failures", result("up-to-date"), last("failed"))?.summary,
      "lan has system generation 2 now",
    );
    assert.equal(noticeFor("failures", result("pushed", GEN2, { uploaded: 3 }), last("ok")), null);
    assert.equal(noticeFor("never", result("pushed"), last("failed")), null);
  });

  it("always: every upload and deferral too, but not a push with nothing to send", () => {
    assert.equal(
      noticeFor("always", result("pushed", GEN2, { uploaded: 3 }), last("ok"))?.summary,
      "system generation 2 pushed to lan",
    );
    assert.equal(noticeFor("always", result("pushed", GEN2, { uploaded: 0 }), last("ok")), null);
    assert.equal(noticeFor("always", result("up-to-date"), last("ok")), null);
    const deferred = result("deferred", GEN2, { message: "the network is metered" });
    assert.equal(noticeFor("always", deferred, null)?.summary, "system generation 2 waits for an unmetered network");
    assert.equal(noticeFor("always", deferred, last("deferred", GEN2)), null, "once per generation");
    assert.equal(noticeFor("failures", deferred, null), null, "a deferral is no failure");
  });

  it("a dry run's plan is never told", () => {
    assert.equal(noticeFor("always", result("planned"), last("failed")), null);
  });
});
