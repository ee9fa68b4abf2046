import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Glob, globToRegExp } from "../../../src/config/glob.js";
import { type Host, hostMismatch } from "../../../src/host/host.js";
import type { PathInfo } from "../../../src/nix/path-info.js";
import type { StorePath } from "../../../src/nix/store-path.js";
import { dependenciesFirst, makePlan, route } from "../../../src/push/plan.js";

const ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz";
function sp(name: string): StorePath {
  let hash = "";
  for (let i = 0; i < 32; i++) hash += ALPHABET[(name.charCodeAt(i % name.length) * (i + 7)) % 32];
  return `/nix/store/${hash}-${name}` as StorePath;
}
function info(name: string, refs: string[] = [], extra: Partial<PathInfo> = {}): PathInfo {
  return { path: sp(name), narSize: 100, references: refs.map(sp), signedBy: [], ultimate: true, ...extra };
}
const names = (paths: PathInfo[]) => paths.map((p) => p.path.slice(44));

// glibc <- libfoo <- app <- top;  glibc <- top;  top also refers to itself
const glibc = info("glibc", [], { ultimate: false, signedBy: ["cache.nixos.org-1"] });
const libfoo = info("libfoo", ["glibc"]);
const app = info("app", ["libfoo", "glibc"]);
const iso = info("image.iso", ["glibc"]);
const top = info("top", ["app", "glibc", "top"]);

describe("plan: the diff against what the cache got", () => {
  it("with no base, every path of the closure is new", () => {
    const plan = makePlan({
      closure: [top, app, libfoo, glibc],
      base: null,
      upstreamKeys: [],
      exclude: [],
      wholeClosures: true,
    });
    assert.deepEqual(plan.counts, { closure: 4, new: 4, upstream: 0, excluded: 0, candidates: 4 });
    assert.deepEqual(names(plan.candidates), ["glibc", "libfoo", "app", "top"]);
  });

  it("with a base, only what the base lacks", () => {
    const base = new Set([glibc.path, libfoo.path, sp("old-app"), sp("old-top")]);
    const plan = makePlan({
      closure: [top, app, libfoo, glibc],
      base,
      upstreamKeys: [],
      exclude: [],
      wholeClosures: true,
    });
    assert.deepEqual(plan.counts, { closure: 4, new: 2, upstream: 0, excluded: 0, candidates: 2 });
    assert.deepEqual(names(plan.candidates), ["app", "top"]);
  });

  it("a base holding everything plans nothing", () => {
    const closure = [top, app, libfoo, glibc];
    const plan = makePlan({
      closure,
      base: new Set(closure.map((i) => i.path)),
      upstreamKeys: [],
      exclude: [],
      wholeClosures: true,
    });
    assert.deepEqual(plan.counts, { closure: 4, new: 0, upstream: 0, excluded: 0, candidates: 0 });
  });
});

describe("plan: upstream filter", () => {
  const closure = [top, app, libfoo, glibc];
  it("drops paths signed by an upstream key and not built here, where the backend allows it", () => {
    const plan = makePlan({
      closure,
      base: null,
      upstreamKeys: ["cache.nixos.org-1"],
      exclude: [],
      wholeClosures: false,
    });
    assert.deepEqual(plan.counts, { closure: 4, new: 4, upstream: 1, excluded: 0, candidates: 3 });
    assert.deepEqual(names(plan.candidates), ["libfoo", "app", "top"]);
  });
  it("keeps a path built here even when it also carries an upstream signature", () => {
    const local = info("glibc", [], { ultimate: true, signedBy: ["cache.nixos.org-1"] });
    const plan = makePlan({
      closure: [local],
      base: null,
      upstreamKeys: ["cache.nixos.org-1"],
      exclude: [],
      wholeClosures: false,
    });
    assert.equal(plan.counts.upstream, 0);
  });
  it("does not apply to backends that need whole closures (nix copy)", () => {
    const plan = makePlan({
      closure,
      base: null,
      upstreamKeys: ["cache.nixos.org-1"],
      exclude: [],
      wholeClosures: true,
    });
    assert.equal(plan.counts.upstream, 0);
    assert.equal(plan.counts.candidates, 4);
  });
  it("matches key names exactly", () => {
    const plan = makePlan({
      closure,
      base: null,
      upstreamKeys: ["cache.nixos.org"],
      exclude: [],
      wholeClosures: false,
    });
    assert.equal(plan.counts.upstream, 0);
  });
});

