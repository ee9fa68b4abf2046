/**
 * nix/package.nix, called as nixpkgs' callPackage calls it, with the stand-ins of stand-ins.nix
 * (no nixpkgs here): it asks for nothing nixpkgs lacks; its source holds the files the build
 * reads, and the build works from them alone; its install script, run on units/, gives exactly
 * what `genpush units install` renders; its install check fails on a shipped devDependency;
 * the offline install's lock file points every package it needs at the fetched tarballs.
 * (The tarballs and their hash: npm-deps.test.ts.)
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { renderUnits } from "../../src/units/units.js";
import { nixEval, openTempDir, ROOT, runAsBuilder, standIns } from "./lib.js";

const { nix } = standIns();
const PACKAGE = `(${nix}.pkgs.callPackage ./nix/package.nix { })`;
const VERSION = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version as string;

interface PackageArgs {
  pname: string;
  version: string;
  nodejs: string;
  npmConfigHook: string;
  npmBuildScript: string;
  npmRebuildFlags: string[];
  dontNpmPrune?: boolean;
  postInstall: string;
  installCheckPhase: string;
  disallowedReferences: string[];
  passthru: { npmTarballs: string };
  npmDeps: string;
  meta: { mainProgram: string; platforms: string[] };
}

/** The arguments package.nix gives buildNpmPackage; derivations show as their paths. */
function packageArgs(): PackageArgs {
  return nixEval<PackageArgs>(`builtins.removeAttrs ${PACKAGE}.args [ "src" ]`);
}

const OUT = "/nix/store/00000000000000000000000000000000-genpush-0.1.0";

/** Runs a phase of package.nix with bash, `substituteInPlace --replace-fail` as stdenv has it. */
function runPhase(script: string, cwd: string, out: string) {
  const shim = `
set -euo pipefail
runHook() { :; }
substituteInPlace() {
  [ "$#" -eq 4 ] && [ "$2" = --replace-fail ] || { echo "substituteInPlace: unexpected arguments: $*" >&2; return 1; }
  grep -qF -- "$3" "$1" || { echo "substituteInPlace: pattern $3 not found in $1" >&2; return 1; }
  node -e 'const fs = require("node:fs"); const [f, a, b] = process.argv.slice(1);
    fs.writeFileSync(f, fs.readFileSync(f, "utf8").replaceAll(a, b));' "$1" "$3" "$4"
}
`;
  return spawnSync("bash", ["-c", `${shim}\n${script}`], {
    cwd,
    env: { ...process.env, out },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Every file below `dir`, relative to it. */
function filesIn(dir: string, prefix = ""): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    return entry.isDirectory() ? filesIn(dir, path) : [path];
  });
}

