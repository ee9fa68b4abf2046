import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { formatNix32, parseSri, toNix32 } from "../../../src/nix/hash.js";
import { parsePathInfoJson } from "../../../src/nix/path-info.js";
import type { StorePath } from "../../../src/nix/store-path.js";
import { GenpushError } from "../../../src/runtime/errors.js";

// One fixture is a real capture (Nix 2.8, the Nix this machine has); the six others are made by
// hand from it, following the Nix and Lix sources their README cites: no such Nix runs here.
// Each test says which, so a pass on a hand-made shape is read for what it is.
const dir = new URL("../../fixtures/path-info/", import.meta.url);
const fixtures = readdirSync(dir).filter((name) => name.endsWith(".json"));
const REAL_CAPTURES = ["nix-2.8-array.json"];
const origin = (name: string) =>
  REAL_CAPTURES.includes(name) ? "real capture, Nix 2.8" : "made by hand from the Nix/Lix source";

const HELLO = "/nix/store/9y89fqs28d44qalg1f9fss1cz7vyk9lf-hello-1.0" as StorePath;
const LIBA = "/nix/store/0pa738sfq8nvqqwm702yqj1vbicjscs4-liba-1.0" as StorePath;
const LIBB = "/nix/store/wgr5qkz0y7w8mzwa74f8b75dpv2lxmaz-libb-2.1" as StorePath;
const GONE = "/nix/store/j304kdijlz4lpjbdq88fv9avyfi8rps5-gone-0.1" as StorePath;
const LIBB_SIG =
  "cache.nixos.org-1:VA492ryB9xbVu9h1qhKiCC3JF7EkNxCIb/7bBzV6PmtaPWMKa4+E6YoOnVxsyP/3mwwzklhIr5K8yVKKwl5NAw==";

describe("nix path-info --json: every shape parses to the same closure", () => {
  it("has a fixture for every shape Nix and Lix print", () => {
    for (const shape of [
      "nix-2.8-array",
      "lix-array",
      "nix-2.19-object",
      "nix-2.23-object",
      "nix-2.33-format1",
      "nix-2.33-format2",
      "nix-2.35-format3",
    ]) {
      assert.ok(fixtures.includes(`${shape}.json`), `missing fixture ${shape}.json`);
    }
  });

  for (const name of fixtures) {
    it(`${name} (${origin(name)})`, () => {
      const { infos, invalid } = parsePathInfoJson(readFileSync(new URL(name, dir), "utf8"));
      const byPath = new Map(infos.map((info) => [info.path, info]));
      assert.deepEqual([...byPath.keys()].sort(), [LIBA, HELLO, LIBB].sort());
      assert.deepEqual(byPath.get(HELLO), {
        path: HELLO,
        narSize: 224,
        references: [LIBA, LIBB],
        signedBy: [],
        ultimate: true,
        narinfo: {
          narHash: parseSri("sha256-onQ6JX9OOwtPerzOGrVcYUxcXB9cxp944wyOEK/rF/4="),
          deriver: "/nix/store/7r7yc75wbnzz1lw2n4qnzj5amsyzgib6-hello-1.0.drv",
          signatures: [],
        },
      });
      assert.deepEqual(byPath.get(LIBB)?.signedBy, ["cache.nixos.org-1"]);
      assert.deepEqual(byPath.get(LIBB)?.narinfo?.signatures, [LIBB_SIG]);
      assert.equal(byPath.get(LIBB)?.ultimate, false);
      assert.deepEqual(invalid, [GONE]);
    });
  }
});

describe("hashes in Nix's base-32", () => {
  it("matches `nix-hash --to-base32` (Nix 2.8, this machine)", () => {
    const hash = parseSri("sha256-kq2L+2MY9z7jaIqCAeDJ7trt3+dEIxxGzIEs79N5Sbg=");
    assert.ok(hash);
    assert.equal(formatNix32(hash), "sha256:1f29g79yyb41ri31q8s4wzgyvnpfr7h030lad3ikxxqqcgxqpbcj");
  });
  it("reads the last byte first", () => {
    assert.equal(toNix32(Buffer.from([0x1f])), "0z");
    assert.equal(toNix32(Buffer.from([])), "");
  });
  it("refuses SRI of the wrong length or an unknown algorithm", () => {
    assert.equal(parseSri("sha256-AAAA"), undefined);
    assert.equal(parseSri("blake3-kq2L+2MY9z7jaIqCAeDJ7trt3+dEIxxGzIEs79N5Sbg="), undefined);
  });
});

describe("nix path-info --json: what a narinfo needs", () => {
  const entry = (extra: Record<string, unknown>) =>
    parsePathInfoJson(
      JSON.stringify({
        [HELLO]: {
          narHash: "sha256-kq2L+2MY9z7jaIqCAeDJ7trt3+dEIxxGzIEs79N5Sbg=",
          narSize: 1,
          references: [],
          ...extra,
        },
      }),
    ).infos[0]?.narinfo;
  it("renders a structured content address the way narinfo files write it", () => {
    const ca = { method: "nar", hash: "sha256-kq2L+2MY9z7jaIqCAeDJ7trt3+dEIxxGzIEs79N5Sbg=" };
    assert.equal(entry({ ca })?.ca, "fixed:r:sha256:1f29g79yyb41ri31q8s4wzgyvnpfr7h030lad3ikxxqqcgxqpbcj");
    assert.equal(
      entry({ ca: "text:sha256:1f29g79yyb41ri31q8s4wzgyvnpfr7h030lad3ikxxqqcgxqpbcj" })?.ca?.slice(0, 5),
      "text:",
    );
  });
  it("leaves it out when a hash or content address has a shape genpush cannot render", () => {
    assert.equal(entry({ ca: { method: "git", hash: "sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=" } }), undefined);
    assert.equal(entry({ narHash: "sha256:1f29g79yyb41ri31q8s4wzgyvnpfr7h030lad3ikxxqqcgxqpbcj" }), undefined);
  });
});

describe("nix path-info --json: bad output is a clear error", () => {
  const cases: [string, string][] = [
    ["not JSON", "error: something"],
    ["a number", "42"],
    ["an entry without a path", '[{"narSize": 1}]'],
    ["a path outside the store", '{"/tmp/x": {"narSize": 1, "references": []}}'],
    ["no narSize", `{"${HELLO}": {"references": []}}`],
    ["an option-looking reference", `{"${HELLO}": {"narSize": 1, "references": ["--option"]}}`],
    ["another store dir", '{"version": 2, "storeDir": "/gnu/store", "info": {}}'],
  ];
  for (const [what, text] of cases) {
    it(what, () => assert.throws(() => parsePathInfoJson(text), GenpushError));
  }
});
