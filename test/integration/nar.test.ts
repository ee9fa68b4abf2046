// genpush serialises store paths as NARs itself; Nix's own `nix-store --dump`
// and the hash the store recorded are the reference, for every kind of entry.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { dumpPath, narIntoSync } from "../../src/nix/nar.js";
import { newSeed, nix, nixBuild } from "./harness/nix.js";

async function narSha256(path: string): Promise<{ hex: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of dumpPath(path)) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { hex: hash.digest("hex"), size };
}

function nixDump(path: string): { hex: string; size: number } {
  const r = spawnSync("nix-store", ["--dump", path], { maxBuffer: 1 << 30 });
  assert.equal(r.status, 0, String(r.stderr));
  return { hex: createHash("sha256").update(r.stdout).digest("hex"), size: r.stdout.length };
}

const seed = newSeed();
const build = (name: string, script: string) =>
  nixBuild(
    `derivation { name = "genpush-nar-${name}-${seed}"; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" ${JSON.stringify(script)}]; }`,
  );

const cases: [string, string][] = [
  [
    "a tree of every kind of entry",
    [
      "set -e; /bin/mkdir -p $out/sub/deeper $out/empty-dir",
      // Lengths 0..17 cross every padding of the 8-byte alignment.
      'i=0; s=\'\'; while [ $i -le 17 ]; do printf %s "$s" > $out/len-$i; s="$s"x; i=$((i+1)); done',
      "printf '#!/bin/sh\\n' > $out/tool; /bin/chmod 755 $out/tool",
      "/bin/chmod 744 $out/len-3",
      "/bin/ln -s len-1 $out/relative; /bin/ln -s /nonexistent/target $out/dangling; /bin/ln -s sub $out/to-dir",
      "echo deep > $out/sub/deeper/file",
      // Byte order, not UTF-16 order: U+FF21 (EF BC A1) sorts before U+1F600 (F0 9F 98 80).
      "for n in Z z a-b a.b $(printf '\\303\\251') $(printf '\\357\\274\\241') $(printf '\\360\\237\\230\\200'); do echo $n > \"$out/sub/$n\"; done",
      // Bigger than one read and one chunk.
      "/bin/dd if=/dev/urandom of=$out/big bs=1024 count=1537 2>/dev/null",
    ].join("\n"),
  ],
  ["a single file", "echo just a file > $out"],
  ["a single executable file", "printf '#!/bin/sh\\n' > $out; /bin/chmod 555 $out"],
  ["a symlink", "/bin/ln -s /bin/sh $out"],
];

for (const [what, script] of cases) {
  test(`the NAR of ${what} is byte for byte what nix-store --dump prints`, async () => {
    const path = build(what.replace(/\W+/g, "-"), script);
    const mine = await narSha256(path);
    assert.deepEqual(mine, nixDump(path));
    const info = JSON.parse(nix("nix", ["path-info", "--json", path]))[0];
    assert.equal(info.narSize, mine.size);
    assert.equal(info.narHash, `sha256-${Buffer.from(mine.hex, "hex").toString("base64")}`);

    // Written into a buffer of the recorded size (small NARs), files read straight into it: the same bytes.
    const into = Buffer.alloc(mine.size);
    assert.equal(narIntoSync(path, into), mine.size);
    assert.equal(createHash("sha256").update(into).digest("hex"), mine.hex);
    // A buffer too small: read no further, a size larger than the buffer, nothing written beyond it.
    const guard = Buffer.alloc(mine.size + 8, 0x5a);
    const short = guard.subarray(0, mine.size - 1);
    assert.ok(narIntoSync(path, short) > short.length);
    assert.ok(guard.subarray(mine.size - 1).every((byte) => byte === 0x5a));
  });
}