describe("nix/package.nix", () => {
  it("is called with nothing but what nixpkgs has: no registry, no mirror, no file of nixpkgs", () => {
    // callPackage fills every argument from the package set, which has no npm mirror and no
    // `path`: a package.nix that needed either (or any argument the caller must give) fails here.
    assert.equal(nixEval<string>(`${PACKAGE}.name`), `genpush-${VERSION}`);
    const args = nixEval<string[]>(`builtins.attrNames (builtins.functionArgs (import ./nix/package.nix))`);
    assert.deepEqual(args.sort(), ["buildNpmPackage", "importNpmLock", "lib", "nodejs", "runCommand", "stdenvNoCC"]);
  });

  it("refuses, saying why, a nixpkgs whose nodejs is older than package.json's engines allow", () => {
    const old = `(${nix}.pkgs.callPackage ./nix/package.nix { nodejs = ${nix}.pkgs.nodejs // { version = "20.12.2"; }; })`;
    const r = spawnSync("nix-instantiate", ["--eval", "--strict", "--json", "--readonly-mode", "-E", `${old}.name`], {
      cwd: ROOT,
      encoding: "utf8",
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /genpush needs Node 20\.19 or later; this nixpkgs's nodejs is 20\.12\.2/);
  });

  it("builds with nixpkgs' nodejs (its LTS), importNpmLock's config hook and `npm run build`, and prunes devDependencies", () => {
    const pkg = packageArgs();
    assert.equal(pkg.pname, "genpush");
    assert.equal(pkg.version, VERSION);
    assert.match(pkg.nodejs, /-nodejs-24\.11\.1$/);
    assert.match(pkg.npmConfigHook, /-npm-config-hook$/);
    assert.equal(pkg.npmBuildScript, "build");
    assert.deepEqual(pkg.npmRebuildFlags, ["--ignore-scripts"]);
    assert.equal(pkg.dontNpmPrune, undefined, "the install hook's `npm prune --omit=dev` must stay on");
    assert.equal(pkg.meta.mainProgram, "genpush");
    assert.deepEqual(pkg.meta.platforms.sort(), ["aarch64-linux", "x86_64-linux"]);
    // Neither the tarballs nor the lock file that names them stays referenced by the package.
    assert.deepEqual(pkg.disallowedReferences, [pkg.passthru.npmTarballs, pkg.npmDeps]);
  });

  it("takes the files the build reads as its source, and the build works from those alone", () => {
    // lib.fileset.toSource's stand-in copies exactly the listed files, as the real one does:
    // a file the build needs and the list lacks fails `npm run build` here.
    const src = nixEval<string>(`${PACKAGE}.args.src`, { store: true });
    assert.deepEqual(readdirSync(src).sort(), ["package-lock.json", "package.json", "src", "tsconfig.json", "units"]);
    assert.deepEqual(filesIn(join(src, "units")).sort(), filesIn(join(ROOT, "units")).sort());

    const build = mkdtempSync(join(tmpdir(), "genpush-nix-src-"));
    cpSync(src, build, { recursive: true });
    execFileSync("chmod", ["-R", "u+w", build]);
    // The config hook's `npm install` gives node_modules; here, this checkout's.
    symlinkSync(join(ROOT, "node_modules"), join(build, "node_modules"));
    const run = spawnSync("npm", ["run", "build"], { cwd: build, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    assert.equal(run.status, 0, `npm run build failed in the package's source:\n${run.stdout}${run.stderr}`);
    const version = execFileSync(process.execPath, [join(build, "dist/cli.js"), "--version"], { encoding: "utf8" });
    assert.equal(version.trim(), VERSION);
  });

  it("installs the files of units/ wholesale, changing only @GENPUSH@, as `genpush units install` renders them", async () => {
    const pkg = packageArgs();
    const dir = mkdtempSync(join(tmpdir(), "genpush-nix-units-"));
    const build = join(dir, "build");
    const out = join(dir, OUT.slice(1));
    cpSync(join(ROOT, "units"), join(build, "units"), { recursive: true });
    mkdirSync(join(out, "lib/node_modules/genpush/node_modules"), { recursive: true });
    const hidden = join(out, "lib/node_modules/genpush/node_modules/.package-lock.json");
    writeFileSync(hidden, '{ "packages": { "node_modules/a": { "resolved": "file:../../nix/store/x/a.tgz" } } }');

    const run = runPhase(pkg.postInstall, build, out);
    assert.equal(run.status, 0, `postInstall failed:\n${run.stderr}`);
    assert.equal(existsSync(hidden), false, "npm's record of the tarballs it installed from is not shipped");

    for (const [scope, installed] of [
      ["system", join(out, "lib/systemd/system")],
      ["user", join(out, "share/systemd/user")],
    ] as const) {
      const source = readdirSync(join(ROOT, "units", scope)).sort();
      assert.deepEqual(readdirSync(installed).sort(), source, `${installed} holds exactly the files of units/${scope}`);
      const rendered = await renderUnits(scope, join(out, "bin/genpush"));
      assert.deepEqual(
        rendered.map((u) => u.name),
        source,
        `every file in units/${scope} is a unit file`,
      );
      for (const unit of rendered) {
        const text = readFileSync(join(installed, unit.name), "utf8");
        assert.equal(text, unit.content, `${unit.name}: the Nix package and \`units install\` agree`);
        assert.ok(!text.includes("@GENPUSH@"), `${unit.name} still holds @GENPUSH@`);
      }
    }
    const service = readFileSync(join(out, "lib/systemd/system/genpush-system.service"), "utf8");
    assert.match(service, new RegExp(`^ExecStart=${out}/bin/genpush push --profile system$`, "m"));
  });

  it("fails its install check when a devDependency was shipped", () => {
    const pkg = packageArgs();
    const out = mkdtempSync(join(tmpdir(), "genpush-nix-out-"));
    mkdirSync(join(out, "bin"));
    writeFileSync(join(out, "bin/genpush"), `#!/bin/sh\necho ${VERSION}\n`, { mode: 0o755 });
    mkdirSync(join(out, "lib/systemd/system"), { recursive: true });
    mkdirSync(join(out, "share/systemd/user"), { recursive: true });
    writeFileSync(
      join(out, "lib/systemd/system/genpush-system.service"),
      `[Service]\nExecStart=${out}/bin/genpush push --profile system\n`,
    );
    mkdirSync(join(out, "lib/node_modules/genpush/node_modules/yaml"), { recursive: true });
    assert.equal(runPhase(pkg.installCheckPhase, out, out).status, 0, "a runtime dependency is fine");

    mkdirSync(join(out, "lib/node_modules/genpush/node_modules/typescript"));
    const run = runPhase(pkg.installCheckPhase, out, out);
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /devDependency typescript/);
  });

  it("installs from package.json and a lock file that points every package it fetched at its tarball", () => {
    interface Entry {
      version?: string;
      resolved?: string;
      integrity?: string;
      optional?: boolean;
    }
    const deps = nixEval<{ script: string; lock: string; tarballs: string; files: string[] }>(
      `let p = ${PACKAGE}; d = p.args.npmDeps; in {
        inherit (d) script; lock = d.env.lock; tarballs = p.args.passthru.npmTarballs.outPath;
        files = map (t: t.file) (builtins.fromJSON p.args.passthru.npmTarballs.args.list);
      }`,
      { store: true },
    );
    const dir = openTempDir("genpush-nix-lock-");
    writeFileSync(join(dir, "lock.json"), deps.lock, { mode: 0o644 });
    const out = join(dir, "out");
    const run = runAsBuilder(deps.script, out, { lockPath: join(dir, "lock.json") });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readFileSync(join(out, "package.json"), "utf8"), readFileSync(join(ROOT, "package.json"), "utf8"));

    const original = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
      packages: Record<string, Entry>;
    };
    const patched = JSON.parse(readFileSync(join(out, "package-lock.json"), "utf8")) as typeof original;
    assert.deepEqual(Object.keys(patched.packages).sort(), Object.keys(original.packages).sort());
    let pointed = 0;
    for (const [key, entry] of Object.entries(original.packages)) {
      const now = patched.packages[key];
      if (now?.resolved === undefined) {
        assert.deepEqual(now, entry, `${key} is left as it was`);
        // Only the root and optional packages for other platforms are not fetched.
        assert.ok(key === "" || entry.optional, `${key} is needed and has no tarball`);
        continue;
      }
      const name = key.split("node_modules/").at(-1);
      assert.equal(now.resolved, `file:${deps.tarballs}/${name}/${entry.version}.tgz`, key);
      assert.ok(deps.files.includes(`${name}/${entry.version}.tgz`), `${key}: its tarball is fetched`);
      assert.deepEqual(
        { ...now, resolved: undefined },
        { ...entry, resolved: undefined },
        `${key}: nothing else changed`,
      );
      pointed++;
    }
    assert.ok(pointed > 100, `most packages are fetched (${pointed})`);
    for (const platform of ["linux-x64", "linux-arm64"]) {
      assert.ok(deps.files.includes(`@esbuild/${platform}/${original.packages["node_modules/esbuild"]?.version}.tgz`));
    }
    assert.ok(!deps.files.some((f) => f.startsWith("@esbuild/darwin-")), "esbuild for macOS is not fetched");
  });
});

describe("nix/npm-lock.nix", () => {
  const LINUX = `[ { os = "linux"; cpu = "x64"; } { os = "linux"; cpu = "arm64"; } ]`;
  const lockNix = (lock: unknown) =>
    `import ./nix/npm-lock.nix { platforms = ${LINUX}; lock = builtins.fromJSON ${JSON.stringify(JSON.stringify(lock))}; }`;

  it("fetches each registry package once, by its real name, skipping the root, links, bundled packages and other platforms", () => {
    const lock = {
      lockfileVersion: 3,
      packages: {
        "": { name: "x", version: "1.0.0" },
        "node_modules/a": { version: "1.0.0", integrity: "sha512-a" },
        "node_modules/b/node_modules/a": { version: "1.0.0", integrity: "sha512-a" },
        "node_modules/b/node_modules/@s/c": { version: "2.0.0", integrity: "sha512-c" },
        "node_modules/alias": { name: "real", version: "3.0.0", integrity: "sha512-r" },
        "node_modules/local": { link: true, resolved: "packages/local" },
        "packages/local": { version: "0.0.0" },
        "node_modules/b/node_modules/bundled": { version: "1.0.0", inBundle: true },
        "node_modules/mac": { version: "1.0.0", integrity: "sha512-m", optional: true, os: ["darwin"] },
        "node_modules/notwin": { version: "1.0.0", integrity: "sha512-n", optional: true, os: ["!win32"] },
        "node_modules/s390": { version: "1.0.0", integrity: "sha512-s", optional: true, cpu: ["s390x"] },
        "node_modules/arm": { version: "1.0.0", integrity: "sha512-x", optional: true, os: ["linux"], cpu: ["arm64"] },
        "node_modules/needed-mac": { version: "1.0.0", integrity: "sha512-d", os: ["darwin"] },
      },
    };
    const out = nixEval<{ tarballs: { name: string; version: string; integrity: string; file: string }[] }>(
      `let r = ${lockNix(lock)}; in { inherit (r) tarballs; }`,
    );
    assert.deepEqual(out.tarballs, [
      { name: "@s/c", version: "2.0.0", integrity: "sha512-c", file: "@s/c/2.0.0.tgz" },
      { name: "a", version: "1.0.0", integrity: "sha512-a", file: "a/1.0.0.tgz" },
      { name: "arm", version: "1.0.0", integrity: "sha512-x", file: "arm/1.0.0.tgz" },
      // A package that is not optional is fetched whatever its platform: npm would refuse it, not skip it.
      { name: "needed-mac", version: "1.0.0", integrity: "sha512-d", file: "needed-mac/1.0.0.tgz" },
      { name: "notwin", version: "1.0.0", integrity: "sha512-n", file: "notwin/1.0.0.tgz" },
      { name: "real", version: "3.0.0", integrity: "sha512-r", file: "real/3.0.0.tgz" },
    ]);
    const patched = nixEval<{ packages: Record<string, Record<string, unknown>> }>(
      `(${lockNix(lock)}).lockWith "/deps"`,
    );
    assert.equal(patched.packages["node_modules/b/node_modules/a"]?.resolved, "file:/deps/a/1.0.0.tgz");
    assert.equal(patched.packages["node_modules/alias"]?.resolved, "file:/deps/real/3.0.0.tgz");
    for (const kept of [
      "",
      "node_modules/local",
      "packages/local",
      "node_modules/b/node_modules/bundled",
      "node_modules/mac",
    ]) {
      assert.deepEqual(patched.packages[kept], lock.packages[kept as keyof typeof lock.packages], kept);
    }
  });

  it("refuses a locked package it cannot check against an integrity hash", () => {
    const lock = {
      lockfileVersion: 3,
      packages: { "": {}, "node_modules/g": { version: "1.0.0", resolved: "git+ssh://x" } },
    };
    const run = spawnSync(
      "nix-instantiate",
      ["--eval", "--strict", "--readonly-mode", "-E", `(${lockNix(lock)}).tarballs`],
      {
        cwd: ROOT,
        encoding: "utf8",
      },
    );
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /node_modules\/g has no `integrity`/);
  });
});
