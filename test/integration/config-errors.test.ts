// Bad configuration: exit 2, a message that names the key (or the YAML line), and
// nothing attempted against the cache even though there is a generation to push.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { explain, runGenpush, writeConfig } from "./harness/cli.js";
import { type Scenario, scenario } from "./harness/fixture.js";
import { tempDir } from "./harness/nix.js";

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

/** The 1-based line of the first line of `file` that holds `text`. */
function lineOf(file: string, text: string): number {
  return (
    readFileSync(file, "utf8")
      .split("\n")
      .findIndex((l) => l.includes(text)) + 1
  );
}

test("an exclude glob that cannot compile fails `config check` and push alike, naming its line and key", async (t) => {
  const s = await ready(t);
  s.config.exclude = ["*.iso", "[z-a]*"];
  const file = s.configFile();
  const where = `${file}:${lineOf(file, '"[z-a]*"')}: exclude[1]: \`[z-a]*\` is not a valid glob`;
  for (const args of [["config", "check"], ["push"]]) {
    const r = await runGenpush(args, { config: file });
    assert.equal(r.code, 2, explain(r));
    assert.ok(r.stderr.includes(where), `expected \`${where}\`\n${explain(r)}`);
    assert.doesNotMatch(r.stderr, /Invalid regular expression/, explain(r));
  }
  await assertNothingAttempted(s);
});

test("a password in the store URL: refused by every command, and said nowhere", async (t) => {
  const s = await ready(t);
  const password = `pw-${s.seed}`;
  const { host } = new URL(s.cache.url);
  s.config.caches[0].store = `http://alice:${password}@${host}/`;
  const file = s.configFile();
  for (const args of [
    ["config", "check", "--json"],
    ["push", "--json"],
    ["status", "--json"],
  ]) {
    const r = await runGenpush(args, { config: file });
    assert.equal(r.code, 2, explain(r));
    assert.ok(r.stderr.includes(`caches[0].store: holds credentials (http://***@${host}/)`), explain(r));
    assert.match(r.stderr, /hint: .*netrc/, explain(r));
    assert.ok(!`${r.stdout}${r.stderr}`.includes(password), `the password was repeated\n${explain(r)}`);
  }
  assert.equal(existsSync(s.stateDir), false, "no state written");
  await assertNothingAttempted(s);
});

test("a state directory in use for something else: push and status refuse it and create nothing in it", async (t) => {
  const s = await ready(t);
  const etc = tempDir("genpush-etc-");
  for (const name of ["passwd", "hosts", "profile"]) writeFileSync(join(etc, name), `${name}\n`);
  s.config.stateDir = etc;
  const file = s.configFile();
  for (const args of [
    ["push", "--json"],
    ["push", "--dry-run"],
    ["status", "--json"],
  ]) {
    const r = await runGenpush(args, { config: file });
    assert.equal(r.code, 2, explain(r));
    assert.ok(
      r.stderr.includes(`state directory ${etc} is not genpush's: it holds hosts, passwd, profile`),
      explain(r),
    );
    assert.match(r.stderr, /hint: set stateDir to a directory of genpush's own/, explain(r));
  }
  assert.deepEqual(readdirSync(etc).sort(), ["hosts", "passwd", "profile"], "nothing created in it");
  await assertNothingAttempted(s);
});

test("config check refuses what could never push: a store's scheme or setting misspelt, a key that is no secret key", async (t) => {
  const s = await ready(t);
  const good = s.config.caches[0].store;
  const pub = join(tempDir(), "key.pub");
  writeFileSync(pub, `genpush-test-1:${Buffer.alloc(32, 7).toString("base64")}\n`, { mode: 0o600 });
  const garbage = join(tempDir(), "key");
  writeFileSync(garbage, "not a key at all\n", { mode: 0o600 });
  const cases: [Record<string, string>, RegExp][] = [
    [
      { store: good.replace("http://", "htp://") },
      /caches\[0\]\.store: `htp:\/\/` is no kind of store Nix knows; did you mean `http:\/\/`\?/,
    ],
    [{ store: good.replace("http://", "") }, /caches\[0\]\.store: `127\.0\.0\.1:\d+` has no scheme/],
    [
      { store: `${good}?compresion=zstd` },
      /caches\[0\]\.store: `compresion` is no store setting of Nix's; did you mean `compression`\?/,
    ],
    [{ signingKeyFile: pub }, /caches\[0\]\.signingKeyFile: \S+ holds a public key: signing needs the secret one/],
    [{ signingKeyFile: garbage }, /caches\[0\]\.signingKeyFile: \S+ holds no Nix signing key/],
  ];
  for (const [change, message] of cases) {
    const config = writeConfig({ ...s.config, caches: [{ ...s.config.caches[0], ...change }] });
    for (const command of [["config", "check"], ["push"]]) {
      const r = await runGenpush(command, { config });
      assert.equal(r.code, 2, `${JSON.stringify(change)}: ${explain(r)}`);
      assert.match(r.stderr, message, explain(r));
    }
  }
  await assertNothingAttempted(s);
});
