import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { describeError, GenpushError } from "../../../src/runtime/errors.js";
import { errorSummary, lastLines } from "../../../src/runtime/process-output.js";
import { rememberSecret, scrubSecrets } from "../../../src/runtime/secrets.js";

// The registry is one per process: each test remembers secrets of its own.
const secret = () => randomBytes(12).toString("base64url");

describe("secrets: what genpush quotes is scrubbed of every secret it has read", () => {
  // First: nothing remembered yet in this process.
  it("with none remembered, text comes back as it was", () => {
    const text = "cache lan: HTTP error 500";
    assert.equal(scrubSecrets(text), text);
  });

  it("every occurrence of every remembered secret", () => {
    const [a, b] = [secret(), secret()];
    rememberSecret(a);
    rememberSecret(b);
    assert.equal(scrubSecrets(`${a} then ${b}, ${a} again`), "[secret] then [secret], [secret] again");
  });

  it("a secret that holds another is replaced whole, whichever was remembered first", () => {
    const base64 = Buffer.from(`builder:${secret()}`).toString("base64");
    rememberSecret(base64);
    rememberSecret(`Basic ${base64}`);
    assert.equal(scrubSecrets(`sent Authorization: Basic ${base64}`), "sent Authorization: [secret]");
  });

  it("values under 4 characters are not remembered; 4 are", () => {
    rememberSecret("xq7");
    rememberSecret("zk9w");
    assert.equal(scrubSecrets("xq7 zk9w"), "xq7 [secret]");
  });

  it("describeError scrubs message and hint, of genpush's errors and any other", () => {
    const s = secret();
    rememberSecret(s);
    assert.deepEqual(describeError(new GenpushError(`refused ${s}`, { hint: `not ${s}` })), {
      message: "refused [secret]",
      hint: "not [secret]",
    });
    assert.deepEqual(describeError(new Error(`boom ${s}`)), { message: "boom [secret]" });
    assert.deepEqual(describeError(`thrown ${s}`), { message: "thrown [secret]" });
  });

  it("a child's output is scrubbed before it is cut: no half of a secret is left", () => {
    const s = secret();
    rememberSecret(s);
    // The secret straddles errorSummary's 400-character cut.
    const summary = errorSummary(`error: ${"x".repeat(390)} ${s} and more\n`);
    assert.ok(!summary.includes(s.slice(0, 5)), summary);
    assert.equal(lastLines(`one\n\u001b[31merror: token ${s}\u001b[0m\n`), "one / error: token [secret]");
  });
});
