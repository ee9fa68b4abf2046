// A cache's narinfo as input: what Nix's parser refuses is refused, and a narinfo that is
// well-formed but not the path asked about (another path, other content, not signed by the
// cache's key) does not pass. The narinfo, key and path info below were written by Nix 2.8
// (`nix copy --to 'file://…?secret-key=…'`, `nix path-info --json`).
import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync, sign } from "node:crypto";
import { describe, it } from "node:test";
import { checkNarinfo, parseNarinfo, type TrustedKey } from "../../../src/caches/narinfo.js";
import { parseNixHash } from "../../../src/nix/hash.js";
import { parsePathInfoJson } from "../../../src/nix/path-info.js";

const NARINFO = `StorePath: /nix/store/qafamfik5qqr3q7clwf8j09qnkmbx9wz-narinfo-fixture
URL: nar/0h8j78bv5vnpsa7r6j42bq3d1cbjiclfhsa4i7xmnnrm6gq2p5s7.nar
Compression: none
FileHash: sha256:0h8j78bv5vnpsa7r6j42bq3d1cbjiclfhsa4i7xmnnrm6gq2p5s7
FileSize: 344
NarHash: sha256:0h8j78bv5vnpsa7r6j42bq3d1cbjiclfhsa4i7xmnnrm6gq2p5s7
NarSize: 344
References: 0gsqr0g38h9895j1zhf9v9bqj2iwha5h-narinfo-fixture-dep
Deriver: pqwng07ppz7qyfh76sn7d4v5ma5gr88d-narinfo-fixture.drv
Sig: test-1:Z9EQBEcWWJY2hc6cVnsYls+yaSviawgiYpEl86nsUXAHamUGJ9DiWg4qiVKpDS4wCxaTl9qjxPc3MijTd4ZGDA==
`;
const PUBLIC_KEY = "test-1:5t0rOH4zuJT5VQkqNxvK3q2bcElYNt/zpqA3WMNeAUY=";
const [INFO] = parsePathInfoJson(
  JSON.stringify([
    {
      path: "/nix/store/qafamfik5qqr3q7clwf8j09qnkmbx9wz-narinfo-fixture",
      narHash: "sha256-R5cr8DM1W1v7iURp6CiLcrHQBl6CSJOP0tfushc6EkE=",
      narSize: 344,
      references: ["/nix/store/0gsqr0g38h9895j1zhf9v9bqj2iwha5h-narinfo-fixture-dep"],
      deriver: "/nix/store/pqwng07ppz7qyfh76sn7d4v5ma5gr88d-narinfo-fixture.drv",
      ultimate: true,
    },
  ]),
).infos;
const info = INFO as NonNullable<typeof INFO>;

/** A Nix public key (`name:base64`) as checkNarinfo takes it. */
function publicKey(text: string): TrustedKey {
  const colon = text.indexOf(":");
  const x = Buffer.from(text.slice(colon + 1), "base64").toString("base64url");
  return {
    name: text.slice(0, colon),
    key: createPublicKey({ format: "jwk", key: { kty: "OKP", crv: "Ed25519", x } }),
  };
}
const KEY = publicKey(PUBLIC_KEY);

const replace = (field: string, value: string | null) =>
  NARINFO.replace(new RegExp(`^${field}: .*\\n`, "m"), value === null ? "" : `${field}: ${value}\n`);
const problem = (text: string, key?: TrustedKey) => {
  const result = checkNarinfo(text, info, key);
  return typeof result === "string" ? result : undefined;
};

