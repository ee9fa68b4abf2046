// Store URIs and signing keys as the configuration's check reads them: what Nix would take,
// and for what it would not, a message with "did you mean".
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { storeUriProblem } from "../../../src/config/store-uri.js";
import { nixSecretKeyProblem } from "../../../src/nix/key.js";

describe("storeUriProblem", () => {
  for (const uri of [
    "http://cache.lan:8080",
    "https://cache.lan?compression=zstd&parallel-compression=true",
    "file:///var/cache/nix?compression=none&write-nar-listing=true",
    "s3://bucket?region=eu-west-1&profile=cache&endpoint=minio.lan&scheme=http",
    "ssh-ng://builder@host?ssh-key=/root/.ssh/id",
    "local?root=/tmp/chroot&require-sigs=false",
    "daemon",
    "/tmp/chroot",
  ]) {
    test(`takes ${uri}`, () => assert.equal(storeUriProblem(uri), undefined));
  }

  test("a misspelt scheme: did you mean", () => {
    assert.match(
      storeUriProblem("htp://cache.lan")?.message ?? "",
      /`htp:\/\/` is no kind of store Nix knows; did you mean `http:\/\/`\?/,
    );
  });

  test("no scheme: says so, and shows the URI with one", () => {
    const problem = storeUriProblem("cache.lan:8080");
    assert.match(problem?.message ?? "", /`cache\.lan:8080` has no scheme/);
    assert.match(problem?.hint ?? "", /`http:\/\/cache\.lan:8080`/);
  });

  test("a relative or hosted file URL: names the absolute directory it would be", () => {
    const relative = storeUriProblem("file://relcache");
    assert.match(relative?.message ?? "", /`file:\/\/relcache` names no absolute directory/);
    assert.equal(
      relative?.hint,
      `for a binary cache in the directory ${resolve("relcache")}: \`file://${resolve("relcache")}\``,
    );
    assert.match(
      storeUriProblem("file://localhost/srv/cache")?.hint ?? "",
      new RegExp(`file://${resolve("localhost/srv/cache")}`),
    );
    assert.match(storeUriProblem("file:///srv/a%20b")?.message ?? "", /has a `%`/);
    assert.equal(storeUriProblem("file:///srv/cache?compression=zstd"), undefined);
  });

  test("a directory without a scheme: suggests its file URL, not http", () => {
    assert.equal(
      storeUriProblem("./relcache")?.hint,
      `for a binary cache in that directory, give its absolute path: \`file://${resolve("relcache")}\``,
    );
    assert.match(storeUriProblem("~/cache")?.hint ?? "", new RegExp(`file://${join(homedir(), "cache")}`));
  });

  test("a misspelt setting: did you mean", () => {
    assert.match(
      storeUriProblem("http://cache.lan?compresion=zstd")?.message ?? "",
      /`compresion` is no store setting of Nix's; did you mean `compression`\?/,
    );
  });

  test("a compression Nix does not know: did you mean", () => {
    assert.match(storeUriProblem("http://cache.lan?compression=zsdt")?.message ?? "", /did you mean `zstd`\?/);
  });
});

describe("nixSecretKeyProblem", () => {
  const key = (bytes: number) => `cache-1:${randomBytes(bytes).toString("base64")}`;
  test("a secret key (64 bytes) is one", () => assert.equal(nixSecretKeyProblem(`${key(64)}\n`), undefined));
  test("a public key (32 bytes) is named as such", () =>
    assert.match(nixSecretKeyProblem(key(32)) ?? "", /holds a public key/));
  test("garbage, or no name", () => {
    assert.match(nixSecretKeyProblem("hello world") ?? "", /holds no Nix signing key/);
    assert.match(nixSecretKeyProblem(randomBytes(64).toString("base64")) ?? "", /holds no Nix signing key/);
    assert.match(nixSecretKeyProblem(key(48)) ?? "", /64 bytes, this one 48/);
  });
  test("never quotes the key", () => {
    const k = key(32);
    assert.ok(!(nixSecretKeyProblem(k) ?? "").includes(k.slice(8)));
  });
});
