// The upstream filter against the real Nix store: a path signed by a key named
// cache.nixos.org-1 (made here) and substituted in from another store is not
// "built here", so the plan drops it where the backend allows partial closures.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { queryClosure } from "../../src/nix/cli.js";
import type { StorePath } from "../../src/nix/store-path.js";
import { makePlan } from "../../src/push/plan.js";
import { makeKey, newSeed, nix, nixBuild, tempDir } from "./harness/nix.js";

const build = (expr: string) => nixBuild(expr) as StorePath;

describe("upstream filter with paths signed by cache.nixos.org-1 and substituted in", () => {
  const seed = newSeed();
  const upstreamKey = makeKey("cache.nixos.org-1");
  const upstreamCache = `file://${tempDir("genpush-upstream-")}`;
  const drv = (name: string, script: string) =>
    `builtins.derivation { name = "gp-${seed}-${name}"; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" ${JSON.stringify(script)}]; }`;
  const libExpr = drv("upstream-lib", `echo ${seed} > $out`);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: ${lib} is Nix interpolation
  const appExpr = `let lib = ${libExpr}; in ${drv("app", "/bin/mkdir $out; echo ${lib} > $out/refs")}`;

  // Build both, publish lib to the "upstream" cache signed with its key, delete both,
  // substitute lib back (signed, not built here), and build app on top of it.
  const lib = build(libExpr);
  nix("nix", ["copy", "--to", `${upstreamCache}?secret-key=${upstreamKey.secretKeyFile}`, lib]);
  nix("nix-store", ["--delete", build(appExpr), lib]);
  nix("nix", ["copy", "--from", upstreamCache, lib, "--option", "trusted-public-keys", upstreamKey.publicKey]);
  const app = build(appExpr);

  it("nix reports the substituted path as signed and not built here", async () => {
    const { infos } = await queryClosure([app]);
    const byPath = new Map(infos.map((info) => [info.path, info]));
    assert.deepEqual(byPath.get(lib)?.signedBy, ["cache.nixos.org-1"]);
    assert.equal(byPath.get(lib)?.ultimate, false);
    assert.equal(byPath.get(app)?.ultimate, true);
  });

  it("the plan drops it for backends that accept partial closures", async () => {
    const { infos } = await queryClosure([app]);
    const plan = makePlan({
      closure: infos,
      base: null,
      upstreamKeys: ["cache.nixos.org-1"],
      exclude: [],
      wholeClosures: false,
    });
    assert.deepEqual(plan.counts, { closure: 2, new: 2, upstream: 1, excluded: 0, candidates: 1 });
    assert.deepEqual(
      plan.candidates.map((info) => info.path),
      [app],
    );
  });

  it("and keeps it for `nix copy` caches, which must hold whole closures", async () => {
    const { infos } = await queryClosure([app]);
    const plan = makePlan({
      closure: infos,
      base: null,
      upstreamKeys: ["cache.nixos.org-1"],
      exclude: [],
      wholeClosures: true,
    });
    assert.deepEqual(plan.counts, { closure: 2, new: 2, upstream: 0, excluded: 0, candidates: 2 });
  });
});
