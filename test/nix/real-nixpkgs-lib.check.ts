/**
 * Beside the Nix suite, not in CI (CI has no nixpkgs): stand-ins.nix checked against a real
 * nixpkgs lib, so that the suite's stand-ins give nothing the real one lacks.
 *
 *   GENPUSH_NIXPKGS_LIB=/path/to/nixpkgs/lib node --import tsx --test test/nix/real-nixpkgs-lib.check.ts
 *
 * (the lib/ directory of a nixpkgs checkout, or of nix-community/nixpkgs.lib). It checks that
 * every function the stand-in lib has exists in the real one and gives the same results; that
 * package.nix instantiates with no argument when the packages are made with the real lib; and
 * that the real lib.evalModules gives, for genpush's modules and every snippet of the docs, exactly
 * what the suite's own module evaluation gives.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { where } from "../docs-blocks.js";
import { docSnippets, evaluateNix, nixEval, openTempDir, snippetFile, standIns } from "./lib.js";

const LIB = process.env.GENPUSH_NIXPKGS_LIB;
if (!LIB) throw new Error("set GENPUSH_NIXPKGS_LIB to a nixpkgs lib/ directory");
const REAL = `(import ${JSON.stringify(LIB)})`;

describe("stand-ins.nix against a real nixpkgs lib", () => {
  const storeDir = openTempDir("genpush-store-");
  const standIn = standIns({ storeDir });
  const real = standIns({ storeDir, realLib: LIB });

  before(() => {
    const nix28 = nixEval<boolean>("!(builtins ? readFileType)");
    if (nix28) console.log("# this Nix lacks builtins.readFileType: the real lib keeps the stand-in lib.fileset");
  });

  it("every name the stand-in lib gives, the real lib has", () => {
    const missing = nixEval<string[]>(`
      let
        inherit (builtins) attrNames concatMap filter isAttrs head tail concatStringsSep;
        real = ${REAL};
        walk = prefix: set: concatMap (n:
          let v = set.\${n}; p = prefix ++ [ n ]; in
          # A stand-in type is a record of its own making: its name is what must exist.
          if isAttrs v && !(v ? check) && !(v ? _type) then walk p v else [ p ]) (attrNames set);
        has = path: set: path == [ ] || (isAttrs set && set ? \${head path} && has (tail path) set.\${head path});
      in map (concatStringsSep ".") (filter (p: !(has p real)) (walk [ ] ${standIn.nix}.standInLib))`);
    assert.deepEqual(missing, []);
  });

  it("the stand-in lib's functions give what the real ones give", () => {
    const calls = `lib: rec {
      drv = { type = "derivation"; outPath = "/nix/store/x-tool"; meta.mainProgram = "tool"; name = "tool"; };
      results = {
        mkIf = lib.mkIf true 1;
        mkMerge = lib.mkMerge [ 1 ];
        mkOption = lib.mkOption { default = 1; description = "d"; };
        mkEnableOption = builtins.removeAttrs (lib.mkEnableOption "x") [ "type" ];
        literalExpression = lib.literalExpression "x";
        genAttrs = lib.genAttrs [ "a" "b" ] (n: n + n);
        filterAttrs = lib.filterAttrs (n: v: v > 1) { a = 1; b = 2; };
        optional = [ (lib.optional true 1) (lib.optional false 1) ];
        optionals = [ (lib.optionals true [ 1 ]) (lib.optionals false [ 1 ]) ];
        optionalAttrs = [ (lib.optionalAttrs true { a = 1; }) (lib.optionalAttrs false { a = 1; }) ];
        optionalString = [ (lib.optionalString true "a") (lib.optionalString false "a") ];
        concatMapStrings = lib.concatMapStrings (x: x + ";") [ "a" "b" ];
        removePrefix = [ (lib.removePrefix "systemd/user/" "systemd/user/x") (lib.removePrefix "y" "x") ];
        removeSuffix = [ (lib.removeSuffix "/" "https://x/") (lib.removeSuffix "/" "x") ];
        hasPrefix = [ (lib.hasPrefix "a" "ab") (lib.hasPrefix "b" "ab") ];
        hasSuffix = [ (lib.hasSuffix ".path" "x.path") (lib.hasSuffix ".path" "x.timer") ];
        escapeShellArgs = lib.escapeShellArgs [ "a b" "it's" "plain" ];
        importJSON = lib.importJSON ./package.json;
        getExe = lib.getExe drv;
        makeBinPath = lib.makeBinPath [ drv drv ];
        proxyImpureEnvVars = lib.fetchers.proxyImpureEnvVars;
        mit = lib.licenses.mit.spdxId;
        any = lib.any (x: x) [ false true ];
      };
    }`;
    const compare = (lib: string) => nixEval<unknown>(`((${calls}) ${lib}).results`);
    assert.deepEqual(compare(`${standIn.nix}.standInLib`), compare(REAL));
  });

  it("package.nix instantiates with no argument, its packages made with the real lib", () => {
    const summary = (nix: string) =>
      nixEval<unknown>(
        `let p = ${nix}.pkgs.callPackage ./nix/package.nix { }; t = p.args.passthru.npmTarballs; in {
          inherit (p) name; inherit (p.meta) platforms mainProgram;
          tarballs = { inherit (t) name; inherit (t.args) outputHash list buildCommand impureEnvVars; };
          lock = p.args.npmDeps.env.lock;
          src = p.args.src;
        }`,
        { store: true },
      );
    assert.deepEqual(summary(real.nix), summary(standIn.nix));
  });

  it("the real lib.evalModules gives what the suite's module evaluation gives, for the modules and the docs' snippets", () => {
    const lan = `settings.caches.lan = { type = "nix"; store = "http://cache.lan:8080"; };`;
    const scenarios = [
      `"nixos" { modules = [ { services.genpush = { enable = true; ${lan} }; } ]; }`,
      `"nixos" { modules = [ { services.genpush = { enable = true; watchComin = true; watchSystem = false; verify.onCalendar = "weekly"; credentials.k = "/run/k"; ${lan} }; } ]; }`,
      `"nixos" { modules = [ { services.genpush = { enable = true; }; } ]; }`,
      `"nixos" { modules = [ { services.genpush = { ${lan} }; } ]; }`,
      `"home-manager" { modules = [ { services.genpush = { enable = true; ${lan} }; } ]; }`,
      `"home-manager" { modules = [ { services.genpush = { enable = true; watchHomeManager = false; verify.enable = false; credentials.k = "/run/k"; ${lan} }; } ]; }`,
    ];
    for (const scenario of scenarios) {
      const run = (nix: string) => nixEval<unknown>(`${evaluateNix(nix)}.evaluate ${scenario}`, { store: true });
      assert.deepEqual(run(standIn.nix), run(real.nix), scenario);
    }
    for (const snippet of docSnippets()) {
      const file = snippetFile(snippet);
      const run = (nix: string) =>
        nixEval<unknown>(`${evaluateNix(nix)}.snippet { file = ${file}; kind = "${snippet.kind}"; }`, { store: true });
      assert.deepEqual(run(standIn.nix), run(real.nix), where(snippet));
    }
  });
});
