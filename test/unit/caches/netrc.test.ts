import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { netrcCredential } from "../../../src/caches/netrc.js";

const base64 = (login: string, password: string) => Buffer.from(`${login}:${password}`).toString("base64");
const basic = (login: string, password: string) => `Basic ${base64(login, password)}`;
const authorization = (text: string, host: string) => netrcCredential(text, host)?.authorization;

describe("netrc: the credential Nix (curl) would send", () => {
  const text = `
machine cache.lan
  login builder
  password s3cret
machine other.lan login someone password else account ignored
default login anon password guest
`;
  it("the host's own entry", () => assert.equal(authorization(text, "cache.lan"), basic("builder", "s3cret")));
  it("entries on one line", () => assert.equal(authorization(text, "other.lan"), basic("someone", "else")));
  it("default for any other host", () => assert.equal(authorization(text, "x.lan"), basic("anon", "guest")));
  it("nothing without an entry or a default", () =>
    assert.equal(netrcCredential("machine a login b password c", "z"), undefined));
  it("an empty file", () => assert.equal(netrcCredential("", "cache.lan"), undefined));
});

describe("netrc: the forms of a credential a server may echo", () => {
  it("the password, the base64 and the header value; not the login", () => {
    assert.deepEqual(netrcCredential("machine c login builder password s3cret", "c")?.secrets, [
      "s3cret",
      base64("builder", "s3cret"),
      basic("builder", "s3cret"),
    ]);
  });
  it("a login without a password: the base64 and the header value", () => {
    assert.deepEqual(netrcCredential("machine c login tokenlike", "c")?.secrets, [
      base64("tokenlike", ""),
      basic("tokenlike", ""),
    ]);
  });
});
