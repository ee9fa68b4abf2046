/**
 * Every ```nix snippet of README.md and docs/, taken from the docs themselves so the two cannot
 * drift (test/docs-blocks.ts; the other kinds of example are test/integration/docs.test.ts's): it parses
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
import { where } from "../docs-blocks.js";
import { docSnippets, evaluateNix, nixEval, openTempDir, runAsBuilder, snippetFile, standIns } from "./lib.js";

interface Evaluated {
  kind: string;
  failedAssertions: string[];
  enable: boolean;
  etc?: Record<string, { script: string }>;
  configFile?: Record<string, { source: { script: string } }>;
}

describe("the docs' Nix snippets", () => {
  const snippets = docSnippets();
  const { nix } = standIns();

  it("the docs have their snippets: a host's flake, a home-manager user, a comin host, other backends", () => {
    assert.deepEqual(
      snippets.map((s) => [s.file, s.heading, s.kind]),
      [
        ["README.md", "NixOS host (flake)", "nixos"],
        ["README.md", "home-manager user", "home-manager"],
        ["README.md", "comin host", "nixos"],
        ["README.md", "Every build, not only switches: builder hosts, Hydra, CI", "nixos"],
        ["docs/nix.md", "NixOS host, one cache", "nixos"],
        ["docs/nix.md", "NixOS host, one cache", "nixos"],
        ["docs/nix.md", "comin host", "nixos"],
        ["docs/nix.md", "home-manager user", "home-manager"],
      ],
    );
  });

  for (const snippet of snippets) {
    it(`${where(snippet)} (${snippet.heading}) parses, evaluates, and genpush accepts its configuration`, () => {
      const file = snippetFile(snippet);
      const parsed = spawnSync("nix-instantiate", ["--parse", file], { encoding: "utf8" });
      assert.equal(parsed.status, 0, `${where(snippet)}:\n${parsed.stderr}`);

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
        assert.equal(run.status, 0, `genpush config check refused ${where(snippet)}:\n${run.stderr}`);
      }
    });
  }
});

describe("the docs' snippet check", () => {
  const FENCE = "```";
  it("fails a snippet that names what it never binds, as README's home-manager snippet once did", () => {
    const [snippet] = docSnippets(
      `# x\n${FENCE}nix\n{\n  services.genpush.settings.caches.lan.store = "\${config.xdg.configHome}/x";\n}\n${FENCE}\n`,
    );
    assert.ok(snippet);
    const parsed = spawnSync("nix-instantiate", ["--parse", snippetFile(snippet)], { encoding: "utf8" });
    assert.notEqual(parsed.status, 0);
    assert.match(parsed.stderr, /undefined variable 'config'/);
  });
});
