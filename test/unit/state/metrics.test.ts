// The metrics' last success: recorded in the state at every success (`lastSuccessAt`), so a
// rollback's success followed by a failure never moves it back to the older push's time;
// checked when the state is read, like every other field; absent in older state, derived as before.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { StorePath } from "../../../src/nix/store-path.js";
import { renderMetrics } from "../../../src/state/metrics.js";
import { type CacheState, type ProfileState, readState, stateFile, writeState } from "../../../src/state/state.js";

const OLD = "/nix/store/00000000000000000000000000000000-old" as StorePath;
const NEW = "/nix/store/11111111111111111111111111111111-new" as StorePath;
const PUSHED = "2026-01-01T00:00:00.000Z";
const ROLLED_BACK = "2026-01-02T00:00:00.000Z";
const FAILED = "2026-01-03T00:00:00.000Z";

/** The old generation pushed, then a rollback to it recorded as a success, then a newer one failed. */
function afterRollbackAndFailure(lastSuccessAt: string | undefined): CacheState {
  return {
    lastPushed: { generation: 1, storePath: OLD, at: PUSHED, counts: { closure: 3, uploaded: 3, narBytes: 30 } },
    lastResult: { status: "failed", at: FAILED, generation: 3, storePath: NEW, message: "cache down" },
    failing: NEW,
    ...(lastSuccessAt === undefined ? {} : { lastSuccessAt }),
  };
}

function lastSuccess(entry: CacheState): number {
  const state: ProfileState = { version: 1, profile: "p", caches: { lan: entry } };
  const line = renderMetrics([state], ["lan"], "h")
    .split("\n")
    .find((l) => l.startsWith("genpush_last_success_timestamp_seconds{"));
  return Number(line?.split(" ").at(-1));
}

describe("metrics: the last success", () => {
  it("is the recorded lastSuccessAt: a rollback's success followed by a failure does not move it back", () => {
    assert.equal(lastSuccess(afterRollbackAndFailure(ROLLED_BACK)), Date.parse(ROLLED_BACK) / 1000);
  });

  it("state written before lastSuccessAt: the last ok result, else the last push", () => {
    assert.equal(lastSuccess(afterRollbackAndFailure(undefined)), Date.parse(PUSHED) / 1000);
    const ok = {
      ...afterRollbackAndFailure(undefined),
      lastResult: { status: "ok" as const, at: ROLLED_BACK, generation: 1, storePath: OLD },
    };
    assert.equal(lastSuccess(ok), Date.parse(ROLLED_BACK) / 1000);
    assert.equal(lastSuccess({ lastPushed: null, lastResult: null }), 0, "never");
  });

  it("survives the state file, and a lastSuccessAt that is not a time makes the file unusable (rebuilt)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "genpush-state-"));
    const state: ProfileState = { version: 1, profile: "p", caches: { lan: afterRollbackAndFailure(ROLLED_BACK) } };
    await writeState(dir, state);
    const read = await readState(dir, "p");
    assert.equal(read.problem, undefined);
    assert.equal(read.state.caches.lan?.lastSuccessAt, ROLLED_BACK);
    assert.equal(lastSuccess(read.state.caches.lan as CacheState), Date.parse(ROLLED_BACK) / 1000);

    await mkdir(join(dir, "profiles"), { recursive: true });
    for (const bad of ["yesterday", 5, null]) {
      writeFileSync(
        stateFile(dir, "p"),
        JSON.stringify({ ...state, caches: { lan: { ...afterRollbackAndFailure(undefined), lastSuccessAt: bad } } }),
      );
      const broken = await readState(dir, "p");
      assert.match(broken.problem ?? "", /lastSuccessAt of cache lan has no valid time/, String(bad));
      assert.deepEqual(broken.state.caches, {});
    }
  });
});
