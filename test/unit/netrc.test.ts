import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { netrcAuthorization } from "../../src/caches/netrc.js";

const basic = (login: string, password: string) => `Basic ${Buffer.from(`${login}:${password}`).toString("base64")}`;

describe("netrc: the credential Nix (curl) would send", () => {
  const text = `
machine cache.lan
  login builder
  password s3cret
machine other.lan login someone password else account ignored
default login anon password guest
`;
  it("the host's own entry", () => assert.equal(netrcAuthorization(text, "cache.lan"), basic("builder", "s3cret")));
  it("entries on one line", () => assert.equal(netrcAuthorization(text, "other.lan"), basic("someone", "else")));
  it("default for any other host", () => assert.equal(netrcAuthorization(text, "x.lan"), basic("anon", "guest")));
  it("nothing without an entry or a default", () =>
    assert.equal(netrcAuthorization("machine a login b password c", "z"), undefined));
  it("an empty file", () => assert.equal(netrcAuthorization("", "cache.lan"), undefined));
});