describe("narinfo: Nix's own narinfo passes", () => {
  it("with its signature checked against its key", () => assert.equal(problem(NARINFO, KEY), undefined));
  it("unsigned, where the cache has no key", () => assert.equal(problem(replace("Sig", null)), undefined));
  it("fields read as Nix reads them", () => {
    const parsed = parseNarinfo(NARINFO);
    assert.ok(typeof parsed !== "string");
    assert.equal(parsed.url, "nar/0h8j78bv5vnpsa7r6j42bq3d1cbjiclfhsa4i7xmnnrm6gq2p5s7.nar");
    assert.equal(parsed.compression, "none");
    assert.equal(parsed.narSize, 344);
    assert.deepEqual(parsed.references, ["/nix/store/0gsqr0g38h9895j1zhf9v9bqj2iwha5h-narinfo-fixture-dep"]);
    // Nix's base-32 read back is the digest `nix path-info` gives in SRI.
    assert.deepEqual(parsed.narHash, info.narinfo?.narHash);
  });
  it("no Compression line reads as bzip2, as in Nix", () => {
    const parsed = parseNarinfo(replace("Compression", null));
    assert.equal(typeof parsed !== "string" && parsed.compression, "bzip2");
  });
  it("unknown fields are skipped", () => assert.equal(problem(`${NARINFO}Future: anything at all\n`, KEY), undefined));
  it("no references: an empty References line", () => {
    const leaf = { ...info, references: [] };
    const result = checkNarinfo(replace("References", "").replace(/^Sig: .*\n/m, ""), leaf);
    assert.deepEqual(typeof result !== "string" && result.references, []);
  });
  it("a NarHash in base-16, base-64 or SRI is the same hash", () => {
    const digest = info.narinfo?.narHash.digest as Buffer;
    for (const form of [
      `sha256:${digest.toString("hex")}`,
      `sha256:${digest.toString("base64")}`,
      `sha256-${digest.toString("base64")}`,
    ])
      assert.equal(problem(replace("NarHash", form)), undefined, form);
  });
});

describe("narinfo: what Nix's parser refuses is refused", () => {
  const cases: [string, string][] = [
    ["empty", ""],
    ["cut short (no last newline)", NARINFO.slice(0, -1)],
    ["a line without `: `", NARINFO.replace("Compression: none", "Compression none")],
    ["a blank line", `${NARINFO}\n`],
    ["CRLF lines", NARINFO.replace(/\n/g, "\r\n")],
    ["no StorePath", replace("StorePath", null)],
    ["a StorePath out of /nix/store", replace("StorePath", "/tmp/qafamfik5qqr3q7clwf8j09qnkmbx9wz-narinfo-fixture")],
    ["a StorePath with a bad hash", replace("StorePath", "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x")],
    ["two StorePaths", `${NARINFO}StorePath: /nix/store/0gsqr0g38h9895j1zhf9v9bqj2iwha5h-narinfo-fixture-dep\n`],
    ["no URL", replace("URL", null)],
    ["an empty URL", replace("URL", "")],
    ["a file:// URL", replace("URL", "file:///etc/passwd")],
    ["a URL with a login in it", replace("URL", "http://user:pw@elsewhere.example/nar/x.nar")],
    ["a URL out of the cache", replace("URL", "nar/../../etc/passwd")],
    ["an absolute URL path", replace("URL", "/etc/passwd")],
    ["a URL with a space", replace("URL", "nar/a b.nar")],
    ["a Compression that names no method", replace("Compression", "x z")],
    ["no NarHash", replace("NarHash", null)],
    [
      "a NarHash of an unknown algorithm",
      replace("NarHash", "sha257:0h8j78bv5vnpsa7r6j42bq3d1cbjiclfhsa4i7xmnnrm6gq2p5s7"),
    ],
    [
      "a NarHash with a foreign character",
      replace("NarHash", "sha256:eh8j78bv5vnpsa7r6j42bq3d1cbjiclfhsa4i7xmnnrm6gq2p5s7"),
    ],
    ["a NarHash too short", replace("NarHash", "sha256:0h8j78bv5vnpsa7r6j42bq3d1cbjiclfhsa4i7xmnnrm6gq2p5s")],
    [
      "a NarHash whose base-32 overflows",
      replace("NarHash", "sha256:zh8j78bv5vnpsa7r6j42bq3d1cbjiclfhsa4i7xmnnrm6gq2p5s7"),
    ],
    ["a NarHash without its algorithm", replace("NarHash", "0h8j78bv5vnpsa7r6j42bq3d1cbjiclfhsa4i7xmnnrm6gq2p5s7")],
    ["no NarSize", replace("NarSize", null)],
    ["a NarSize of 0", replace("NarSize", "0")],
    ["a negative NarSize", replace("NarSize", "-344")],
    ["a NarSize in hex", replace("NarSize", "0x158")],
    ["a NarSize beyond 2^53", replace("NarSize", "18446744073709551616")],
    ["a FileSize that is not a number", replace("FileSize", "lots")],
    ["a FileHash that is no hash", replace("FileHash", "sha256:xyz")],
    [
      "a reference that is no store path",
      replace("References", "0gsqr0g38h9895j1zhf9v9bqj2iwha5h-narinfo-fixture-dep ../etc"),
    ],
    ["two References lines", `${NARINFO}References: \n`],
    ["a Deriver that is no store path", replace("Deriver", "not/a-path")],
    ["a CA that is no content address", `${NARINFO}CA: whatever\n`],
    [
      "a Sig without a key name",
      replace("Sig", ":Z9EQBEcWWJY2hc6cVnsYls+yaSviawgiYpEl86nsUXAHamUGJ9DiWg4qiVKpDS4wCxaTl9qjxPc3MijTd4ZGDA=="),
    ],
    ["a Sig that is not base-64", replace("Sig", "test-1:not base64!")],
    ["a Sig of the wrong length", replace("Sig", "test-1:Z9EQBEcWWJY2hc6c")],
  ];
  for (const [what, text] of cases)
    it(what, () => {
      const result = parseNarinfo(text);
      assert.equal(typeof result, "string", `${what} was accepted`);
      assert.ok(!(result as string).includes("\n"), "the reason is one sentence, quoting no line");
    });
  it("`unknown-deriver` is Nix's word for none", () =>
    assert.equal(problem(replace("Deriver", "unknown-deriver"), KEY), undefined));
});

