// The cache answers 500 for a while: the harness's nginx switched to a configuration that
// answers 500 to everything (`location / { return 500; }`) with `nginx -s reload`, and back.
// A push while it lasts fails after bounded retries, each logged, and keeps its generation
// pending; an outage that ends while genpush retries costs nothing but the retries.
import assert from "node:assert/strict";
import { test } from "node:test";
import { explain } from "../integration/harness/cli.js";
import { scenario } from "../integration/harness/fixture.js";
import { Ledger, summary } from "./lib/ledger.js";
import { setBroken } from "./lib/net.js";
import { said, startGenpush } from "./lib/proc.js";

test("a cache answering 500 for a while: failed and pending, then pushed", async (t) => {
  const s = await scenario({ paths: 12, changed: 3, sign: true });
  t.after(() => s.destroy());
  const books = new Ledger("server-errors");
  let version = 0;
  const switchNext = () => {
    const gen = s.switchTo(version++);
    books.switchedTo({ ...gen, label: `test generation ${version}` });
    return gen;
  };

  switchNext();
  books.reported((await s.run("push", "--json")).json);

  // 500 for longer than genpush retries.
  await setBroken(s.cache, true);
  books.fault("nginx reloaded with a configuration answering 500");
  const pending = switchNext();
  const started = Date.now();
  const failed = await s.run("push", "--json");
  const took = Date.now() - started;
  assert.equal(failed.code, 1, explain(failed));
  const [result] = failed.json.results;
  assert.equal(result.status, "failed");
  assert.match(result.error.message, /cache local answered [A-Z]+ \S+ with HTTP 500/, explain(failed));
  assert.match(failed.stderr, /warning: .*HTTP 500.*; retrying in \d+\.\ds \(try 2 of 5\)/, explain(failed));
  assert.ok(took < 60_000, `gave up after ${took} ms`);
  const requests = await s.cache.requests();
  const errors = requests.filter((r) => r.status === 500).length;
  assert.ok(errors >= 2, `retried: ${errors} requests answered 500`);
  assert.equal(requests.filter((r) => r.method === "PUT").length, 0, "no upload tried against a failing cache");
  const status = await s.run("status", "--json");
  assert.equal(status.json.profiles[0].caches[0].pending, true, explain(status));
  t.diagnostic(`gave up after ${took} ms and ${errors} answers of 500`);

  await setBroken(s.cache, false);
  const back = await s.run("push", "--json");
  assert.equal(back.code, 0, explain(back));
  assert.equal(back.json.results[0].status, "pushed");
  assert.equal(back.json.results[0].storePath, pending.storePath);
  books.reported(back.json);

  // 500 for a moment: the outage ends while genpush is retrying, and the push succeeds.
  switchNext();
  await setBroken(s.cache, true);
  books.fault("nginx answering 500 again, for a moment");
  const run = startGenpush(s.configFile(), ["push", "--json"]);
  const deadline = Date.now() + 30_000;
  while (!(await s.cache.requests()).some((r) => r.status === 500) && Date.now() < deadline) {
    await new Promise((ok) => setTimeout(ok, 20));
  }
  await setBroken(s.cache, false);
  const recovered = await run.result();
  assert.equal(recovered.code, 0, said(run));
  assert.equal(recovered.json.results[0].status, "pushed", said(run));
  assert.match(run.stderr(), /retrying in/, "the 500 was retried");
  books.reported(recovered.json);

  const key = s.key as NonNullable<typeof s.key>;
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: key.publicKey })));
});
