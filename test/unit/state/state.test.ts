import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { lstatSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { StorePath } from "../../../src/nix/store-path.js";
import {
  type CacheState,
  type ProfileState,
  readState,
  stateFile,
  targetState,
  writeState,
} from "../../../src/state/state.js";
import { prng } from "../../faults/lib/prng.js";

const PATH = "/nix/store/00000000000000000000000000000000-x" as StorePath;
const fresh = () => mkdtempSync(join(tmpdir(), "genpush-state-"));

describe("state: written atomically", () => {
  it("round-trips", async () => {
    const dir = fresh();
    const state = {
      version: 1 as const,
      profile: "p",
      caches: {
        lan: {
          lastPushed: {
            generation: 3,
            storePath: PATH,
            at: "2026-01-01T00:00:00Z",
            counts: { closure: 5, uploaded: 2, narBytes: 10 },
          },
          lastResult: { status: "ok" as const, at: "2026-01-01T00:00:00Z", generation: 3, storePath: PATH },
        },
      },
    };
    await writeState(dir, state);
    assert.deepEqual((await readState(dir, "p")).state, state);
  });

  it("a missing file is an empty state, not a problem", async () => {
    const loaded = await readState(fresh(), "p");
    assert.deepEqual(loaded, { state: { version: 1, profile: "p", caches: {} } });
  });

  for (const [what, text] of [
    ["truncated", '{"version": 1, "caches": {"lan": {"lastPu'],
    ["empty", ""],
    ["another version", '{"version": 99, "caches": {}}'],
    ["a held list of non-hashes", '{"version": 1, "caches": {"lan": {"lastPushed": null, "held": ["--x"]}}}'],
    ["a bad store path", '{"version": 1, "caches": {"lan": {"lastPushed": {"storePath": "--option"}}}}'],
    ["a target that is not a string", '{"version": 1, "caches": {"lan": {"lastPushed": null, "target": 1}}}'],
    ["binary", "\u0000\n\u001b[31m\u00ff\u00fe"],
    [
      "a lastPushed without counts",
      '{"version": 1, "caches": {"lan": {"lastPushed": {"generation": 3, "storePath": "/nix/store/00000000000000000000000000000000-x", "at": "2026-01-01T00:00:00Z"}}}}',
    ],
    [
      "count that is not a number",
      '{"version": 1, "caches": {"lan": {"lastPushed": {"generation": 3, "storePath": "/nix/store/00000000000000000000000000000000-x", "at": "2026-01-01T00:00:00Z", "counts": {"closure": "1", "uploaded": 0, "narBytes": 0}}}}}',
    ],
    [
      "a lastResult of no known status",
      '{"version": 1, "caches": {"lan": {"lastResult": {"generation": 3, "storePath": "/nix/store/00000000000000000000000000000000-x", "at": "2026-01-01T00:00:00Z", "status": "maybe"}}}}',
    ],
    [
      "a lastResult without its time",
      '{"version": 1, "caches": {"lan": {"lastResult": {"status": "ok", "generation": 1, "storePath": "/nix/store/00000000000000000000000000000000-x"}}}}',
    ],
    ["failing that is not a store path", '{"version": 1, "caches": {"lan": {"failing": 7}}}'],
  ]) {
    it(`a ${what} file is reported and rebuilt, never a crash`, async () => {
      const dir = fresh();
      await mkdir(join(dir, "profiles"), { recursive: true });
      writeFileSync(stateFile(dir, "p"), text as string);
      const loaded = await readState(dir, "p");
      assert.deepEqual(loaded.state.caches, {});
      assert.match(loaded.problem ?? "", /unusable .* rebuilding it/);
      assert.match(loaded.problem ?? "", /^[\x20-\x7e]*$/, "one printable line for the journal");
    });
  }

  it("a state file that is a link is not followed: reported without its target's content, and replaced", async () => {
    const dir = fresh();
    await mkdir(join(dir, "profiles"), { recursive: true });
    const target = join(fresh(), "shadow");
    writeFileSync(target, "root:$6$SECRETHASH:19000:0:99999:7:::\n");
    symlinkSync(target, stateFile(dir, "p"));
    const loaded = await readState(dir, "p");
    assert.deepEqual(loaded.state.caches, {});
    assert.match(loaded.problem ?? "", /p\.json is unusable \(a symbolic link.*\); rebuilding it/);
    assert.doesNotMatch(loaded.problem ?? "", /root|SECRET/, "nothing of the target quoted");
    await writeState(dir, loaded.state);
    assert.ok(lstatSync(stateFile(dir, "p")).isFile(), "the link is replaced by a state file");
    assert.equal(readFileSync(target, "utf8"), "root:$6$SECRETHASH:19000:0:99999:7:::\n", "its target untouched");
  });

  it("a state file that is not a regular file (a FIFO) is reported, never waited on", { timeout: 10_000 }, async () => {
    const dir = fresh();
    await mkdir(join(dir, "profiles"), { recursive: true });
    assert.equal(spawnSync("mkfifo", [stateFile(dir, "p")]).status, 0);
    const loaded = await readState(dir, "p");
    assert.deepEqual(loaded.state.caches, {});
    assert.match(loaded.problem ?? "", /p\.json is unusable \(not a regular file\); rebuilding it/);
  });

  it("kill -9 at any moment leaves the old state or the new, never a mix", async (t) => {
    // The kill moments are seeded: a failure names its seed, and GENPUSH_STATE_SEED=N replays
    // the same moments (the writer's own pace is the scheduler's).
    const seed = Number(process.env.GENPUSH_STATE_SEED ?? randomInt(2 ** 31));
    t.diagnostic(`seed ${seed} (set GENPUSH_STATE_SEED to replay it)`);
    const random = prng(seed);
    const dir = fresh();
    const generations = new Set<number>();
    for (let round = 0; round < 25; round++) {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", new URL("../helpers/state-writer.ts", import.meta.url).pathname, dir],
        {
          stdio: ["ignore", "pipe", "inherit"],
        },
      );
      await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, random() * 40));
      child.kill("SIGKILL");
      await new Promise((resolve) => child.once("exit", resolve));
      const loaded = await readState(dir, "p");
      assert.equal(loaded.problem, undefined, `round ${round}, seed ${seed}: ${loaded.problem}`);
      const values = Object.values(loaded.state.caches).map((c) => c.lastPushed?.generation);
      assert.equal(values.length, 200, `round ${round}, seed ${seed}`);
      assert.equal(new Set(values).size, 1, `every entry from the same write (round ${round}, seed ${seed})`);
      generations.add(values[0] as number);
    }
    assert.ok(generations.size > 1, `the writer was killed at different points (seed ${seed})`);
    // Killed writers may leave temp files behind; they are never read as state.
    assert.deepEqual(
      readdirSync(join(dir, "profiles")).filter((f) => !f.startsWith(".")),
      ["p.json"],
    );
  });
});

