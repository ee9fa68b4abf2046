// Stores other than an HTTP cache genpush writes itself, end to end with real Nix: a file://
// binary cache (asked with a directory look-up, written by `nix copy`), a local chroot store
// (`local?root=DIR&require-sigs=false`: asked with `nix-store --check-validity`, written by `nix copy`), and an
// HTTP cache whose compression program is not installed (left to `nix copy`, which compresses
// in process). Each: the first push sends the closure, a second sends nothing, a switch sends
// the diff, and Nix reads the result back.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { missingFromCache } from "../faults/lib/ledger.js";
import { explain, runGenpush } from "./harness/cli.js";
import { hashOf, onlyResult, type Scenario, scenario } from "./harness/fixture.js";
import { narinfo } from "./harness/nginx.js";
import { minus, nix, pullIntoFreshStore, tempDir } from "./harness/nix.js";

/** First push, a push with nothing new, a switch: what each uploaded. */
async function threePushes(s: Scenario, env: NodeJS.ProcessEnv = {}) {
  const config = s.configFile();
  const push = async () => {
    const r = await runGenpush(["push", "--json"], { config, env });
    assert.equal(r.code, 0, explain(r));
    return onlyResult(r);
  };
  const g1 = s.switchTo(0);
  const first = await push();
  const again = await push();
  const g2 = s.switchTo(1);
  const diff = await push();
  return { g1, g2, first, again, diff };
}

test("a file:// binary cache: the closure, then nothing, then the diff; Nix substitutes it, signed", async (t) => {
  const s = await scenario({ paths: 12, changed: 3, sign: true });
  t.after(() => s.destroy());
  const dir = join(tempDir(), "cache");
  s.config.caches[0].store = `file://${dir}`;
  const { g1, g2, first, again, diff } = await threePushes(s);

  assert.equal(first.counts.uploaded, g1.closure.length);
  assert.equal(again.status, "up-to-date");
  assert.equal(diff.counts.uploaded, minus(g2.closure, g1.closure).length);
  assert.deepEqual(missingFromCache(dir, g2.closure), []);
  const pulled = pullIntoFreshStore(`file://${dir}`, g2.storePath, s.key?.publicKey ?? "");
  assert.ok(pulled.ok, pulled.stderr);
});

test("a local chroot store (local?root=DIR): asked and written through nix, the closure then the diff", async (t) => {
  const s = await scenario({ paths: 10, changed: 2 });
  t.after(() => s.destroy());
  const root = join(tempDir(), "chroot");
  // A local store takes only signed paths unless told otherwise, as for any `nix copy` to it.
  const store = `local?root=${root}&require-sigs=false`;
  s.config.caches[0].store = store;
  const { g1, g2, first, again, diff } = await threePushes(s);

  assert.equal(first.counts.uploaded, g1.closure.length);
  assert.equal(again.status, "up-to-date");
  assert.equal(diff.counts.uploaded, minus(g2.closure, g1.closure).length);
  const invalid = nix("nix-store", ["--store", store, "--check-validity", "--print-invalid", "--", ...g2.closure]);
  assert.equal(invalid.trim(), "", "every path of the new generation is valid in the chroot store");
});

test("compression=bzip2 without the bzip2 program: nix copy uploads instead, and Nix substitutes it", async (t) => {
  const s = await scenario({ paths: 8, changed: 2, sign: true });
  t.after(() => s.destroy());
  s.config.caches[0].store = `${s.cache.url}?compression=bzip2`;
  // A PATH with the nix tools and nothing else: no bzip2.
  const bin = join(tempDir(), "bin");
  mkdirSync(bin);
  for (const tool of ["nix", "nix-store", "nix-instantiate", "nix-env"])
    symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
  assert.equal(existsSync(join(bin, "bzip2")), false);
  const { g2 } = await threePushes(s, { PATH: bin });

  assert.ok((await s.cache.count("GET", narinfo)) > 0, "nix copy asked with GET: it did the upload");
  const info = readFileSync(join(s.cache.dir, `${hashOf(g2.storePath)}.narinfo`), "utf8");
  assert.match(info, /^Compression: bzip2$/m);
  const pulled = pullIntoFreshStore(s.cache.url, g2.storePath, s.key?.publicKey ?? "");
  assert.ok(pulled.ok, pulled.stderr);
});

test("compression=zstd without the zstd program: in process on Node >= 22.15 (genpush uploads), else nix copy", async (t) => {
  const s = await scenario({ paths: 6, changed: 2, sign: true });
  t.after(() => s.destroy());
  s.config.caches[0].store = `${s.cache.url}?compression=zstd`;
  const bin = join(tempDir(), "bin");
  mkdirSync(bin);
  for (const tool of ["nix", "nix-store", "nix-instantiate", "nix-env"])
    symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
  const { g2 } = await threePushes(s, { PATH: bin });

  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  const inProcess = major > 22 || (major === 22 && minor >= 15);
  const asked = await s.cache.count("GET", narinfo);
  if (inProcess) assert.equal(asked, 0, `Node ${process.versions.node} compresses zstd itself: genpush uploaded`);
  else assert.ok(asked > 0, `Node ${process.versions.node} has no zstd in zlib: nix copy uploaded`);
  const info = readFileSync(join(s.cache.dir, `${hashOf(g2.storePath)}.narinfo`), "utf8");
  assert.match(info, /^Compression: zstd$/m);
  const pulled = pullIntoFreshStore(s.cache.url, g2.storePath, s.key?.publicKey ?? "");
  assert.ok(pulled.ok, pulled.stderr);
});
