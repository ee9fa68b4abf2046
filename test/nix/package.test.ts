/**
 * nix/package.nix, evaluated here with Debian's Nix and stand-ins for the few
 * nixpkgs functions it calls (no nixpkgs can be fetched here): its install
 * script is run on a copy of units/ and must give exactly what
 * `genpush units install` renders from the same files; its dependencies come
 * from importNpmLock with a `resolved` URL for every locked package.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { renderUnits } from "../../src/units.js";
import { nixEval, ROOT } from "./lib.js";

/** A stand-in nixpkgs tree holding only the mirror list package.nix reads. */
const NIXPKGS = mkdtempSync(join(tmpdir(), "genpush-nixpkgs-"));
mkdirSync(join(NIXPKGS, "pkgs/build-support/fetchurl"), { recursive: true });
writeFileSync(join(NIXPKGS, "pkgs/build-support/fetchurl/mirrors.nix"), '{ npm = [ "https://registry.example/" ]; }\n');
const REGISTRY = "https://registry.example";

/** package.nix called with stand-ins: buildNpmPackage and importNpmLock return their arguments. */
const PACKAGE = `
  let
    lib = {
      removeSuffix = s: str:
        let n = builtins.stringLength str; k = builtins.stringLength s;
        in if n >= k && builtins.substring (n - k) k str == s then builtins.substring 0 (n - k) str else str;
      importJSON = f: builtins.fromJSON (builtins.readFile f);
      fileset = { toSource = _: "<src>"; unions = x: x; };
      escapeShellArgs = xs: builtins.concatStringsSep " " (map (x: "'" + x + "'") xs);
      licenses.mit = "mit";
      platforms.linux = [ ];
    };
    importNpmLock = { __functor = _: args: args; npmConfigHook = "<importNpmLock.npmConfigHook>"; };
  in
  import ./nix/package.nix {
    inherit lib importNpmLock;
    path = ${NIXPKGS};
    buildNpmPackage = args: args;
    nodejs_22 = "<nodejs_22>";
  }`;

interface PackageArgs {
  pname: string;
  version: string;
  nodejs: string;
  npmConfigHook: string;
  npmBuildScript: string;
  dontNpmPrune?: boolean;
  postInstall: string;
  installCheckPhase: string;
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
  return spawnSync("bash", ["-c", `${shim}\n${script}`], { cwd, env: { ...process.env, out }, encoding: "utf8" });
}

describe("nix/package.nix", () => {
  const pkg = nixEval<PackageArgs>(`builtins.removeAttrs (${PACKAGE}) [ "npmDeps" "meta" "src" ]`);

  it("builds with Node 22, importNpmLock's config hook and `npm run build`, and prunes devDependencies", () => {
    assert.ok(pkg);
    assert.equal(pkg.pname, "genpush");
    assert.equal(pkg.version, JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
    assert.equal(pkg.nodejs, "<nodejs_22>");
    assert.equal(pkg.npmConfigHook, "<importNpmLock.npmConfigHook>");
    assert.equal(pkg.npmBuildScript, "build");
    assert.equal(pkg.dontNpmPrune, undefined, "the install hook's `npm prune --omit=dev` must stay on");
  });

  it("installs the files of units/ wholesale, changing only @GENPUSH@, as `genpush units install` renders them", async () => {
    assert.ok(pkg);
    const dir = mkdtempSync(join(tmpdir(), "genpush-nix-units-"));
    const build = join(dir, "build");
    const out = join(dir, OUT.slice(1));
    cpSync(join(ROOT, "units"), join(build, "units"), { recursive: true });
    mkdirSync(out, { recursive: true });

    const run = runPhase(pkg.postInstall, build, out);
    assert.equal(run.status, 0, `postInstall failed:\n${run.stderr}`);

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
    assert.ok(pkg);
    const out = mkdtempSync(join(tmpdir(), "genpush-nix-out-"));
    mkdirSync(join(out, "bin"));
    writeFileSync(join(out, "bin/genpush"), "#!/bin/sh\necho 0.1.0\n", { mode: 0o755 });
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
});

describe("nix/npm-lock.nix", () => {
  interface LockEntry {
    version?: string;
    resolved?: string;
    integrity?: string;
    link?: boolean;
  }

  it("gives importNpmLock a registry URL and the locked integrity for every package of package-lock.json", () => {
    const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
      packages: Record<string, LockEntry>;
    };
    const given = nixEval<Record<string, LockEntry>>(`(${PACKAGE}).npmDeps.packageLock.packages`);
    assert.deepEqual(Object.keys(given).sort(), Object.keys(lock.packages).sort());
    for (const [key, entry] of Object.entries(lock.packages)) {
      if (key === "" || entry.link) continue;
      const name = key.split("node_modules/").at(-1) ?? "";
      const base = name.split("/").at(-1);
      const out = given[key];
      assert.ok(out, key);
      assert.equal(out.integrity, entry.integrity, `${key}: integrity kept`);
      assert.equal(
        out.resolved,
        entry.resolved ?? `${REGISTRY}/${name}/-/${base}-${entry.version}.tgz`,
        `${key}: resolved`,
      );
    }
  });

  it("keeps a resolved URL, a link and the root, and follows an alias's real name", () => {
    const lock = {
      lockfileVersion: 3,
      packages: {
        "": { name: "x", version: "1.0.0" },
        "node_modules/a": { version: "1.0.0", integrity: "sha512-a", resolved: "https://mirror.example/a.tgz" },
        "node_modules/b/node_modules/@s/c": { version: "2.0.0", integrity: "sha512-c" },
        "node_modules/alias": { name: "real", version: "3.0.0", integrity: "sha512-r" },
        "node_modules/local": { link: true, resolved: "packages/local" },
        "packages/local": { version: "0.0.0" },
      },
    };
    const out = nixEval<{ packages: Record<string, LockEntry> }>(
      `import ./nix/npm-lock.nix { registry = "${REGISTRY}"; lock = builtins.fromJSON ${JSON.stringify(JSON.stringify(lock))}; }`,
    );
    assert.deepEqual(out.packages[""], lock.packages[""]);
    assert.equal(out.packages["node_modules/a"]?.resolved, "https://mirror.example/a.tgz");
    assert.equal(out.packages["node_modules/b/node_modules/@s/c"]?.resolved, `${REGISTRY}/@s/c/-/c-2.0.0.tgz`);
    assert.equal(out.packages["node_modules/alias"]?.resolved, `${REGISTRY}/real/-/real-3.0.0.tgz`);
    assert.deepEqual(out.packages["node_modules/local"], lock.packages["node_modules/local"]);
    assert.deepEqual(out.packages["packages/local"], lock.packages["packages/local"]);
  });
});
