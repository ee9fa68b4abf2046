/**
 * What Debian's Nix can check of the Nix files without nixpkgs: every file parses; flake.nix,
 * evaluated with stand-ins.nix's nixpkgs, has its outputs for both systems; the modules enable
 * exactly the units that units/ declares ([Install] WantedBy=) and write no unit file of their
 * own. (The package: package.test.ts.)
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

/** The [Install] WantedBy= targets of each .path and .timer file of units/<scope>. */
function wantedBy(scope: "system" | "user"): Map<string, string[]> {
  const dir = join(ROOT, "units", scope);
  const wants = new Map<string, string[]>();
  for (const name of readdirSync(dir).filter((n) => /\.(path|timer)$/.test(n))) {
    const install = readFileSync(join(dir, name), "utf8").split(/^\[Install\]$/m)[1] ?? "";
    wants.set(
      name,
      [...install.matchAll(/^WantedBy=(.+)$/gm)].flatMap((m) => (m[1] ?? "").trim().split(/\s+/)),
    );
  }
  return wants;
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

  it("the NixOS module takes the units from the package and enables them for the targets units/system names", () => {
    const module = read("nix/nixos-module.nix");
    assert.match(module, /systemd\.packages = \[ cfg\.package \];/);
    assert.doesNotMatch(module, /ExecStart|systemd\.units|\bscript =|serviceConfig\.Type/, "writes no unit of its own");
    for (const [unit, targets] of wantedBy("system")) {
      const [name, kind] = unit.split(".") as [string, string];
      const option = new RegExp(`systemd\\.${kind}s\\.${name} = lib\\.mkIf [^;]*wantedBy = \\[ ([^\\]]*) \\]`);
      const m = module.match(option);
      assert.ok(m?.[1], `nixos-module.nix sets wantedBy for ${unit}`);
      assert.deepEqual(
        [...m[1].matchAll(/"([^"]+)"/g)].map((t) => t[1]),
        targets,
        `${unit} is wanted by ${targets}`,
      );
    }
  });

  it("the home-manager module links the package's user units and enables them for the targets units/user names", () => {
    const module = read("nix/home-manager-module.nix");
    assert.match(module, /builtins\.readDir \.\.\/units\/user/, "links every file of units/user");
    assert.match(module, /userUnits = "\$\{cfg\.package\}\/share\/systemd\/user";/);
    assert.doesNotMatch(module, /ExecStart|systemd\.user\.(services|paths|timers)/, "writes no unit of its own");
    for (const [unit, targets] of wantedBy("user")) {
      for (const target of targets) {
        assert.ok(
          module.includes(`"systemd/user/${target}.wants/${unit}" = link "${unit}";`),
          `home-manager-module.nix links ${unit} into ${target}.wants`,
        );
      }
    }
  });
});
