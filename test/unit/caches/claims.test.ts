// The claim logic where it is pure (the stale judgement, the back-off, the generations' names,
// the bound of a wait), and the take-over against an in-memory store with the same
// create-if-absent a cache has: several waiters that find one claim stale at once upload the
// path once between them; a holder that keeps its lease but never finishes is taken over once
// it held the path longer than its own upload of it may take.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  type ClaimStore,
  type Created,
  claimName,
  FileClaims,
  Fleet,
  holdBoundMs,
  holderTime,
  judge,
  nextPoll,
  renewMs,
} from "../../../src/caches/claims.js";

describe("claims", () => {
  it("names generation 0 by the hash, and later ones hash.g", () => {
    assert.equal(claimName("abc", 0), "abc");
    assert.equal(claimName("abc", 2), "abc.2");
  });

  it("judges a holder stale only after the same text (or none) for the whole stale bound", () => {
    const stale = 1000;
    let watch = judge({ seen: undefined, since: 0 }, "seq=0", 10, stale);
    assert.deepEqual(watch, { seen: "seq=0", since: 10, stale: false });
    watch = judge(watch, "seq=0", 1009, stale);
    assert.equal(watch.stale, false, "one ms short of the bound");
    assert.equal(judge(watch, "seq=0", 1010, stale).stale, true);
    // The lease renewed: the clock starts again.
    assert.deepEqual(judge(watch, "seq=1", 1500, stale), { seen: "seq=1", since: 1500, stale: false });
    // No holder at all, for the bound: stale too.
    assert.equal(judge({ seen: undefined, since: 0 }, undefined, 1000, stale).stale, true);
  });

  it("backs off from doubling to a quarter of the stale bound, and renews the lease as often", () => {
    const delays = [200];
    while (delays.length < 8) delays.push(nextPoll(delays.at(-1) as number, 60_000));
    assert.deepEqual(delays, [200, 400, 800, 1600, 3200, 6400, 12800, 15000]);
    assert.equal(renewMs(60_000), 15_000);
    assert.equal(renewMs(100), 200, "never below the first poll");
  });

  it("reads the time of a holder line", () => {
    assert.equal(
      holderTime("host=a boot=b pid=1 time=2024-01-02T03:04:05.000Z seq=3\n"),
      Date.UTC(2024, 0, 2, 3, 4, 5),
    );
    assert.equal(holderTime("host=a pid=1"), undefined);
  });

  it("a stale claim found by five waiters at once is taken over by one of them", async () => {
    const store = new MemoryClaims();
    const hash = "0".repeat(32);
    // A holder that died: its claim made, its holder file never changing again.
    assert.equal(await store.create(hash), "created");
    await store.writeHolder(hash, "host=dead pid=1 time=2024-01-01T00:00:00Z seq=0\n");
    const options = { timeoutMs: 150 };
    const signal = AbortSignal.timeout(20_000);
    const fleets = await Promise.all(Array.from({ length: 5 }, () => Fleet.open(store, options, signal)));
    let uploads = 0;
    await Promise.all(
      fleets.map((fleet) =>
        fleet?.waitFor(
          hash,
          0,
          async () => {
            uploads++;
            await new Promise((ok) => setTimeout(ok, 100));
            store.narinfos.add(hash);
          },
          signal,
        ),
      ),
    );
    assert.equal(uploads, 1, "one host took it over");
    assert.deepEqual([...store.claims.keys()], [], "the new holder removed its generation and the stale one");
    assert.ok(store.created.includes(`${hash}.1`), "the take-over made generation 1");
    for (const fleet of fleets) fleet?.close();
  });

  it("bounds a wait by what the holder's upload may take: two operations with retries, its bytes, the stale bound", () => {
    // timeoutSeconds 30: NAR and narinfo 2 minutes each with their retries, the stale bound 1 minute.
    assert.equal(holdBoundMs(30_000, 0), 300_000);
    // Plus the NAR's bytes at 64 KiB/s: 16 s a MiB.
    assert.equal(holdBoundMs(30_000, 1024 * 1024), 316_000);
  });

  it("a holder that renews its lease but never finishes is taken over once it held the path past the bound", async () => {
    const store = new MemoryClaims();
    const hash = "1".repeat(32);
    // A holder alive but stuck: its lease renewed every 10 ms, its upload never done.
    assert.equal(await store.create(hash), "created");
    let seq = 0;
    const lease = setInterval(() => store.claims.set(hash, `host=stuck pid=1 seq=${seq++}\n`), 10);
    try {
      const timeoutMs = 25;
      const signal = AbortSignal.timeout(20_000);
      const fleet = await Fleet.open(store, { timeoutMs }, signal);
      assert.ok(fleet);
      const started = performance.now();
      let uploadedAt: number | undefined;
      await fleet.waitFor(
        hash,
        0,
        async () => {
          uploadedAt = performance.now();
          store.narinfos.add(hash);
        },
        signal,
      );
      assert.ok(uploadedAt !== undefined, "the waiter uploaded the path itself");
      assert.ok(
        uploadedAt - started >= holdBoundMs(timeoutMs, 0),
        `taken over after ${uploadedAt - started} ms: never before the bound (${holdBoundMs(timeoutMs, 0)} ms)`,
      );
      assert.ok(store.created.includes(`${hash}.1`), "taken over as a stale claim: its generation 1");
      assert.equal(store.claims.has(`${hash}.1`), false, "released once its narinfo was up");
      fleet.close();
    } finally {
      clearInterval(lease);
    }
  });
});

