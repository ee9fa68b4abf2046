// Bad configuration: exit 2, a message that names the key (or the YAML line), and
// nothing attempted against the cache even though there is a generation to push.
import assert from "node:assert/strict";
import { test } from "node:test";
import { explain, runGenpush, writeConfig } from "./harness/cli.js";
import { type Scenario, scenario } from "./harness/fixture.js";

/** A scenario with a generation ready to push, so a CLI that ignored the error would act. */
async function ready(t: { after: (fn: () => Promise<void>) => void }): Promise<Scenario> {
  const s = await scenario({ paths: 5 });
  t.after(() => s.destroy());
  s.switchTo(0);
  return s;
}

async function assertNothingAttempted(s: Scenario): Promise<void> {
  assert.deepEqual(await s.cache.requests(), [], "no request reached the cache");
}

test("unknown cache type names caches[0].type", async (t) => {
  const s = await ready(t);
  s.config.caches[0].type = "s3-but-not-really";
  const r = await runGenpush(["push"], { config: s.configFile() });
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /caches\[0\]\.type/);
  await assertNothingAttempted(s);
});

test("a nix cache without store names caches[0].store", async (t) => {
  const s = await ready(t);
  delete s.config.caches[0].store;
  const r = await runGenpush(["push", "--json"], { config: s.configFile() });
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /caches\[0\]\.store/);
  await assertNothingAttempted(s);
});

test("an unreadable signingKeyFile names caches[0].signingKeyFile", async (t) => {
  const s = await ready(t);
  s.config.caches[0].signingKeyFile = `/nonexistent/genpush-${s.seed}/secret-key`;
  const r = await runGenpush(["push"], { config: s.configFile() });
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /caches\[0\]\.signingKeyFile/);
  await assertNothingAttempted(s);
});

test("a YAML syntax error names its line", async (t) => {
  const s = await ready(t);
  const yaml = [
    `stateDir: ${s.stateDir}`,
    "profiles:",
    "  - name: test",
    `    path: ${s.profile}`,
    "caches:",
    "  - name: local",
    "    type: nix: oops",
    `    store: ${s.cache.url}`,
    "    systems: [x86_64-linux]",
    "",
  ].join("\n");
  const r = await runGenpush(["push"], { config: writeConfig(yaml) });
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /\bline 7\b|:7(?::\d+)?(?!\d)/, "the error points at line 7");
  await assertNothingAttempted(s);
});

test("no caches at all is a configuration error", async (t) => {
  const s = await ready(t);
  delete s.config.caches;
  const r = await runGenpush(["push"], { config: s.configFile() });
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, /caches/);
  await assertNothingAttempted(s);
});

test("a config file that does not exist is a usage error", async (t) => {
  const s = await ready(t);
  const missing = `/nonexistent/genpush-${s.seed}/config.yaml`;
  const r = await runGenpush(["push"], { config: missing });
  assert.equal(r.code, 2, explain(r));
  assert.ok(r.stderr.includes(missing), "the error names the file");
  await assertNothingAttempted(s);
});
