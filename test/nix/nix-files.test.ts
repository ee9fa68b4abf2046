/**
 * What Debian's Nix can check of the Nix files without nixpkgs: every file
 * parses; flake.nix, evaluated with a stand-in for nixpkgs, has its outputs
 * for both systems; the modules enable exactly the units that units/ declares
 * ([Install] WantedBy=) and write no unit file of their own.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { nixEval, ROOT } from "./lib.js";

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
    const files = [join(ROOT, "flake.nix"), ...nixFiles(join(ROOT, "nix"))].map((f) => relative(ROOT, f)).sort();
    for (const expected of [
      "flake.nix",
      "nix/home-manager-module.nix",
      "nix/module-options.nix",
      "nix/nixos-module.nix",
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
    // A stand-in nixpkgs: just enough for the flake's outputs to be listed.
    const stub = mkdtempSync(join(tmpdir(), "genpush-nixpkgs-stub-"));
    writeFileSync(
      join(stub, "default.nix"),
      `{ system, overlays ? [ ] }:
      let
        base = {
          inherit system;
          callPackage = fn: _: { file = toString fn; inherit system; name = "genpush"; meta.mainProgram = "genpush"; };
        };
      in builtins.foldl' (prev: overlay: let final = prev // overlay final prev; in final) base overlays`,
    );
    const flake = nixEval<{
      description: string;
      outputs: string[];
      systems: Record<string, { packages: string[]; apps: string[]; checks: string[]; app: string; file: string }>;
      overlay: string;
      nixosModule: string;
      homeManagerModule: string;
    }>(`
      let
        flake = import ./flake.nix;
        lib = {
          genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
          getExe = p: "/nix/store/x-" + p.name + "/bin/" + p.meta.mainProgram;
        };
        nixpkgs = { inherit lib; outPath = ${JSON.stringify(stub)}; };
        self = flake.outputs { inherit self nixpkgs; };
        names = builtins.attrNames;
      in {
        inherit (flake) description;
        outputs = names self;
        systems = builtins.mapAttrs (system: packages: {
          packages = names packages;
          apps = names self.apps.\${system};
          checks = names self.checks.\${system};
          app = self.apps.\${system}.default.program;
          file = packages.default.file;
        }) self.packages;
        overlay = toString ((self.overlays.default { callPackage = fn: _: toString fn; } { }).genpush);
        nixosModule = toString self.nixosModules.default;
        homeManagerModule = toString self.homeManagerModules.default;
      }`);
    for (const output of ["packages", "apps", "checks", "overlays", "nixosModules", "homeManagerModules"]) {
      assert.ok(flake.outputs.includes(output), `flake output ${output}`);
    }
    assert.deepEqual(Object.keys(flake.systems).sort(), ["aarch64-linux", "x86_64-linux"]);
    for (const [system, s] of Object.entries(flake.systems)) {
      assert.ok(s.packages.includes("default"), `packages.${system}.default`);
      assert.equal(s.file, join(ROOT, "nix/package.nix"), `packages.${system}.default is nix/package.nix`);
      assert.deepEqual(s.apps, ["default"]);
      assert.match(s.app, /\/bin\/genpush$/);
      assert.deepEqual(s.checks.sort(), ["package", "vm"]);
    }
    assert.equal(flake.overlay, join(ROOT, "nix/package.nix"));
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
