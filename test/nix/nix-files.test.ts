/**
 * What Debian's Nix can check of the Nix files without nixpkgs: every file parses; flake.nix,
 * evaluated with stand-ins.nix's nixpkgs, has its outputs for both systems. (The modules:
 * modules.test.ts; the package: package.test.ts.)
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { nixEval, ROOT, standIns } from "./lib.js";

function nixFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return nixFiles(path);
    return entry.name.endsWith(".nix") ? [path] : [];
  });
}

const read = (file: string) => readFileSync(join(ROOT, file), "utf8");

describe("Nix files", () => {
  it("every .nix file parses", () => {
    const files = [join(ROOT, "flake.nix"), ...nixFiles(join(ROOT, "nix")), ...nixFiles(join(ROOT, "test/nix"))]
      .map((f) => relative(ROOT, f))
      .sort();
    for (const expected of [
      "flake.nix",
      "nix/home-manager-module.nix",
      "nix/module-options.nix",
      "nix/nixos-module.nix",
      "nix/npm-deps.nix",
      "nix/npm-lock.nix",
      "nix/package.nix",
      "nix/tests/vm.nix",
    ]) {
      assert.ok(files.includes(expected), `${expected} exists`);
    }
    for (const file of files) {
      const run = spawnSync("nix-instantiate", ["--parse", file], { cwd: ROOT, encoding: "utf8" });
      assert.equal(run.status, 0, `${file} does not parse:\n${run.stderr}`);
    }
  });

  it("flake.nix has a package, app and checks for x86_64-linux and aarch64-linux, an overlay and both modules", () => {
    // stand-ins.nix's nixpkgs: its callPackage calls nix/package.nix as nixpkgs' does, with
    // only what nixpkgs has; the overlay gives pkgs.genpush.
    const { nix } = standIns();
    const flake = nixEval<{
      description: string;
      outputs: string[];
      systems: Record<string, { packages: string[]; apps: string[]; checks: string[]; app: string; name: string }>;
      overlay: string;
      nixosModule: string;
      homeManagerModule: string;
    }>(`
      let
        flake = import ./flake.nix;
        self = ${nix}.flakes.genpush;
        names = builtins.attrNames;
      in {
        inherit (flake) description;
        outputs = names self;
        systems = builtins.mapAttrs (system: packages: {
          packages = names packages;
          apps = names self.apps.\${system};
          checks = names self.checks.\${system};
          app = self.apps.\${system}.default.program;
          inherit (packages.default) name;
        }) self.packages;
        overlay = (${nix}.pkgsFor { overlays = [ self.overlays.default ]; }).genpush.args.pname;
        nixosModule = toString self.nixosModules.default;
        homeManagerModule = toString self.homeManagerModules.default;
      }`);
    for (const output of ["packages", "apps", "checks", "overlays", "nixosModules", "homeManagerModules"]) {
      assert.ok(flake.outputs.includes(output), `flake output ${output}`);
    }
    const version = JSON.parse(read("package.json")).version;
    assert.deepEqual(Object.keys(flake.systems).sort(), ["aarch64-linux", "x86_64-linux"]);
    for (const [system, s] of Object.entries(flake.systems)) {
      assert.deepEqual(s.packages.sort(), ["default", "genpush"], `packages.${system}`);
      assert.equal(s.name, `genpush-${version}`, `packages.${system}.default is nix/package.nix`);
      assert.deepEqual(s.apps, ["default"]);
      assert.match(s.app, new RegExp(`-genpush-${version}/bin/genpush$`));
      assert.deepEqual(s.checks.sort(), ["package", "vm"]);
    }
    assert.equal(flake.overlay, "genpush");
    assert.equal(flake.nixosModule, join(ROOT, "nix/nixos-module.nix"));
    assert.equal(flake.homeManagerModule, join(ROOT, "nix/home-manager-module.nix"));
  });
});