describe("narinfo: well-formed, but not the path asked about", () => {
  it("another StorePath", () => {
    const other = "/nix/store/0gsqr0g38h9895j1zhf9v9bqj2iwha5h-narinfo-fixture-dep";
    assert.equal(problem(replace("StorePath", other)), `describes another path, ${other}`);
  });
  it("another NarHash", () =>
    assert.match(
      problem(replace("NarHash", "sha256:1h8j78bv5vnpsa7r6j42bq3d1cbjiclfhsa4i7xmnnrm6gq2p5s7")) ?? "",
      /another NarHash/,
    ));
  it("a NarHash of another algorithm", () =>
    assert.match(problem(replace("NarHash", `sha1:${"0".repeat(32)}`)) ?? "", /another NarHash/));
  it("another NarSize", () => assert.match(problem(replace("NarSize", "345")) ?? "", /another NarSize \(345\)/));
  it("a reference fewer", () => assert.match(problem(replace("References", "")) ?? "", /other References/));
  it("a reference more", () =>
    assert.match(
      problem(
        replace(
          "References",
          "0gsqr0g38h9895j1zhf9v9bqj2iwha5h-narinfo-fixture-dep 0gsqr0g38h9895j1zhf9v9bqj2iwha5h-x",
        ),
      ) ?? "",
      /other References/,
    ));
});

describe("narinfo: where the cache has a key, a valid signature by it", () => {
  it("no signature at all", () =>
    assert.equal(problem(replace("Sig", null), KEY), "carries no valid signature by the cache's key test-1"));
  it("a signature by another key of the same name", () => {
    const { privateKey } = generateKeyPairSync("ed25519");
    const fingerprint = `1;${info.path};sha256:0h8j78bv5vnpsa7r6j42bq3d1cbjiclfhsa4i7xmnnrm6gq2p5s7;344;${info.references.join(",")}`;
    const forged = sign(null, Buffer.from(fingerprint), privateKey).toString("base64");
    assert.match(problem(replace("Sig", `test-1:${forged}`), KEY) ?? "", /no valid signature/);
    // The same forgery passes under the key that made it: the fingerprint is Nix's.
    const own = { name: "test-1", key: createPublicKey(privateKey) };
    assert.equal(problem(replace("Sig", `test-1:${forged}`), own), undefined);
  });
  it("the right signature under another key name", () =>
    assert.match(problem(NARINFO.replace("Sig: test-1:", "Sig: test-2:"), KEY) ?? "", /no valid signature/));
  it("a signature by the key over other content (NarSize and its fingerprint changed)", () => {
    const other = { ...info, narSize: 345 };
    assert.match(
      (checkNarinfo(replace("NarSize", "345"), other, KEY) as string) ?? "",
      /no valid signature by the cache's key test-1/,
    );
  });
  it("another signature beside the key's does not matter", () =>
    assert.equal(problem(`${NARINFO}Sig: cache.example-1:${Buffer.alloc(64).toString("base64")}\n`, KEY), undefined));
});

describe("Nix hashes in every form Nix reads", () => {
  it("base-32 refuses a character Nix's alphabet lacks", () =>
    assert.equal(parseNixHash("sha256:0h8j78bv5vnpsa7r6j42bq3d1cbjiclfhsa4i7xmnnrm6gq2p5su"), undefined));
  it("md5 in base-16", () => assert.equal(parseNixHash(`md5:${"ab".repeat(16)}`)?.digest.length, 16));
  it("base-64 with its padding wrong", () =>
    assert.equal(parseNixHash(`sha256:${Buffer.alloc(32).toString("base64").replace("=", "")}`), undefined));
});
