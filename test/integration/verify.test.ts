// What really is in the cache: verify/repair against files deleted behind genpush's
// back, and pulls into an empty store that check signatures.
import assert from "node:assert/strict";
import { createPrivateKey, sign } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { explain } from "./harness/cli.js";
import { hashOf, onlyResult, scenario } from "./harness/fixture.js";
import { startCache } from "./harness/nginx.js";
import { type Key, makeKey, pullIntoFreshStore, tempDir } from "./harness/nix.js";

test("verify reports a narinfo lost from the cache and --repair restores it", async (t) => {
  const s = await scenario({ paths: 60, sign: true });
  t.after(() => s.destroy());
  const gen = s.switchTo(0);
  const pushed = await s.run("push", "--json");
  assert.equal(pushed.code, 0, explain(pushed));

  const clean = await s.run("verify", "--profile", "test", "--json");
  assert.equal(clean.code, 0, explain(clean));
  assert.equal(clean.json.profiles[0].caches[0].status, "complete");

  const victim = gen.closure.find((p) => p.includes("-leaf-")) ?? "";
  const file = join(s.cache.dir, `${hashOf(victim)}.narinfo`);
  unlinkSync(file);

  const v = await s.run("verify", "--profile", "test", "--json");
  assert.equal(v.code, 1, explain(v));
  assert.equal(v.json.profiles[0].profile, "test");
  assert.equal(v.json.profiles[0].generation, 1);
  assert.equal(v.json.profiles[0].storePath, gen.storePath);
  const [c] = v.json.profiles[0].caches;
  assert.equal(c.cache, "local");
  assert.equal(c.closure, 60);
  assert.deepEqual(c.missing, [victim]);
  assert.equal(c.status, "incomplete");
  assert.equal(existsSync(file), false, "verify alone does not upload");

  await s.cache.clearLog();
  const repair = await s.run("verify", "--profile", "test", "--repair", "--json");
  assert.equal(repair.code, 0, explain(repair));
  assert.equal(repair.json.profiles[0].caches[0].status, "repaired");
  assert.equal(repair.json.profiles[0].caches[0].repaired, 1);
  assert.ok(existsSync(file), "the narinfo is back");
  assert.equal(await s.cache.count("PUT", (uri) => uri === `/${hashOf(victim)}.narinfo`), 1);

  const again = await s.run("verify", "--profile", "test", "--json");
  assert.equal(again.code, 0, explain(again));
  assert.equal(again.json.profiles[0].caches[0].status, "complete");
  assert.deepEqual(again.json.profiles[0].caches[0].missing, []);

  const pulled = pullIntoFreshStore(s.cache.url, gen.storePath, s.key?.publicKey ?? "");
  assert.ok(pulled.ok, `the repaired cache serves the whole closure, signed\n${pulled.stderr}`);
});

for (const kind of ["http", "file"] as const) {
  test(`verify finds a NAR lost while its narinfo stayed (${kind}), and --repair restores it`, async (t) => {
    const s = await scenario({ paths: 12, sign: true });
    t.after(() => s.destroy());
    const dir = kind === "http" ? s.cache.dir : join(tempDir(), "cache");
    if (kind === "file") {
      s.config.caches[0].store = `file://${dir}`;
      s.configFile();
    }
    const gen = s.switchTo(0);
    assert.equal((await s.run("push")).code, 0);

    const victim = gen.closure.find((p) => p.includes("-leaf-")) ?? "";
    const nar = /^URL: (\S+)$/m.exec(readFileSync(join(dir, `${hashOf(victim)}.narinfo`), "utf8"))?.[1] ?? "";
    unlinkSync(join(dir, nar));
    await s.cache.clearLog();

    const v = await s.run("verify", "--profile", "test", "--json");
    assert.equal(v.code, 1, explain(v));
    assert.deepEqual(v.json.profiles[0].caches[0].missing, [victim], explain(v));
    if (kind === "http") {
      // The cost, as README states it: a GET of each narinfo and a HEAD of each NAR.
      assert.equal(await s.cache.count("GET", (uri) => uri.endsWith(".narinfo")), gen.closure.length);
      assert.equal(await s.cache.count("HEAD", (uri) => uri.startsWith("/nar/")), gen.closure.length);
    }

    const repair = await s.run("verify", "--profile", "test", "--repair", "--json");
    assert.equal(repair.code, 0, explain(repair));
    assert.equal(repair.json.profiles[0].caches[0].repaired, 1, explain(repair));
    const again = await s.run("verify", "--profile", "test", "--json");
    assert.equal(again.json.profiles[0].caches[0].status, "complete", explain(again));
    const pulled = pullIntoFreshStore(
      kind === "http" ? s.cache.url : `file://${dir}`,
      gen.storePath,
      s.key?.publicKey ?? "",
    );
    assert.ok(pulled.ok, `the repaired cache serves the whole closure\n${pulled.stderr}`);
  });
}