describe("state: belongs to the cache's target, not only its name", () => {
  const at = "2026-01-01T00:00:00Z";
  const pushed: CacheState = {
    lastPushed: { generation: 3, storePath: PATH, at, counts: { closure: 1, uploaded: 1, narBytes: 1 } },
    lastResult: { status: "ok", at, generation: 3, storePath: PATH },
    held: ["0".repeat(32)],
    target: "nix http://a.lan",
  };
  const profile = (entry: CacheState): ProfileState => ({ version: 1, profile: "p", caches: { lan: entry } });

  it("the same target: what it got", () => {
    assert.deepEqual(targetState(profile(pushed), "lan", "nix http://a.lan"), { ...pushed, targetChanged: false });
  });
  it("another target: never pushed, and said so", () => {
    assert.deepEqual(targetState(profile(pushed), "lan", "nix http://b.lan"), {
      lastPushed: null,
      held: null,
      lastResult: null,
      targetChanged: true,
    });
  });
  it("another target after a failure there: the failure stays in sight", () => {
    const failed = { ...pushed, lastResult: { status: "failed" as const, at, generation: 4, storePath: PATH } };
    const seen = targetState(profile(failed), "lan", "nix http://b.lan");
    assert.equal(seen.lastPushed, null);
    assert.deepEqual(seen.lastResult, failed.lastResult);
  });
  it("an entry from before targets were recorded reads as changed (the safe side)", async () => {
    const dir = fresh();
    await mkdir(join(dir, "profiles"), { recursive: true });
    const { target: _, ...old } = pushed;
    writeFileSync(stateFile(dir, "p"), JSON.stringify(profile(old)));
    const loaded = await readState(dir, "p");
    assert.equal(loaded.problem, undefined, "a version-1 file without targets is read as it is");
    assert.equal(targetState(loaded.state, "lan", "nix http://a.lan").targetChanged, true);
  });
  it("nothing pushed yet: no target to have changed", () => {
    const none = { lastPushed: null, lastResult: null };
    assert.deepEqual(targetState(profile(none), "lan", "nix http://a.lan"), { ...none, targetChanged: false });
    assert.equal(targetState({ version: 1, profile: "p", caches: {} }, "lan", "x").targetChanged, false);
  });
});

describe("state: a full file system", () => {
  it("is a clear error, and the old state stays intact", async (t) => {
    if (process.getuid?.() !== 0) assert.fail("mounting a tmpfs needs root (CI runs as root)");
    const dir = fresh();
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", dir]);
    assert.equal(mounted.status, 0, String(mounted.stderr));
    t.after(() => spawnSync("umount", [dir]));
    const small = { version: 1 as const, profile: "p", caches: {} };
    await writeState(dir, small);
    const big = {
      ...small,
      caches: { lan: { lastPushed: null, lastResult: null, held: Array.from({ length: 5000 }, () => "0".repeat(32)) } },
    };
    await assert.rejects(writeState(dir, big), /cannot record the result in .*p\.json: the file system is full/);
    assert.deepEqual((await readState(dir, "p")).state, small);
  });
});
