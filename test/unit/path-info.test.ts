import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { GenpushError } from "../../src/errors.js";
import { parsePathInfoJson } from "../../src/path-info.js";
import type { StorePath } from "../../src/store-path.js";

const dir = new URL("../fixtures/path-info/", import.meta.url);
const fixtures = readdirSync(dir).filter((name) => name.endsWith(".json"));

const HELLO = "/nix/store/9y89fqs28d44qalg1f9fss1cz7vyk9lf-hello-1.0" as StorePath;
const LIBA = "/nix/store/0pa738sfq8nvqqwm702yqj1vbicjscs4-liba-1.0" as StorePath;
const LIBB = "/nix/store/wgr5qkz0y7w8mzwa74f8b75dpv2lxmaz-libb-2.1" as StorePath;
const GONE = "/nix/store/j304kdijlz4lpjbdq88fv9avyfi8rps5-gone-0.1" as StorePath;

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
    it(name, () => {
      const { infos, invalid } = parsePathInfoJson(readFileSync(new URL(name, dir), "utf8"));
      const byPath = new Map(infos.map((info) => [info.path, info]));
      assert.deepEqual([...byPath.keys()].sort(), [LIBA, HELLO, LIBB].sort());
      assert.deepEqual(byPath.get(HELLO), {
        path: HELLO,
        narSize: 224,
        references: [LIBA, LIBB],
        signedBy: [],
        ultimate: true,
      });
      assert.deepEqual(byPath.get(LIBB)?.signedBy, ["cache.nixos.org-1"]);
      assert.equal(byPath.get(LIBB)?.ultimate, false);
      assert.deepEqual(invalid, [GONE]);
    });
  }
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