test("an empty store pulls the pushed generations, with signature checking", async (t) => {
  const s = await scenario({ paths: 80, changed: 3, sign: true });
  t.after(() => s.destroy());
  const key = s.key;
  assert.ok(key);
  const g1 = s.switchTo(0);
  const r1 = await s.run("push", "--json");
  assert.equal(r1.code, 0, explain(r1));
  assert.equal(onlyResult(r1).status, "pushed");
  const info = readFileSync(join(s.cache.dir, `${hashOf(g1.storePath)}.narinfo`), "utf8");
  assert.match(info, new RegExp(`^Sig: ${key.name}:`, "m"));
  const secret = readFileSync(key.secretKeyFile, "utf8").trim();
  assert.ok(!(r1.stdout + r1.stderr).includes(secret), "the secret key never appears in output");

  const ok = pullIntoFreshStore(s.cache.url, g1.storePath, key.publicKey);
  assert.ok(ok.ok, ok.stderr);
  const wrong = makeKey(`wrong-${s.seed}`);
  assert.equal(pullIntoFreshStore(s.cache.url, g1.storePath, wrong.publicKey).ok, false);

  // The incremental push signs what it uploads too.
  const g2 = s.switchTo(1);
  const r2 = await s.run("push", "--json");
  assert.equal(r2.code, 0, explain(r2));
  const pulled = pullIntoFreshStore(s.cache.url, g2.storePath, key.publicKey);
  assert.ok(pulled.ok, pulled.stderr);
});

/** A narinfo field's value. */
const field = (text: string, name: string) => new RegExp(`^${name}: (.*)$`, "m").exec(text)?.[1] ?? "";

/** `text` with its signatures replaced by one of `key`'s over Nix's fingerprint of what it says. */
function signedBy(text: string, key: Key): string {
  const references = field(text, "References")
    .split(" ")
    .filter(Boolean)
    .map((ref) => `/nix/store/${ref}`)
    .sort()
    .join(",");
  const fingerprint = `1;${field(text, "StorePath")};${field(text, "NarHash")};${field(text, "NarSize")};${references}`;
  const secret = Buffer.from(readFileSync(key.secretKeyFile, "utf8").trim().split(":")[1] ?? "", "base64");
  const jwk = {
    kty: "OKP",
    crv: "Ed25519",
    d: secret.subarray(0, 32).toString("base64url"),
    x: secret.subarray(32).toString("base64url"),
  };
  const sig = sign(null, Buffer.from(fingerprint), createPrivateKey({ format: "jwk", key: jwk })).toString("base64");
  return `${text.replace(/^Sig: .*\n/gm, "")}Sig: ${key.name}:${sig}\n`;
}