describe("plan: exclude globs", () => {
  it("drops matching names", () => {
    const plan = makePlan({
      closure: [iso, glibc, libfoo],
      base: null,
      upstreamKeys: [],
      exclude: [new Glob("*.iso")],
      wholeClosures: false,
    });
    assert.deepEqual(plan.counts, { closure: 3, new: 3, upstream: 0, excluded: 1, candidates: 2 });
  });
  it("for whole-closure backends, also drops what depends on an excluded path", () => {
    const plan = makePlan({
      closure: [top, app, libfoo, glibc],
      base: null,
      upstreamKeys: [],
      exclude: [new Glob("libfoo")],
      wholeClosures: true,
    });
    assert.deepEqual(names(plan.candidates), ["glibc"]);
    assert.equal(plan.counts.excluded, 3);
  });
  it("globs: *, ?, [..], [!..], and literal dots", () => {
    assert.ok(globToRegExp("*.iso").test("nixos-23.11.iso"));
    assert.ok(!globToRegExp("*.iso").test("nixos-iso"));
    assert.ok(globToRegExp("lib?oo").test("libfoo"));
    assert.ok(globToRegExp("[a-c]pp").test("bpp"));
    assert.ok(!globToRegExp("[!a]pp").test("app"));
    assert.ok(globToRegExp("linux-*-modules").test("linux-6.6-modules"));
  });
  it("a glob that cannot compile is an error naming it and why, not a RegExp's words", () => {
    assert.throws(() => new Glob("[z-a]*"), {
      message: "`[z-a]*` is not a valid glob (range out of order in character class)",
    });
  });
  it("a compiled glob prints as written", () => {
    assert.equal(JSON.stringify({ exclude: [new Glob("*.iso")] }), '{"exclude":["*.iso"]}');
  });
});

describe("plan: dependencies first", () => {
  it("orders every path after its references, ties by path", () => {
    const shuffled = [top, glibc, app, iso, libfoo];
    const order = names(dependenciesFirst(shuffled));
    for (const p of shuffled) {
      for (const ref of p.references) {
        if (ref !== p.path)
          assert.ok(order.indexOf(ref.slice(44)) < order.indexOf(p.path.slice(44)), `${ref} before ${p.path}`);
      }
    }
    assert.deepEqual(order, names(dependenciesFirst([...shuffled].reverse())), "stable whatever the input order");
  });
  it("ignores references outside the set", () => {
    assert.deepEqual(names(dependenciesFirst([app])), ["app"]);
  });
});

describe("route: by the generation's system, and by the host", () => {
  const anyHost = { hosts: [], systemFeatures: [] };
  const caches = [
    { name: "x86", systems: ["x86_64-linux"], ...anyHost },
    { name: "both", systems: ["x86_64-linux", "aarch64-linux"], ...anyHost },
    { name: "arm", systems: ["aarch64-linux"], ...anyHost },
  ];
  const host: Host = { name: "desk", features: null };
  it("every cache listing the system", () => {
    assert.deepEqual(
      route("x86_64-linux", caches, host).caches.map((c) => c.name),
      ["x86", "both"],
    );
    assert.deepEqual(
      route("aarch64-linux", caches, host).caches.map((c) => c.name),
      ["both", "arm"],
    );
  });
  it("no cache: a warning naming the system and the systems served", () => {
    const r = route("riscv64-linux", caches, host);
    assert.deepEqual(r.caches, []);
    assert.equal(r.warning, "no cache is configured for riscv64-linux; caches serve aarch64-linux, x86_64-linux");
  });

  const tuned = [
    { name: "skylake", systems: ["x86_64-linux"], hosts: [], systemFeatures: ["gccarch-skylake"] },
    { name: "zen3", systems: ["x86_64-linux"], hosts: [], systemFeatures: ["gccarch-znver3"] },
    { name: "builders", systems: ["x86_64-linux"], hosts: [new Glob("build-*")], systemFeatures: [] },
    { name: "shared", systems: ["x86_64-linux"], ...anyHost },
  ];
  const machine = (name: string, ...features: string[]): Host => ({ name, features: new Set(features) });
  it("a cache with systemFeatures takes the hosts whose Nix has them all; one with hosts, the hosts they match", () => {
    const names = (h: Host) => route("x86_64-linux", tuned, h).caches.map((c) => c.name);
    assert.deepEqual(names(machine("laptop", "gccarch-skylake", "kvm")), ["skylake", "shared"]);
    assert.deepEqual(names(machine("desk", "gccarch-znver3")), ["zen3", "shared"]);
    assert.deepEqual(names(machine("build-1", "kvm")), ["builders", "shared"]);
    assert.deepEqual(names(machine("other")), ["shared"]);
  });
  it("no cache takes this host's generations: a warning saying what each would need", () => {
    const r = route("x86_64-linux", tuned.slice(0, 3), machine("other", "kvm"));
    assert.deepEqual(r.caches, []);
    assert.equal(
      r.warning,
      "no cache takes x86_64-linux generations of this host (other): " +
        "skylake needs the Nix system feature gccarch-skylake, which other lacks; " +
        "zen3 needs the Nix system feature gccarch-znver3, which other lacks; " +
        "builders takes hosts build-*, not other",
    );
    assert.equal(hostMismatch(tuned[0] as (typeof tuned)[number], machine("laptop", "gccarch-skylake")), undefined);
  });
});
