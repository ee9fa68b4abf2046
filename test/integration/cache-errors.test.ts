// How a cache that cannot take the push reads on a terminal, against the real nginx: a cache
// that is down says so once per retry round (not once per path and try) and ends with what to
// check; a cache that takes no uploads (a plain static server: PUT is 405) fails at once,
// without retries, saying what was refused and what to enable.
import assert from "node:assert/strict";
import { test } from "node:test";
import { explain } from "./harness/cli.js";
import { scenario } from "./harness/fixture.js";
import { startCache } from "./harness/nginx.js";

test("a cache that is down: one warning per retry round, and a hint that names the checks", async (t) => {
  const s = await scenario({ paths: 8 });
  t.after(() => s.destroy());
  s.config.caches[0].timeoutSeconds = 2;
  s.configFile();
  s.switchTo(0);
  await s.cache.stop();

  const r = await s.run("push");
  assert.equal(r.code, 1, explain(r));
  const warnings = r.stderr.split("\n").filter((line) => line.startsWith("warning:"));
  const rounds = new Set(warnings.map((line) => /\(try (\d) of 5\)/.exec(line)?.[1]));
  assert.ok(warnings.length >= 1, explain(r));
  assert.equal(warnings.length, rounds.size, `one line per retry round, not per path:\n${warnings.join("\n")}`);
  assert.match(r.stderr, /error: failed to push test generation 1 to local .*unreachable/, explain(r));
  assert.match(
    r.stderr,
    /hint: check that the cache answers \(`curl -sSI http:\/\/127\.0\.0\.1:\d+\/nix-cache-info`\)/,
  );
});

test("a cache that takes no uploads (PUT answered 405): no retry, and what to enable", async (t) => {
  const readOnly = await startCache({ readOnly: true });
  const s = await scenario({ paths: 6 });
  t.after(async () => {
    await readOnly.destroy();
    await s.destroy();
  });
  s.config.caches[0].store = readOnly.url;
  s.configFile();
  s.switchTo(0);

  const r = await s.run("push", "--json");
  assert.equal(r.code, 1, explain(r));
  const { error } = r.json.results[0];
  assert.match(error.message, /^cache local takes no uploads: it answered PUT \/\S+ with HTTP 405/, explain(r));
  assert.match(error.hint, /dav_methods PUT/);
  assert.doesNotMatch(r.stderr, /retrying/, "nothing another try would change is retried");
  const puts = (await readOnly.requests()).filter((q) => q.method === "PUT").map((q) => q.uri);
  assert.ok(puts.length > 0);
  assert.equal(new Set(puts).size, puts.length, `no upload tried twice: ${puts.join(" ")}`);
});
