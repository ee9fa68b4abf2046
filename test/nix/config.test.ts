/**
 * nix/config.nix, evaluated with Debian's Nix: the YAML the modules write is
 * accepted by genpush (through the same `config check --no-secrets` script
 * the build runs, run as Nix's sandbox runs it), every key a cache option offers is one genpush takes, and
 * the settings the modules refuse are refused with sentences that name the option.
 */
import assert from "node:assert/strict";
import type { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { nixEval, ROOT, runAsBuilder, standIns } from "./lib.js";

/** Settings as the module system hands them over: every option present, unset ones null. */
const PRELUDE = `
  config = import ./nix/config.nix;
  cache = attrs: {
    systems = [ "x86_64-linux" ]; hosts = [ ]; systemFeatures = [ ];
    store = null; signingKeyFile = null; queryConcurrency = null; fleet = null; timeoutSeconds = null; endpoint = null;
    cache = null; tokenFile = null; atticPath = null; cachixPath = null;
  } // attrs;
  profile = attrs: { system = null; } // attrs;
  mk = settings: {
    stateDir = null; profiles = { }; caches = { }; upstreamKeys = null; exclude = [ ]; notify = null; meteredLimit = null;
  } // settings;`;

function render(settings: string): unknown {
  return nixEval(`let ${PRELUDE} in config.render (mk (${settings}))`);
}

function problems(settings: string, args = ""): string[] {
  return nixEval(`let ${PRELUDE} in config.problems { settings = mk (${settings}); ${args} }`);
}

/**
 * Runs the build's check script on a rendered configuration (JSON is YAML), with this
 * checkout's genpush, as the NixOS module's build runs it: in Nix's sandbox, unprivileged, with
 * the services' STATE_DIRECTORY and CACHE_DIRECTORY, neither of which exists there.
 */
function check(config: unknown): ReturnType<typeof spawnSync> {
  const { storeDir, nix } = standIns();
  const file = join(storeDir, "config.yaml");
  writeFileSync(file, JSON.stringify(config, null, 2), { mode: 0o644 });
  const script = nixEval<string>(
    `(import ./nix/config.nix).checkScript {
      genpush = ${nix}.lib.getExe (${nix}.pkgs.callPackage ./nix/package.nix { });
      configFile = "${file}";
      environment = { STATE_DIRECTORY = "/var/lib/genpush"; CACHE_DIRECTORY = "/var/cache/genpush"; };
    }`,
  );
  return runAsBuilder(script, join(storeDir, "out"));
}

const FULL = `{
  profiles = {
    system = profile { name = "system"; path = "/nix/var/nix/profiles/system"; };
    pi = profile { name = "pi"; path = "$STATE_DIRECTORY/pi"; system = "aarch64-linux"; };
  };
  caches = {
    lan = cache { name = "lan"; type = "nix"; store = "http://cache.lan:8080?compression=zstd";
      signingKeyFile = "$CREDENTIALS_DIRECTORY/signing-key"; queryConcurrency = 8; fleet = true; timeoutSeconds = 20;
      hosts = [ "desk-*" ]; systemFeatures = [ "gccarch-skylake" ]; };
    arm = cache { name = "arm"; type = "attic"; systems = [ "aarch64-linux" ]; endpoint = "https://attic.lan";
      cache = "fort-arm"; tokenFile = "/run/agenix/attic-token"; atticPath = "/run/current-system/sw/bin/attic"; };
    public = cache { name = "public"; type = "cachix"; cache = "modular-workspace";
      tokenFile = "\\\${CREDENTIALS_DIRECTORY}/cachix-token"; signingKeyFile = "/run/secrets/cachix-key";
      endpoint = "https://cachix.org"; cachixPath = "/run/current-system/sw/bin/cachix"; };
  };
  upstreamKeys = [ "cache.nixos.org-1" "nix-community.cachix.org-1" ];
  exclude = [ "*.iso" ];
  stateDir = "/var/lib/genpush";
  notify = "always";
  meteredLimit = "200 MB";
}`;

describe("nix/config.nix", () => {
  it("writes only what was set, and genpush's build-time check accepts every key a cache option offers", () => {
    const config = render(FULL) as { caches: Record<string, unknown>[]; profiles: Record<string, unknown>[] };
    assert.deepEqual(
      config.caches.find((c) => c.name === "lan"),
      {
        name: "lan",
        type: "nix",
        systems: ["x86_64-linux"],
        hosts: ["desk-*"],
        systemFeatures: ["gccarch-skylake"],
        store: "http://cache.lan:8080?compression=zstd",
        signingKeyFile: "$CREDENTIALS_DIRECTORY/signing-key",
        queryConcurrency: 8,
        fleet: true,
        timeoutSeconds: 20,
      },
    );
    assert.deepEqual(
      config.profiles.find((p) => p.name === "system"),
      {
        name: "system",
        path: "/nix/var/nix/profiles/system",
      },
    );
    assert.equal((config as Record<string, unknown>).notify, "always");
    assert.equal((config as Record<string, unknown>).meteredLimit, "200 MB");
    const run = check(config);
    assert.equal(run.status, 0, `genpush config check refused it:\n${run.stderr}`);
  });

  it("leaves every unset value to genpush's defaults", () => {
    assert.deepEqual(render(`{ caches.lan = cache { name = "lan"; type = "nix"; store = "file:///srv/cache"; }; }`), {
      caches: [{ name: "lan", type: "nix", systems: ["x86_64-linux"], store: "file:///srv/cache" }],
    });
  });

  it("offers exactly the cache keys genpush takes (CACHE_KEYS in src/config/config.ts)", () => {
    const source = readFileSync(join(ROOT, "src/config/config.ts"), "utf8");
    const offered = nixEval<Record<string, string[]>>("(import ./nix/config.nix).cacheKeys");
    for (const type of ["nix", "attic", "cachix"]) {
      const m = source.match(new RegExp(`^\\s+${type}: \\[\\.\\.\\.COMMON_CACHE_KEYS, (.*)\\],$`, "m"));
      assert.ok(m?.[1], `CACHE_KEYS.${type} not found in src/config/config.ts: update this test and nix/config.nix`);
      const keys = [...m[1].matchAll(/"(\w+)"/g)].map((k) => k[1]);
      assert.deepEqual(offered[type], keys, `the keys of a \`${type}\` cache`);
    }
  });

  it("fails the build when genpush refuses the configuration", () => {
    const run = check(render(`{ caches.lan = cache { name = "lan"; type = "nix"; store = "-bad uri"; }; }`));
    assert.equal(run.status, 2);
    assert.match(String(run.stderr), /caches\[0\]\.store/);
    // `fleet` on a store genpush cannot coordinate: the build fails, naming the key.
    const fleet = check(
      render(`{ caches.lan = cache { name = "lan"; type = "nix"; store = "s3://bucket"; fleet = true; }; }`),
    );
    assert.equal(fleet.status, 2);
    assert.match(
      String(fleet.stderr),
      /caches\[0\]\.fleet: is true, but genpush cannot coordinate uploads to `s3:\/\/bucket`/,
    );
  });

  it("has no problem with a complete configuration", () => {
    assert.deepEqual(
      problems(FULL, `credentials = { signing-key = "/run/agenix/k"; cachix-token = "/run/agenix/t"; };`),
      [],
    );
  });

  it("refuses, in sentences naming the option, what genpush or the services could not use", () => {
    const found = problems(
      `{
        profiles = { home = profile { name = "home"; path = "/x"; }; };
        caches = {
          a = cache { name = "a"; type = "attic"; store = "http://x"; cache = "c"; tokenFile = "token"; systems = [ ]; };
          n = cache { name = "n"; type = "nix"; store = "http://x"; signingKeyFile = "$CREDENTIALS_DIRECTORY/key"; };
          s = cache { name = "s"; type = "cachix"; cache = "c"; tokenFile = "/nix/store/abc-token"; };
        };
      }`,
      `credentials = { "bad name" = "relative"; };
       watchers = { comin = { option = "watchComin"; unit = "genpush-comin.service"; }; };`,
    );
    const at = "services.genpush.settings.caches";
    const expected = [
      `${at}.a has type \`attic\`, so it needs \`endpoint\``,
      `${at}.a sets \`store\`, which a cache of type \`attic\` does not take`,
      `${at}.a.systems is empty`,
      `${at}.a.tokenFile is \`token\`, but a secret must be an absolute path`,
      `${at}.n.signingKeyFile refers to $CREDENTIALS_DIRECTORY/key, but services.genpush.credentials has no \`key\``,
      `${at}.s.tokenFile is in the Nix store`,
      "services.genpush.watchComin is on, so genpush-comin.service runs `genpush push --profile comin`",
      "services.genpush.credentials.bad name: a credential's name may hold only",
      "services.genpush.credentials.bad name is `relative`, but LoadCredential= needs an absolute path",
    ];
    assert.equal(found.length, expected.length, found.join("\n"));
    for (const e of expected)
      assert.ok(
        found.some((p) => p.startsWith(e)),
        `expected a problem starting:\n${e}`,
      );
    for (const p of found) assert.match(p, /[.;]$/, `a full sentence: ${p}`);
  });

  it("refuses a configuration without caches, and a watcher whose profile is missing only when profiles are given", () => {
    assert.match(problems("{ }").join("\n"), /^services\.genpush\.settings\.caches is empty/);
    const hm = `watchers = { home-manager = { option = "watchHomeManager"; unit = "genpush-home-manager.service"; }; };
      defaultProfiles = true; option = "services.genpush";`;
    const lan = `caches.lan = cache { name = "lan"; type = "nix"; store = "http://x"; };`;
    assert.deepEqual(problems(`{ ${lan} }`, hm), []);
    assert.match(
      problems(`{ ${lan} profiles.x = profile { name = "x"; path = "/x"; }; }`, hm).join("\n"),
      /watchHomeManager is on/,
    );
  });
});
