// A cache that accepts connections and never answers: a TCP front of the test's own before
// the harness's nginx, silent for every connection, then only once an upload (PUT) begins.
// With `timeoutSeconds: 2` genpush gives up within a bounded time, exit 1, with an error
// that names the cache and the time-out; the generation stays pending and is pushed later.
import assert from "node:assert/strict";
import { test } from "node:test";
import { explain } from "../integration/harness/cli.js";
import { scenario } from "../integration/harness/fixture.js";
import { Ledger, summary } from "./lib/ledger.js";
import { startFront } from "./lib/net.js";

/** 5 tries of 2 s, the backoff between them (at most 0.5 + 1 + 2 + 4 s), and node's start. */
const BOUND_MS = 30_000;

test("a cache that never answers: a bounded, clear failure, pending, pushed later", async (t) => {
  const s = await scenario({ paths: 12, changed: 3, sign: true });
  const front = await startFront(s.cache.port, "forward");
  t.after(async () => {
    await front.close();
    await s.destroy();
  });
  s.config.caches[0].store = front.url;
  s.config.caches[0].timeoutSeconds = 2;
  s.configFile();
  const books = new Ledger("hang");
  let version = 0;
  const switchNext = () => {
    const gen = s.switchTo(version++);
    books.switchedTo({ ...gen, label: `test generation ${version}` });
    return gen;
  };
  const timed = async () => {
    const started = Date.now();
    const r = await s.run("push", "--json");
    books.reported(r.json);
    return { r, ms: Date.now() - started };
  };

  switchNext();
  assert.equal((await timed()).r.code, 0);

  // Silent from the first byte: the existence query times out.
  front.mode = "silent";
  books.fault("the cache accepts connections and never answers");
  const pending = switchNext();
  const silent = await timed();
  assert.equal(silent.r.code, 1, explain(silent.r));
  assert.ok(silent.ms < BOUND_MS, `gave up after ${silent.ms} ms`);
  const [result] = silent.r.json.results;
  assert.equal(result.status, "failed");
  assert.match(result.error.message, /cache local did not answer HEAD \S+ within 2s/, explain(silent.r));
  assert.match(result.error.message, /gave up after \d+ tries/, explain(silent.r));
  assert.ok(front.held > 0, "connections were accepted and held");
  const status = await s.run("status", "--json");
  assert.equal(status.json.profiles[0].caches[0].pending, true, explain(status));
  assert.equal(status.json.profiles[0].caches[0].lastResult.storePath, pending.storePath);
  t.diagnostic(`silent cache: gave up after ${silent.ms} ms, ${front.held} connections held`);

  // It answers again: the pending generation goes.
  front.mode = "forward";
  const back = await timed();
  assert.equal(back.r.code, 0, explain(back.r));
  assert.equal(back.r.json.results[0].storePath, pending.storePath);
  assert.equal(back.r.json.results[0].status, "pushed");

  // Queries answered, uploads hang: nix copy has to give up too. Nix retries a failed upload
  // itself (download-attempts, 5) inside each of genpush's tries: 1 s keeps this case short.
  front.mode = "silent-puts";
  front.held = 0;
  s.config.caches[0].timeoutSeconds = 1;
  s.configFile();
  books.fault("the cache hangs as soon as an upload begins");
  const stuck = switchNext();
  const upload = await timed();
  assert.equal(upload.r.code, 1, explain(upload.r));
  assert.ok(upload.ms < 150_000, `gave up after ${upload.ms} ms`);
  assert.ok(front.held > 0, "an upload was held");
  assert.match(upload.r.json.results[0].error.message, /\blocal\b/, explain(upload.r));
  t.diagnostic(`hanging uploads: gave up after ${upload.ms} ms: ${upload.r.json.results[0].error.message}`);

  front.mode = "forward";
  const last = await timed();
  assert.equal(last.r.code, 0, explain(last.r));
  assert.equal(last.r.json.results[0].storePath, stuck.storePath);

  const key = s.key as NonNullable<typeof s.key>;
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: key.publicKey })));
});
