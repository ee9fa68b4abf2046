// The post-build hook reads a derivation's system and outputs from its .drv file (ATerm) itself.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseAterm } from "../../../src/nix/derivation.js";

const OUT = "/nix/store/5hnajh14padi3mcaxma09rjfbfq2499b-hello-2.12";
const DEV = "/nix/store/0010hz9lgl0l4wi0p4ah16qb8a79cwmg-hello-2.12-dev";

test("a derivation's outputs and system, with escapes in the strings before them", () => {
  const text =
    `Derive([("dev","${DEV}","",""),("out","${OUT}","","")],` +
    `[("/nix/store/ir4v92flmh8d8122m1k8ck89wi2h00rq-a \\"quoted\\".drv",["out"])],` +
    `["/nix/store/xcbf1ynkvzhlfmza0qfipmzhyz9v5gpl-src\\\\x"],"aarch64-linux","/bin/sh",["-c","echo \\"$out\\""],` +
    `[("out","${OUT}")])`;
  assert.deepEqual(parseAterm(text), { system: "aarch64-linux", outputs: [DEV, OUT] });
});

test("a content-addressed derivation's outputs are not known before it is built", () => {
  const text = `Derive([("out","","r:sha256","")],[],[],"x86_64-linux","/bin/sh",[],[])`;
  assert.deepEqual(parseAterm(text), { system: "x86_64-linux", outputs: [] });
});

test("anything else is no derivation", () => {
  for (const text of ["", "{}", "Derive(", `Derive([("out","${OUT}"`, `Derive([],[],[],x86_64-linux)`]) {
    assert.equal(parseAterm(text), undefined, text);
  }
});