// A narinfo Nix would refuse, or that describes other content, is not the path in the cache.
const tampered: {
  what: string;
  kind: "http" | "file";
  reason: RegExp;
  make(victim: string, other: string, key: Key): string;
}[] = [
  {
    what: "another path's narinfo in its place",
    kind: "http",
    reason: /describes another path/,
    make: (_victim, other) => other,
  },
  {
    what: "another path's narinfo in its place",
    kind: "file",
    reason: /describes another path/,
    make: (_victim, other) => other,
  },
  {
    what: "its fields intact, signed by another key of the same name",
    kind: "http",
    reason: /no valid signature by the cache's key/,
    make: (victim, _other, key) => signedBy(victim, makeKey(key.name)),
  },
  {
    what: "another NarHash, signed by the cache's own key",
    kind: "http",
    reason: /another NarHash/,
    make: (victim, other, key) =>
      signedBy(victim.replace(/^NarHash: .*$/m, `NarHash: ${field(other, "NarHash")}`), key),
  },
];

for (const { what, kind, reason, make } of tampered) {
  test(`verify counts a narinfo that is not the path as missing (${what}, ${kind}), and --repair replaces it`, async (t) => {
    const s = await scenario({ paths: 12, sign: true });
    t.after(() => s.destroy());
    const key = s.key as Key;
    const dir = kind === "http" ? s.cache.dir : join(tempDir(), "cache");
    const url = kind === "http" ? s.cache.url : `file://${dir}`;
    if (kind === "file") {
      s.config.caches[0].store = url;
      s.configFile();
    }
    const gen = s.switchTo(0);
    assert.equal((await s.run("push")).code, 0);

    const leaves = gen.closure.filter((p) => p.includes("-leaf-"));
    const victim = leaves[0] ?? "";
    const file = join(dir, `${hashOf(victim)}.narinfo`);
    const other = readFileSync(join(dir, `${hashOf(leaves[1] ?? "")}.narinfo`), "utf8");
    writeFileSync(file, make(readFileSync(file, "utf8"), other, key));
    assert.equal(pullIntoFreshStore(url, gen.storePath, key.publicKey).ok, false, "Nix refuses the cache as it is");

    const v = await s.run("verify", "--profile", "test", "--json");
    assert.equal(v.code, 1, explain(v));
    assert.equal(v.json.profiles[0].caches[0].status, "incomplete", explain(v));
    assert.deepEqual(v.json.profiles[0].caches[0].missing, [victim], explain(v));
    assert.match(v.stderr, new RegExp(`the narinfo of ${victim} .*${reason.source}`), explain(v));
    assert.ok(!v.stderr.includes(readFileSync(key.secretKeyFile, "utf8").trim().split(":")[1] ?? "?"), "no secret");

    const repair = await s.run("verify", "--profile", "test", "--repair", "--json");
    assert.equal(repair.code, 0, explain(repair));
    assert.equal(repair.json.profiles[0].caches[0].status, "repaired", explain(repair));
    assert.equal(repair.json.profiles[0].caches[0].repaired, 1, explain(repair));
    assert.equal(field(readFileSync(file, "utf8"), "StorePath"), victim, "the narinfo was overwritten");

    const again = await s.run("verify", "--profile", "test", "--json");
    assert.equal(again.code, 0, explain(again));
    assert.equal(again.json.profiles[0].caches[0].status, "complete", explain(again));
    const pulled = pullIntoFreshStore(url, gen.storePath, key.publicKey);
    assert.ok(pulled.ok, `Nix substitutes the whole closure from the repaired cache\n${pulled.stderr}`);
  });
}

test("a cache without a key: an unsigned narinfo is the path; one for another path is not", async (t) => {
  const s = await scenario({ paths: 12 });
  t.after(() => s.destroy());
  const gen = s.switchTo(0);
  assert.equal((await s.run("push")).code, 0);
  const clean = await s.run("verify", "--profile", "test", "--json");
  assert.equal(clean.code, 0, explain(clean));
  assert.equal(clean.json.profiles[0].caches[0].status, "complete", explain(clean));

  const [victim = "", donor = ""] = gen.closure.filter((p) => p.includes("-leaf-"));
  writeFileSync(
    join(s.cache.dir, `${hashOf(victim)}.narinfo`),
    readFileSync(join(s.cache.dir, `${hashOf(donor)}.narinfo`)),
  );
  const v = await s.run("verify", "--profile", "test", "--json");
  assert.equal(v.code, 1, explain(v));
  assert.deepEqual(v.json.profiles[0].caches[0].missing, [victim], explain(v));
});

