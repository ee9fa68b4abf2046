// A corrupt or truncated state file: cut in half, empty, random bytes, valid JSON of the wrong
// shape, a store path that is not one, a field the code reads missing or of the wrong type, a
// link to another file. Each time: a warning that says
// the file is unusable (and quotes nothing of a link's target), exit 0, the state rebuilt (a
// regular file that parses and names the current generation), and nothing uploaded that the
// cache already has: only the paths a new generation added.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { lstatSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { explain } from "../integration/harness/cli.js";
import { narinfoUris, scenario } from "../integration/harness/fixture.js";
import { narinfo } from "../integration/harness/nginx.js";
import { minus, tempDir } from "../integration/harness/nix.js";
import { Ledger, summary } from "./lib/ledger.js";

/** What a link in the state directory might point at: its bytes must reach no log. */
const SHADOW = join(tempDir("genpush-shadow-"), "shadow");
const SHADOW_TEXT = "root:$6$SECRETHASH:19000:0:99999:7:::\n";

const CORRUPTIONS: [string, (file: string, good: string) => void][] = [
  ["truncated in the middle", (file, good) => writeFileSync(file, good.slice(0, Math.floor(good.length / 2)))],
  ["empty", (file) => writeFileSync(file, "")],
  ["random bytes", (file) => writeFileSync(file, randomBytes(512))],
  ["JSON of the wrong shape", (file) => writeFileSync(file, JSON.stringify({ version: 1, caches: [] }))],
  ["a future version", (file, good) => writeFileSync(file, good.replace('"version":1', '"version":99'))],
  [
    "a store path that is not one",
    (file, good) => writeFileSync(file, good.replace(/"storePath":"\/nix\/store\/[^"]+"/, '"storePath":"/etc/passwd"')),
  ],
  [
    "held hashes that are not hashes",
    (file, good) => writeFileSync(file, good.replace(/"held":\["[^"]+"/, '"held":["../../etc"')),
  ],
  // Well-formed JSON of the right shape, a field the code reads missing or of the wrong type.
  [
    "lastPushed without its counts",
    (file, good) =>
      writeFileSync(
        file,
        edit(good, (c) => delete c.lastPushed.counts),
      ),
  ],
  [
    "a count that is a string",
    (file, good) =>
      writeFileSync(
        file,
        edit(good, (c) => (c.lastPushed.counts.closure = "9")),
      ),
  ],
  [
    "lastResult without its time",
    (file, good) =>
      writeFileSync(
        file,
        edit(good, (c) => delete c.lastResult.at),
      ),
  ],
  [
    "a result of no known status",
    (file, good) =>
      writeFileSync(
        file,
        edit(good, (c) => (c.lastResult.status = 1)),
      ),
  ],
  [
    "a link to another file",
    (file) => {
      writeFileSync(SHADOW, SHADOW_TEXT);
      rmSync(file);
      symlinkSync(SHADOW, file);
    },
  ],
];

/** The state's text with its cache entry changed by `change`. */
// biome-ignore lint/suspicious/noExplicitAny: any shape a broken writer may leave
function edit(good: string, change: (entry: any) => void): string {
  const state = JSON.parse(good);
  change(state.caches.local);
  return JSON.stringify(state);
}

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
    corrupt(file, good);
    assert.notEqual(readFileSync(file, "utf8"), good, `${what}: the corruption changed the file`);
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
    assert.doesNotMatch(r.stderr, /SECRET|root:/, `${what}: nothing of a link's target quoted\n${explain(r)}`);
    assert.equal(r.json.results[0].storePath, gen.storePath);
    books.reported(r.json);
    const puts = (await s.cache.requests()).filter((q) => q.method === "PUT" && narinfo(q.uri)).map((q) => q.uri);
    const added = gen === previous ? [] : minus(gen.closure, previous.closure);
    assert.deepEqual(puts.sort(), narinfoUris(added), `${what}: uploaded exactly what the cache lacked`);
    assert.ok(lstatSync(file).isFile(), `${what}: the state file is a regular file again`);
    const rebuilt = JSON.parse(readFileSync(file, "utf8"));
    assert.equal(rebuilt.caches.local.lastPushed.storePath, gen.storePath, `${what}: the state is rebuilt`);
  }
  assert.equal(readFileSync(SHADOW, "utf8"), SHADOW_TEXT, "a link's target is never written");
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: s.key?.publicKey })));
});
