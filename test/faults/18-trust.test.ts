// Trust boundaries as root: a configuration file, a client program it names, and a state directory
// with its queue, that someone other than root can change, are each refused with exit 2 naming
// the file and the fix, before anything is attempted (no request to the cache, no state written,
// the program not run). Then the layout NixOS makes — /etc/genpush/config.yaml a link into
// /etc/static, a link into a real /nix/store path (root:nixbld 1775, root's entries) — pushes.
import assert from "node:assert/strict";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { explain, type RunResult, runGenpush, writeConfig } from "../integration/harness/cli.js";
import { scenario } from "../integration/harness/fixture.js";
import { nix, tempDir } from "../integration/harness/nix.js";
import { Ledger, summary } from "./lib/ledger.js";

test("as root, what others can change is refused before anything is attempted; NixOS's layout pushes", async (t) => {
  const s = await scenario({ paths: 10, changed: 2, sign: true });
  t.after(() => s.destroy());
  const books = new Ledger("trust");
  const g1 = s.switchTo(1);
  books.switchedTo({ ...g1, label: "test generation 1" });

  /** Refused: exit 2, the message names `culprit` and why, the hint the fix; nothing attempted. */
  const refused = async (r: RunResult, what: string, culprit: string, why: RegExp): Promise<void> => {
    assert.equal(r.code, 2, explain(r));
    assert.ok(r.stderr.includes(what), explain(r));
    assert.ok(r.stderr.includes(`${culprit} `), explain(r));
    assert.match(r.stderr, why, explain(r));
    assert.ok(r.stderr.includes(`chown root:root ${culprit} && chmod go-w ${culprit}`), explain(r));
    assert.deepEqual(await s.cache.requests(), [], explain(r));
    assert.deepEqual(existsSync(s.stateDir) ? readdirSync(s.stateDir) : [], [], "nothing in the state directory");
  };

  // The configuration file: another user's, writable by anyone, in a directory anyone can write to.
  const file = s.configFile();
  chownSync(file, 65534, 65534);
  await refused(await s.run("push", "--json"), `configuration file ${file}`, file, /is owned by uid 65534/);
  chownSync(file, 0, 0);
  chmodSync(file, 0o666);
  await refused(await s.run("push"), `configuration file ${file}`, file, /is writable by anyone \(mode 0666\)/);
  chmodSync(file, 0o644);
  chmodSync(dirname(file), 0o777);
  await refused(await s.run("push"), `configuration file ${file}`, dirname(file), /is writable by anyone/);
  chmodSync(dirname(file), 0o755);
  books.fault("a configuration file another user owns, anyone can write, or in a directory anyone can write", 3);

  // An attic client anyone can write: refused with the configuration's line, and never run.
  const bin = tempDir("genpush-bin-");
  chmodSync(bin, 0o755);
  const ran = join(bin, "ran");
  const attic = join(bin, "attic");
  writeFileSync(attic, `#!/bin/sh\necho ran > ${ran}\n`, { mode: 0o755 });
  chmodSync(attic, 0o777);
  const token = join(bin, "token");
  writeFileSync(token, "attic-token-of-the-trust-test\n", { mode: 0o600 });
  const arm = { name: "arm", systems: ["x86_64-linux"], type: "attic", endpoint: "http://127.0.0.1:9", cache: "c" };
  const atticConfig = writeConfig({
    ...s.config,
    caches: [...s.config.caches, { ...arm, tokenFile: token, atticPath: attic }],
  });
  const r = await runGenpush(["push"], { config: atticConfig });
  await refused(r, `caches[1].atticPath: the attic client ${attic}`, attic, /is writable by anyone \(mode 0777\)/);
  assert.match(r.stderr, /config\.yaml:\d+: caches\[1\]\.atticPath/, explain(r));
  assert.equal(existsSync(ran), false, "the attic client never ran");
  books.fault("an atticPath program anyone can write");

  // The state directory, and the queue in it, writable by others.
  mkdirSync(s.stateDir, { mode: 0o777 });
  chmodSync(s.stateDir, 0o777);
  await refused(await s.run("push"), `state directory ${s.stateDir}`, s.stateDir, /is writable by anyone/);
  chmodSync(s.stateDir, 0o755);
  const incoming = join(s.stateDir, "queue", "new");
  mkdirSync(incoming, { recursive: true, mode: 0o755 });
  chmodSync(incoming, 0o733);
  const q = await s.run("push", "--queue");
  assert.equal(q.code, 2, explain(q));
  assert.ok(q.stderr.includes(`state directory ${s.stateDir} can be changed by others: ${incoming} `), explain(q));
  assert.ok(q.stderr.includes(`chown root:root ${incoming} && chmod go-w ${incoming}`), explain(q));
  assert.deepEqual(await s.cache.requests(), [], explain(q));
  rmSync(join(s.stateDir, "queue"), { recursive: true });
  books.fault("a state directory, and its queue, anyone can write", 2);

  // NixOS's layout: /etc/genpush/config.yaml -> /etc/static/genpush/config.yaml, /etc/static -> a
  // store path (environment.etc), the file itself root's 0444 in /nix/store.
  const built = mkdtempSync(join(tempDir("genpush-etc-src-"), "etc-"));
  mkdirSync(join(built, "genpush"));
  writeFileSync(join(built, "genpush", "config.yaml"), `${JSON.stringify(s.config, null, 2)}\n`);
  const store = nix("nix-store", ["--add", built]).trim();
  assert.match(store, /^\/nix\/store\//);
  const etc = tempDir("genpush-etc-");
  chmodSync(etc, 0o755);
  symlinkSync(store, join(etc, "static"));
  mkdirSync(join(etc, "genpush"), { mode: 0o755 });
  const linked = join(etc, "genpush", "config.yaml");
  symlinkSync(join(etc, "static", "genpush", "config.yaml"), linked);
  const pushed = await runGenpush(["push", "--json"], { config: linked });
  assert.equal(pushed.code, 0, explain(pushed));
  assert.equal(pushed.json.results[0]?.status, "pushed", explain(pushed));
  books.reported(pushed.json);
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: s.key?.publicKey })));
});