/** Claims as a fleet leaves them in a cache directory: one two days old (its holder killed), one fresh, one without a holder. */
function plantClaims(dir: string): void {
  const day = 24 * 3600 * 1000;
  const holder = (name: string, at: number) => {
    mkdirSync(join(dir, "claims", name), { recursive: true });
    writeFileSync(
      join(dir, "claims", name, "holder"),
      `host=web1 boot=b pid=42 time=${new Date(at).toISOString()} seq=3\n`,
    );
  };
  holder("0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a", Date.now() - 2 * day);
  holder("1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b", Date.now());
  // Made, its holder never written (killed between the two): the directory's own time tells.
  const bare = join(dir, "claims", "2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c.1");
  mkdirSync(bare);
  const old = new Date(Date.now() - 3 * day);
  utimesSync(bare, old, old);
}

const OLD = ["2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c.1", "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a"];

test("verify reports claims older than a day: over HTTP where the server indexes claims/, and says once where it does not", async (t) => {
  const s = await scenario({ paths: 8, sign: true });
  t.after(() => s.destroy());
  const indexed = await startCache({ claims: true, claimsIndex: true });
  t.after(() => indexed.destroy());
  s.config.caches[0].store = indexed.url;
  // verify lists the claims of a fleet's cache only (docs/fleet.md).
  s.config.caches[0].fleet = true;
  s.switchTo(0);
  const pushed = await s.run("push", "--json");
  assert.equal(pushed.code, 0, explain(pushed));
  plantClaims(indexed.dir);

  const v = await s.run("verify", "--json");
  assert.equal(v.code, 0, `old claims are no failure: ${explain(v)}`);
  const [c] = v.json.profiles[0].caches;
  assert.equal(c.status, "complete");
  assert.deepEqual(
    c.oldClaims.map((claim: { claim: string }) => claim.claim),
    OLD,
    explain(v),
  );
  assert.match(c.oldClaims[1].holder, /^host=web1 /);
  assert.match(v.stderr, /holds 2 claims older than a day/);

  // The same cache served without the index: verify cannot list claims/, and says so in one debug line.
  const plain = await startCache({ claims: true });
  t.after(() => plain.destroy());
  plantClaims(plain.dir);
  s.config.caches[0].store = plain.url;
  s.configFile();
  await s.run("push", "--json");
  const u = await s.run("verify", "--json", "-v");
  assert.equal(u.code, 0, explain(u));
  assert.equal(u.json.profiles[0].caches[0].oldClaims, undefined, explain(u));
  assert.equal(u.stderr.split("\n").filter((line) => /gives no index of claims\//.test(line)).length, 1, explain(u));
});

test("verify reports claims older than a day in a file:// cache, read from its directory", async (t) => {
  const s = await scenario({ paths: 8, sign: true });
  t.after(() => s.destroy());
  const dir = join(tempDir(), "cache");
  s.config.caches[0].store = `file://${dir}`;
  s.config.caches[0].fleet = true;
  s.switchTo(0);
  const pushed = await s.run("push", "--json");
  assert.equal(pushed.code, 0, explain(pushed));
  plantClaims(dir);
  const v = await s.run("verify", "--json");
  assert.equal(v.code, 0, explain(v));
  assert.deepEqual(
    v.json.profiles[0].caches[0].oldClaims.map((claim: { claim: string }) => claim.claim),
    OLD,
    explain(v),
  );
  assert.match(v.stderr, /holds 2 claims older than a day/);

  // The same cache without `fleet`: its claims are none of verify's business.
  delete s.config.caches[0].fleet;
  s.configFile();
  const plain = await s.run("verify", "--json");
  assert.equal(plain.code, 0, explain(plain));
  assert.equal(plain.json.profiles[0].caches[0].oldClaims, undefined, explain(plain));
  assert.doesNotMatch(plain.stderr, /claims older than a day/);
});
