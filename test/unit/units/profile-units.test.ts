// The units `units install` writes for a configuration's profiles: the shipped units where a
// default profile sits where they look, a pair made for any other profile, and a refusal,
// with its reason, for what could not work.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { AtticCacheConfig, NixCacheConfig, ProfileConfig } from "../../../src/config/config.js";
import { unitsForProfiles, unseenBySystem } from "../../../src/units/profile-units.js";
import { renderUnits } from "../../../src/units/units.js";

const where = { home: "/home/alice", user: "alice" };
const system = (profiles: ProfileConfig[]) => unitsForProfiles("system", "genpush", { profiles }, where);
const common = { systems: ["x86_64-linux"], hosts: [], systemFeatures: [], timeoutSeconds: 30 };
const lan: NixCacheConfig = {
  ...common,
  name: "lan",
  type: "nix",
  store: "http://cache.lan",
  queryConcurrency: 32,
  fleet: false,
};
const attic: AtticCacheConfig = {
  ...common,
  name: "arm",
  type: "attic",
  endpoint: "https://attic.lan",
  cache: "c",
  tokenFile: "",
};
const names = (units: { name: string }[]) => units.map((u) => u.name);

describe("system units for the configured profiles", () => {
  test("the default profiles get the shipped units, unchanged", async () => {
    const units = await system([
      { name: "system", path: "/nix/var/nix/profiles/system" },
      { name: "comin", path: "/nix/var/nix/profiles/system-profiles/comin" },
    ]);
    assert.deepEqual(units, await renderUnits("system", "genpush"));
  });

  test("another profile gets its own pair, watching its directory and pushing it; unused default units are not written", async () => {
    const units = await system([{ name: "fleet", path: "/nix/var/nix/profiles/fleet/current" }]);
    assert.deepEqual(names(units), [
      "genpush-fleet.path",
      "genpush-fleet.service",
      "genpush-queue.path",
      "genpush-queue.service",
      "genpush-queue.timer",
      "genpush-verify.service",
      "genpush-verify.timer",
    ]);
    const path = units.find((u) => u.name === "genpush-fleet.path")?.content ?? "";
    assert.match(path, /^PathChanged=\/nix\/var\/nix\/profiles\/fleet\/$/m);
    assert.match(path, /^Unit=genpush-fleet\.service$/m);
    const service = units.find((u) => u.name === "genpush-fleet.service")?.content ?? "";
    assert.match(service, /^ExecStart=genpush push --profile fleet$/m);
    // The same sandbox and bounds as the shipped system service.
    const shipped = (await renderUnits("system", "genpush")).find((u) => u.name === "genpush-system.service")?.content;
    const settings = (text: string) =>
      text.split("\n").filter((l) => /^[A-Z]\w*=/.test(l) && !/^(Description|ExecStart)=/.test(l));
    assert.deepEqual(settings(service), settings(shipped ?? ""));
  });

  test("the system profile kept elsewhere gets a pair watching where it is", async () => {
    const units = await system([{ name: "system", path: "/srv/profiles/system" }]);
    assert.match(
      units.find((u) => u.name === "genpush-system.path")?.content ?? "",
      /^PathChanged=\/srv\/profiles\/$/m,
    );
  });

  for (const path of ["/home/alice/profiles/hm", "/root/p", "/tmp/profiles/test"]) {
    test(`named: a profile the sandboxed system service cannot see (${path})`, () => {
      const unseen = unseenBySystem([], { profiles: [{ name: "p", path }], stateDir: "/var/lib/genpush", caches: [] });
      assert.deepEqual(
        unseen.map((u) => u.problem),
        [
          `profile p (${path}) is where the system services cannot see (they run with ProtectHome=tmpfs and PrivateTmp=yes)`,
        ],
      );
    });
  }

  test("named: a stateDir the system services may not write, and secret files they cannot read", () => {
    const unseen = unseenBySystem([["the configuration file", "/home/alice/genpush.yaml"]], {
      profiles: [{ name: "system", path: "/nix/var/nix/profiles/system" }],
      stateDir: "/srv/state",
      caches: [
        { ...lan, signingKeyFile: "/root/cache-key" },
        { ...lan, name: "ok", signingKeyFile: "$CREDENTIALS_DIRECTORY/signing-key" },
        { ...attic, tokenFile: "/home/alice/attic-token" },
      ],
    });
    assert.deepEqual(
      unseen.map((u) => u.problem.replace(/ \(they run with .*\)$/, "")),
      [
        "the system services cannot see the configuration file /home/alice/genpush.yaml",
        "the system services can write only /var/lib/genpush (ProtectSystem=strict), not the configured stateDir /srv/state",
        "cache lan: the system services cannot read its signingKeyFile /root/cache-key",
        "cache arm: the system services cannot read its tokenFile /home/alice/attic-token",
      ],
    );
    assert.match(unseen[2]?.hint ?? "", /LoadCredential=/);
  });

  test("generated services name themselves in their systemd-analyze security comment", async () => {
    const units = await system([{ name: "fleet", path: "/nix/var/nix/profiles/fleet/current" }]);
    const service = units.find((u) => u.name === "genpush-fleet.service")?.content ?? "";
    assert.match(service, /`systemd-analyze security genpush-fleet\.service`/);
    assert.doesNotMatch(service, /genpush-system/);
    for (const unit of await renderUnits("system", "genpush")) {
      const named = /systemd-analyze security (\S+)`/.exec(unit.content)?.[1];
      if (named) assert.equal(named, unit.name, unit.name);
    }
  });

  test("refused: a profile named like another unit, and no profile at all", async () => {
    await assert.rejects(
      system([{ name: "verify", path: "/nix/var/nix/profiles/verify" }]),
      /would replace the unit genpush-verify/,
    );
    await assert.rejects(system([]), /names no profile/);
  });
});

describe("user units for the configured profiles", () => {
  test("home-manager where home-manager keeps it: the shipped units", async () => {
    const profiles = [{ name: "home-manager", path: "/home/alice/.local/state/nix/profiles/home-manager" }];
    const units = await unitsForProfiles("user", "genpush", { profiles }, where);
    assert.deepEqual(units, await renderUnits("user", "genpush"));
  });

  test("a profile in the home: its own user pair", async () => {
    const profiles = [{ name: "dev", path: "/home/alice/profiles/dev" }];
    const units = await unitsForProfiles("user", "genpush", { profiles }, where);
    assert.deepEqual(names(units), [
      "genpush-dev.path",
      "genpush-dev.service",
      "genpush-verify.service",
      "genpush-verify.timer",
    ]);
    assert.match(units[0]?.content ?? "", /^PathChanged=\/home\/alice\/profiles\/$/m);
  });
});
