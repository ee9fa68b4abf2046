/**
 * Every ```nix snippet of README.md, taken from README itself so the two cannot drift: it parses
 * (Nix resolves names when it parses, so a name the snippet never binds, such as `config`
 * without a `{ config, ... }:` header, fails here), and it is evaluated as what it is: a host's
 * flake (each of its nixosConfigurations, with the modules and specialArgs it gives
 * nixosSystem) or a module (NixOS, or home-manager where it imports genpush's home-manager
 * module), with genpush's module turned on and the specialArgs README names (`genpush`,
 * `comin`), by stand-ins.nix's module evaluation. Its settings must raise no assertion, and
 * the build-time `config check` must accept them, run as Nix's sandbox runs it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { evaluateNix, nixEval, openTempDir, readmeSnippets, runAsBuilder, snippetFile, standIns } from "./lib.js";

interface Evaluated {
  kind: string;
  failedAssertions: string[];
  enable: boolean;
  etc?: Record<string, { script: string }>;
  configFile?: Record<string, { source: { script: string } }>;
}

describe("README's Nix snippets", () => {
  const snippets = readmeSnippets();
  const { nix } = standIns();

  it("README has its snippets: a host's flake, other backends, a comin host, a home-manager user", () => {
    assert.deepEqual(
      snippets.map((s) => [s.heading, s.kind]),
      [
        ["NixOS host, one cache", "nixos"],
        ["NixOS host, one cache", "nixos"],
        ["comin host", "nixos"],
        ["home-manager user", "home-manager"],
      ],
    );
  });

  for (const snippet of snippets) {
    it(`README line ${snippet.line} (${snippet.heading}) parses, evaluates, and genpush accepts its configuration`, () => {
      const file = snippetFile(snippet);
      const parsed = spawnSync("nix-instantiate", ["--parse", file], { encoding: "utf8" });
      assert.equal(parsed.status, 0, `README line ${snippet.line}:\n${parsed.stderr}`);

      const evaluated = nixEval<Evaluated[]>(
        `${evaluateNix(nix)}.snippet { file = ${file}; kind = "${snippet.kind}"; }`,
        { store: true },
      );
      assert.ok(evaluated.length > 0, "a flake snippet defines a nixosConfiguration");
      for (const e of evaluated) {
        assert.equal(e.kind, snippet.kind);
        assert.equal(e.enable, true);
        assert.deepEqual(e.failedAssertions, [], "the module refuses none of its settings");
        const step = e.etc?.["genpush/config.yaml"] ?? e.configFile?.["genpush/config.yaml"]?.source;
        assert.ok(step?.script, "the configuration file is checked at build time");
        const run = runAsBuilder(step.script, join(openTempDir("genpush-readme-check-"), "config.yaml"));
        assert.equal(run.status, 0, `genpush config check refused README line ${snippet.line}:\n${run.stderr}`);
      }
    });
  }
});

describe("the README snippet check", () => {
  const FENCE = "```";
  it("fails a snippet that names what it never binds, as README's home-manager snippet once did", () => {
    const [snippet] = readmeSnippets(
      `# x\n${FENCE}nix\n{\n  services.genpush.settings.caches.lan.store = "\${config.xdg.configHome}/x";\n}\n${FENCE}\n`,
    );
    assert.ok(snippet);
    const parsed = spawnSync("nix-instantiate", ["--parse", snippetFile(snippet)], { encoding: "utf8" });
    assert.notEqual(parsed.status, 0);
    assert.match(parsed.stderr, /undefined variable 'config'/);
  });
});