/** A cache's claims in memory: `create` is the atomic create-if-absent. */
class MemoryClaims implements ClaimStore {
  readonly claims = new Map<string, string | undefined>();
  readonly narinfos = new Set<string>();
  readonly created: string[] = [];
  async supported(): Promise<boolean> {
    return true;
  }
  async create(claim: string): Promise<Created> {
    await tick();
    if (this.claims.has(claim)) return "exists";
    this.claims.set(claim, undefined);
    this.created.push(claim);
    return "created";
  }
  async writeHolder(claim: string, text: string): Promise<void> {
    await tick();
    this.claims.set(claim, text);
  }
  async readHolder(claim: string): Promise<string | undefined> {
    await tick();
    return this.claims.get(claim);
  }
  async remove(claim: string): Promise<void> {
    await tick();
    this.claims.delete(claim);
  }
  async present(hash: string): Promise<boolean> {
    await tick();
    return this.narinfos.has(hash);
  }
}

const tick = () => new Promise((ok) => setImmediate(ok));

describe("file:// claims", () => {
  it("mkdir decides, the holder is read whole, claims/ is made again when it went", async () => {
    const dir = mkdtempSync(join(tmpdir(), "genpush-claims-"));
    try {
      const store = new FileClaims(dir);
      assert.equal(await store.supported(), true);
      assert.equal(await store.create("abc"), "created");
      assert.equal(await store.create("abc"), "exists", "a second create of the same claim");
      assert.equal(await store.readHolder("abc"), undefined, "made, its holder not written yet");
      await store.writeHolder("abc", "host=a seq=0\n");
      await store.writeHolder("abc", "host=a seq=1\n");
      assert.equal(await store.readHolder("abc"), "host=a seq=1\n");
      assert.equal(await store.present("abc"), false);
      writeFileSync(join(dir, "abc.narinfo"), "StorePath: x\n");
      assert.equal(await store.present("abc"), true);
      await store.remove("abc");
      await store.remove("abc");
      assert.equal(await store.readHolder("abc"), undefined);
      rmSync(join(dir, "claims"), { recursive: true });
      assert.equal(await store.create("abc.1"), "created", "claims/ made again");
      // A cache directory where no claims/ can be made (root writes anywhere: a file stands in for it).
      const file = join(dir, "not-a-dir");
      writeFileSync(file, "");
      chmodSync(file, 0o444);
      assert.equal(await new FileClaims(file).supported(), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
