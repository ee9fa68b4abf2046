/**
 * The dependency hash in nix/npm-deps.nix is the hash of what its fixed-output derivation
 * fetches: the derivation's own build script (from package.nix as callPackage gives it, with
 * stand-ins.nix) is run here as Nix's sandbox runs it, fetching every package package-lock.json
 * locks with npm's default registry, and the result is hashed as Nix hashes a directory
 * (`nix hash path`, the NAR hash a recursive fixed output has). A package-lock.json changed
 * without the hash fails here, with the new value. Needs npm to reach its registry.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { nixEval, openTempDir, runAsBuilder, standIns } from "./lib.js";

interface FixedOutput {
  name: string;
  list: string;
  buildCommand: string;
  outputHash: string;
  outputHashMode: string;
  outputHashAlgo: string;
  impureEnvVars: string[];
}

const { nix } = standIns();

/** The tarballs' derivation as package.nix makes it; `store` so its script is in the store to run. */
function fixedOutput(): FixedOutput {
  return nixEval<FixedOutput>(
    `let d = (${nix}.pkgs.callPackage ./nix/package.nix { }).args.passthru.npmTarballs.args; in {
      inherit (d) name list buildCommand outputHash outputHashMode outputHashAlgo impureEnvVars;
    }`,
    { store: true },
  );
}

function hashPath(dir: string): string {
  return execFileSync("nix", ["hash", "path", dir], {
    encoding: "utf8",
    env: { ...process.env, NIX_CONFIG: "experimental-features = nix-command" },
  }).trim();
}

/** Every entry below `dir`: its path, and whether it is a directory or a file with which mode. */
function entries(dir: string, prefix = ""): { path: string; kind: string }[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) return [{ path, kind: "directory" }, ...entries(dir, path)];
    const mode = statSync(join(dir, path)).mode & 0o777;
    return [{ path, kind: entry.isFile() ? `file ${mode.toString(8)}` : "other" }];
  });
}

describe("nix/npm-deps.nix", () => {
  it("its hash is that of the tarballs its build fetches: update it when package-lock.json changes", () => {
    const fod = fixedOutput();
    assert.equal(fod.outputHashMode, "recursive");
    assert.equal(fod.outputHashAlgo, "sha256");
    const tarballs = JSON.parse(fod.list) as { file: string }[];

    const dir = openTempDir("genpush-npm-deps-");
    writeFileSync(join(dir, "list.json"), fod.list, { mode: 0o644 });
    const out = join(dir, "out");
    // A fixed-output build sees only the caller's variables it names (proxies, a CA file);
    // this machine's global npm configuration, outside any sandbox, is visible here too.
    const impure = Object.fromEntries(
      fod.impureEnvVars.flatMap((name) => (process.env[name] ? [[name, process.env[name] as string]] : [])),
    );
    const run = runAsBuilder(fod.buildCommand, out, {
      ...impure,
      listPath: join(dir, "list.json"),
      // The builder's nodejs: here, the node running this suite, and npm beside it or the system's.
      PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
    });
    assert.equal(run.status, 0, `the fixed-output build failed:\n${run.stderr}`);

    // Only what Nix's directory hash sees: names, contents, and the executable bit.
    const found = entries(out);
    assert.deepEqual(
      found
        .filter((e) => e.kind !== "directory")
        .map((e) => e.path)
        .sort(),
      tarballs.map((t) => t.file).sort(),
      "exactly one file per tarball listed, named as listed",
    );
    for (const e of found) assert.match(e.kind, /^(directory|file 644)$/, `${e.path} is ${e.kind}`);

    const hash = hashPath(out);
    assert.equal(
      hash,
      fod.outputHash,
      `package-lock.json changed and nix/npm-deps.nix's hash did not: set outputHash = "${hash}";`,
    );

    // The check is not blind: one tarball less, or one byte changed, is another hash.
    const fewer = join(dir, "fewer");
    cpSync(out, fewer, { recursive: true });
    rmSync(join(fewer, tarballs[0]?.file ?? ""));
    assert.notEqual(hashPath(fewer), hash);
  });

  it("is named after what it fetches, so a stale hash fails the build rather than reusing old tarballs", () => {
    const now = nixEval<string>(`(${nix}.pkgs.callPackage ./nix/package.nix { }).args.passthru.npmTarballs.name`);
    const other = nixEval<string>(
      `(import ./nix/npm-deps.nix {
        inherit (${nix}) lib; inherit (${nix}.pkgs) stdenvNoCC; inherit (${nix}.pkgs) nodejs;
        tarballs = [ { name = "a"; version = "1.0.0"; integrity = "sha512-a"; file = "a/1.0.0.tgz"; } ];
      }).name`,
    );
    assert.match(now, /^genpush-npm-deps-[0-9a-f]{12}$/);
    assert.notEqual(other, now);
  });
});
