// A corrupt or truncated state file: cut in half, empty, random bytes, valid JSON of the wrong
// shape, a store path that is not one. Each time: a warning that says the file is unusable,
// exit 0, the state rebuilt (it parses and names the current generation), and nothing
// uploaded that the cache already has: only the paths a new generation added.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { explain } from "../integration/harness/cli.js";
import { narinfoUris, scenario } from "../integration/harness/fixture.js";
import { narinfo } from "../integration/harness/nginx.js";
import { minus } from "../integration/harness/nix.js";
import { Ledger, summary } from "./lib/ledger.js";

const CORRUPTIONS: [string, (good: string) => string | Buffer][] = [
  ["truncated in the middle", (good) => good.slice(0, Math.floor(good.length / 2))],
  ["empty", () => ""],
  ["random bytes", () => randomBytes(512)],
  ["JSON of the wrong shape", () => JSON.stringify({ version: 1, caches: [] })],
  ["a future version", (good) => good.replace('"version":1', '"version":99')],
  [
    "a store path that is not one",
    (good) => good.replace(/"storePath":"\/nix\/store\/[^"]+"/, '"storePath":"/etc/passwd"'),
  ],
  ["held hashes that are not hashes", (good) => good.replace(/"held":\["[^"]+"/, '"held":["../../etc"')],
];

test("a corrupt or truncated state file: a warning, rebuilt, nothing the cache has re-uploaded", async (t) => {
  const s = await scenario({ paths: 16, changed: 3, sign: true });
  t.after(() => s.destroy());
  const books = new Ledger("corrupt-state");
  const file = join(s.stateDir, "profiles", "test.json");
  let gen = s.switchTo(0);
  let n = 1;
  books.switchedTo({ ...gen, label: `test generation ${n}` });
  const first = await s.run("push", "--json");
  assert.equal(first.code, 0, explain(first));
  books.reported(first.json);

  for (const [i, [what, corrupt]] of CORRUPTIONS.entries()) {
    const good = readFileSync(file, "utf8");
    const bad = corrupt(good);
    assert.notEqual(String(bad), good, `${what}: the corruption changed the file`);
    writeFileSync(file, bad);
    books.fault(`state file ${what}`);
    // Every other round a switch too: the rebuilt state must still upload exactly what is new.
    const previous = gen;
    if (i % 2 === 1) {
      gen = s.switchTo(i);
      books.switchedTo({ ...gen, label: `test generation ${++n}` });
    }
    await s.cache.clearLog();
    const r = await s.run("push", "--json");
    assert.equal(r.code, 0, `${what}\n${explain(r)}`);
    assert.match(r.stderr, /warning: state file .*test\.json is unusable .*rebuilding it/, `${what}\n${explain(r)}`);
    assert.equal(r.json.results[0].storePath, gen.storePath);
    books.reported(r.json);
    const puts = (await s.cache.requests()).filter((q) => q.method === "PUT" && narinfo(q.uri)).map((q) => q.uri);
    const added = gen === previous ? [] : minus(gen.closure, previous.closure);
    assert.deepEqual(puts.sort(), narinfoUris(added), `${what}: uploaded exactly what the cache lacked`);
    const rebuilt = JSON.parse(readFileSync(file, "utf8"));
    assert.equal(rebuilt.caches.local.lastPushed.storePath, gen.storePath, `${what}: the state is rebuilt`);
  }
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: s.key?.publicKey ?? "" })));
});
