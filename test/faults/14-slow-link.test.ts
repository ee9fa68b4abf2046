// A cache that reads uploads slowly, before the harness's real nginx: the suite's slow reader
// takes what genpush sends into a buffer as large as this Linux lets a receive buffer grow
// (net.ipv4.tcp_rmem's maximum) and passes it on at a fixed rate. A NAR of a few MiB is then
// handed to the system whole long before the cache has read it, and nothing is seen to move
// while it does. With `timeoutSeconds: 5`, an upload at four times the 64 KiB/s floor, and one
// at the floor itself, must arrive (and Nix must substitute what arrived); a cache that stops
// reading mid-upload must still fail the run within the bound docs/guarantees.md states: four
// time-outs plus the NAR's bytes at 64 KiB/s.
import assert from "node:assert/strict";
import { test } from "node:test";
import { IN_FLIGHT_BYTES, MIN_UPLOAD_BYTES_PER_SECOND, uploadAllowanceMs } from "../../src/runtime/bounds.js";
import { explain } from "../integration/harness/cli.js";
import { scenario } from "../integration/harness/fixture.js";
import { nix } from "../integration/harness/nix.js";
import { Ledger, summary } from "./lib/ledger.js";
import { said, startGenpush } from "./lib/proc.js";
import { largestReceiveBuffer, largestSendBuffer, startSlowReader } from "./lib/slow-reader.js";

const TIMEOUT_SECONDS = 5;
/** The test's own backstop: a run still going then is killed (and the test fails). */
const KILL_MS = 150_000;
/** Node's start, the closure, the questions before the upload: what a run takes beside its upload. */
const SLACK_MS = 20_000;

/** A scenario whose leaf 0 (the one each version changes) holds `randomBytes` (base64: a third more). */
async function slowCache(t: import("node:test").TestContext, randomBytes: number, bytesPerSecond: number) {
  const s = await scenario({
    paths: 8,
    changed: 1,
    sign: true,
    leafBytes: `i: if i == 0 then ${randomBytes} else 100`,
  });
  const reader = await startSlowReader(s.cache.port, { bytesPerSecond, bufferBytes: largestReceiveBuffer() });
  t.after(async () => {
    await reader.close();
    await s.destroy();
  });
  // Not compressed: the bytes on the wire are the NAR's, so the rate is the NAR's rate.
  s.config.caches[0].store = `${reader.url}?compression=none`;
  s.config.caches[0].timeoutSeconds = TIMEOUT_SECONDS;
  const config = s.configFile();
  const books = new Ledger("slow-link");
  let version = 0;
  const switchNext = () => {
    const gen = s.switchTo(version++);
    books.switchedTo({ ...gen, label: `test generation ${version}` });
    const leaf = gen.closure.find((path) => path.endsWith("-leaf-0")) as string;
    return { gen, narSize: Number(nix("nix-store", ["--query", "--size", leaf]).trim()) };
  };
  const push = async () => {
    const run = startGenpush(config, ["push", "--json"]);
    const backstop = setTimeout(() => run.kill(), KILL_MS);
    const r = await run.result();
    clearTimeout(backstop);
    assert.notEqual(r.code, -1, `still running after ${KILL_MS} ms, killed\n${said(run)}`);
    books.reported(r.json);
    return { r, ms: (await run.exited).at - run.startedAt };
  };
  const settle = () => {
    const key = s.key as NonNullable<typeof s.key>;
    return summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: key.publicKey }));
  };
  return { reader, books, switchNext, push, settle };
}

test("a cache reading at 256 KiB/s with the largest buffers Linux gives gets a 3 MiB NAR, timeoutSeconds 5", async (t) => {
  // What the in-flight allowance must cover: this machine's largest send and receive buffers.
  const buffers = largestSendBuffer() + largestReceiveBuffer();
  assert.ok(IN_FLIGHT_BYTES >= buffers, `IN_FLIGHT_BYTES (${IN_FLIGHT_BYTES}) < this Linux's buffers (${buffers})`);
  const rate = 4 * MIN_UPLOAD_BYTES_PER_SECOND;
  const { reader, books, switchNext, push, settle } = await slowCache(t, 2_300_000, rate);
  const { narSize } = switchNext();
  books.fault(`the cache reads uploads at ${rate / 1024} KiB/s behind a ${reader.bufferBytes >> 20} MiB buffer`);
  const { r, ms } = await push();
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.json.results[0].status, "pushed", explain(r));
  // The reader really was that slow: the NAR alone took this long to be read.
  assert.ok(ms >= (narSize / rate) * 1000 * 0.9, `pushed ${narSize} bytes in ${ms} ms at ${rate} B/s?`);
  assert.ok(reader.passed >= narSize, `the reader passed ${reader.passed} bytes on`);
  t.diagnostic(`${narSize} bytes at ${rate / 1024} KiB/s: pushed in ${ms} ms`);
  t.diagnostic(settle());
});

test("at the 64 KiB/s floor a NAR still arrives; a cache that stops reading fails the run within the bound", async (t) => {
  const rate = MIN_UPLOAD_BYTES_PER_SECOND;
  const { reader, books, switchNext, push, settle } = await slowCache(t, 900_000, rate);
  const first = switchNext();
  books.fault(`the cache reads uploads at ${rate / 1024} KiB/s behind a ${reader.bufferBytes >> 20} MiB buffer`);
  const slow = await push();
  assert.equal(slow.r.code, 0, explain(slow.r));
  assert.equal(slow.r.json.results[0].status, "pushed", explain(slow.r));
  assert.ok(slow.ms >= (first.narSize / rate) * 1000 * 0.9, `pushed ${first.narSize} bytes in ${slow.ms} ms`);
  t.diagnostic(`${first.narSize} bytes at ${rate / 1024} KiB/s: pushed in ${slow.ms} ms`);

  // It stops reading 64 KiB into a NAR: its buffer takes the rest, and nothing moves again.
  reader.stallNarAfter = 64 * 1024;
  const next = switchNext();
  books.fault("the cache stops reading 64 KiB into a NAR upload");
  const stuck = await push();
  const bound = 4 * TIMEOUT_SECONDS * 1000 + uploadAllowanceMs(next.narSize) + SLACK_MS;
  assert.equal(stuck.r.code, 1, explain(stuck.r));
  assert.ok(stuck.ms < bound, `ended after ${stuck.ms} ms (bound ${bound} ms)`);
  assert.ok(reader.stalled > 0, "a connection stopped reading");
  const [failed] = stuck.r.json.results;
  assert.equal(failed.status, "failed", explain(stuck.r));
  assert.match(
    failed.error.message,
    /cache local did not answer PUT \/nar\/\S+ within [\d.]+s.*gave up after \d+ tr/,
    explain(stuck.r),
  );
  t.diagnostic(`stopped reading: ended after ${stuck.ms} ms: ${failed.error.message}`);

  // It reads again (fast): the pending generation goes.
  reader.stallNarAfter = undefined;
  reader.bytesPerSecond = 64 * 1024 * 1024;
  const back = await push();
  assert.equal(back.r.code, 0, explain(back.r));
  assert.equal(back.r.json.results[0].storePath, next.gen.storePath);
  assert.equal(back.r.json.results[0].status, "pushed");
  t.diagnostic(settle());
});
