/**
 * The NixOS and home-manager modules, evaluated by the module evaluation of stand-ins.nix (the
 * module system as far as these modules use it: mkIf and mkMerge read, option types checked,
 * defaults merged): the units they enable are exactly those units/ declares, each only while
 * its option is on; they write no unit of their own; their build-time `config check` runs as
 * Nix's sandbox runs it (unprivileged, no /var, no home) and passes, or fails the build.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { evaluateNix, nixEval, openTempDir, ROOT, runAsBuilder, standIns } from "./lib.js";

type Script = { script: string };

interface NixosSummary {
  failedAssertions: string[];
  enable: boolean;
  settings: unknown;
  systemPackages: string[];
  systemdPackages: string[];
  etc: Record<string, Script | string>;
  postBuildHook: string | null;
  paths: Record<string, { wantedBy: string[] }>;
  timers: Record<string, { wantedBy: string[]; timerConfig: Record<string, unknown> }>;
  services: Record<
    string,
    {
      path: string[];
      wantedBy: string[];
      environment: Record<string, string>;
      serviceConfig: Record<string, unknown>;
      restartIfChanged: boolean;
    }
  >;
}

interface HomeSummary {
  failedAssertions: string[];
  enable: boolean;
  settings: unknown;
  packages: string[];
  configFile: Record<string, { text: string | null; source: Script | string | null }>;
}

const { nix } = standIns();
const EVALUATE = evaluateNix(nix);
const PACKAGE = nixEval<string>(`toString (${nix}.pkgs.callPackage ./nix/package.nix { })`);

function nixos(settings: string): NixosSummary {
  return nixEval(`${EVALUATE}.evaluate "nixos" { modules = [ { services.genpush = ${settings}; } ]; }`, {
    store: true,
  });
}
function home(settings: string): HomeSummary {
  return nixEval(`${EVALUATE}.evaluate "home-manager" { modules = [ { services.genpush = ${settings}; } ]; }`, {
    store: true,
  });
}

const LAN = `settings.caches.lan = { type = "nix"; store = "http://cache.lan:8080"; };`;

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

/** Runs a module's build-time configuration check as the build does; `out` is the file it makes. */
function runCheck(step: Script | string | null | undefined) {
  assert.ok(step && typeof step === "object", `a build step, not ${JSON.stringify(step)}`);
  const out = join(openTempDir("genpush-check-"), "config.yaml");
  return { run: runAsBuilder(step.script, out), out };
}

describe("nix/nixos-module.nix", () => {
  // Each unit of units/system that has [Install] WantedBy=, and the option that turns it on.
  const SWITCHES: Record<string, string> = {
    "genpush-system.path": "watchSystem",
    "genpush-comin.path": "watchComin",
    "genpush-verify.timer": "verify.enable",
    "genpush-queue.path": "postBuildHook.enable",
    "genpush-queue.timer": "postBuildHook.enable",
  };

  it("enables the units units/system's [Install] WantedBy= names, each only while its option is on", () => {
    const wants = wantedBy("system");
    assert.deepEqual([...wants.keys()].sort(), Object.keys(SWITCHES).sort(), "every unit with [Install] has a switch");
    const on = `{ enable = true; watchComin = true; postBuildHook.enable = true; ${LAN} }`;
    const all = nixos(on);
    for (const [unit, targets] of wants) {
      const [name, kind] = unit.split(".") as [string, "path" | "timer"];
      assert.deepEqual(all[`${kind}s`][name]?.wantedBy, targets, `${unit} is wanted by ${targets}`);

      const option = SWITCHES[unit] ?? "";
      const off = nixos(`${on} // { ${option} = false; }`);
      assert.deepEqual(off[`${kind}s`][name]?.wantedBy ?? [], [], `${unit} is not enabled with ${option} = false`);
      for (const [other] of wants) {
        if (SWITCHES[other] === option) continue;
        const [otherName, otherKind] = other.split(".") as [string, "path" | "timer"];
        assert.ok(off[`${otherKind}s`][otherName]?.wantedBy.length, `${other} stays on with ${option} = false`);
      }
    }
    const disabled = nixos(`{ ${LAN} }`);
    assert.deepEqual(
      [disabled.paths, disabled.timers, disabled.services, disabled.etc, disabled.systemdPackages],
      [{}, {}, {}, {}, []],
      "nothing while services.genpush.enable is false",
    );
  });

  it("writes no unit: the package's units through systemd.packages, and drop-ins only for units it has", () => {
    const s = nixos(`{ enable = true; watchComin = true; credentials.key = "/run/agenix/key"; ${LAN} }`);
    assert.deepEqual(s.systemdPackages, [PACKAGE]);
    assert.deepEqual(s.systemPackages, [PACKAGE]);
    const units = readdirSync(join(ROOT, "units/system"));
    for (const [kind, names] of [
      ["service", Object.keys(s.services)],
      ["path", Object.keys(s.paths)],
      ["timer", Object.keys(s.timers)],
    ] as const) {
      for (const name of names)
        assert.ok(units.includes(`${name}.${kind}`), `${name}.${kind} is a unit of units/system`);
    }
    for (const [name, service] of Object.entries(s.services)) {
      assert.deepEqual(
        Object.keys(service.serviceConfig),
        ["LoadCredential"],
        `${name}: no ExecStart or Type of its own`,
      );
      assert.deepEqual(service.serviceConfig.LoadCredential, ["key:/run/agenix/key"]);
      assert.deepEqual(service.environment, { GENPUSH_CONFIG: "/etc/genpush/config.yaml" });
      assert.equal(service.restartIfChanged, false, `${name}: a switch does not start a push of its own`);
      assert.deepEqual(service.wantedBy, [], `${name} is started by its path unit or timer`);
    }
  });

  it("puts nix, the compressors and the clients the caches need on the services' PATH", () => {
    const nixOnly = nixos(`{ enable = true; ${LAN} }`);
    const names = (paths: string[] | undefined) =>
      (paths ?? []).map((p) => (p.split("/").at(-1) ?? "").replace(/^[0-9a-f]+-/, "")).sort();
    assert.deepEqual(names(nixOnly.services["genpush-system"]?.path), ["bzip2", "nix", "xz", "zstd"]);
    const others = nixos(`{ enable = true; settings.caches = {
      arm = { type = "attic"; endpoint = "https://attic.lan"; cache = "c"; tokenFile = "/run/agenix/a"; };
      pub = { type = "cachix"; cache = "c"; tokenFile = "/run/agenix/c"; };
    }; }`);
    assert.deepEqual(names(others.services["genpush-verify"]?.path), ["attic-client", "cachix", "nix"]);
  });

  it("sets Nix's post-build-hook to a script running `genpush enqueue` only with postBuildHook.enable", () => {
    assert.equal(nixos(`{ enable = true; ${LAN} }`).postBuildHook, null);
    const s = nixos(`{ enable = true; postBuildHook.enable = true; ${LAN} }`);
    const hook = s.postBuildHook ?? "";
    assert.match(hook, new RegExp(`^exec ${PACKAGE}/bin/genpush enqueue$`, "m"));
    assert.match(hook, /^export PATH=\S+-nix\/bin\$\{PATH:\+:\$PATH\}$/m, "nix-store, for the GC roots, on its PATH");
    assert.deepEqual(s.services["genpush-queue"]?.environment, { GENPUSH_CONFIG: "/etc/genpush/config.yaml" });
  });

  it("replaces the timer's schedule when verify.onCalendar is set", () => {
    assert.deepEqual(nixos(`{ enable = true; ${LAN} }`).timers["genpush-verify"]?.timerConfig, {});
    assert.deepEqual(
      nixos(`{ enable = true; verify.onCalendar = "weekly"; ${LAN} }`).timers["genpush-verify"]?.timerConfig,
      {
        OnCalendar: ["", "weekly"],
      },
    );
  });

  it("turns the settings it refuses into assertions", () => {
    assert.match(
      nixos(`{ enable = true; }`).failedAssertions.join("\n"),
      /^services\.genpush\.settings\.caches is empty/,
    );
    assert.deepEqual(nixos(`{ enable = true; ${LAN} }`).failedAssertions, []);
  });

  it("writes a cache's `fleet` only where it is set (docs/fleet.md)", () => {
    const caches = (settings: string) =>
      (nixos(`{ enable = true; ${settings} }`).settings as { caches: object[] }).caches;
    assert.deepEqual(caches(LAN), [
      { name: "lan", type: "nix", systems: ["x86_64-linux"], store: "http://cache.lan:8080" },
    ]);
    assert.deepEqual(caches(LAN.replace(" };", " fleet = true; };")), [
      { name: "lan", type: "nix", systems: ["x86_64-linux"], store: "http://cache.lan:8080", fleet: true },
    ]);
  });

  it("checks /etc/genpush/config.yaml at build time as Nix's sandbox runs it, and fails the build when genpush refuses it", () => {
    const good = nixos(`{ enable = true; settings.stateDir = "$STATE_DIRECTORY"; ${LAN} }`);
    const { run, out } = runCheck(good.etc["genpush/config.yaml"]);
    assert.equal(run.status, 0, `the build-time check failed:\n${run.stderr}`);
    assert.deepEqual(JSON.parse(readFileSync(out, "utf8")), good.settings, "the checked file is the rendered settings");

    const bad = nixos(`{ enable = true; settings.caches.lan = { type = "nix"; store = "-bad uri"; }; }`);
    const refused = runCheck(bad.etc["genpush/config.yaml"]).run;
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /caches\[0\]\.store/);
  });
});

describe("nix/home-manager-module.nix", () => {
  const SWITCHES: Record<string, string> = {
    "genpush-home-manager.path": "watchHomeManager",
    "genpush-verify.timer": "verify.enable",
  };

  it("links every unit of units/user from the package, and enables those [Install] WantedBy= names while their option is on", () => {
    const wants = wantedBy("user");
    assert.deepEqual([...wants.keys()].sort(), Object.keys(SWITCHES).sort(), "every unit with [Install] has a switch");
    const all = home(`{ enable = true; ${LAN} }`);
    for (const unit of readdirSync(join(ROOT, "units/user"))) {
      assert.equal(all.configFile[`systemd/user/${unit}`]?.source, `${PACKAGE}/share/systemd/user/${unit}`, unit);
    }
    for (const [unit, targets] of wants) {
      for (const target of targets) {
        const link = `systemd/user/${target}.wants/${unit}`;
        assert.equal(all.configFile[link]?.source, `${PACKAGE}/share/systemd/user/${unit}`, link);
        const option = SWITCHES[unit] ?? "";
        const off = home(`{ enable = true; ${option} = false; ${LAN} }`);
        assert.equal(off.configFile[link], undefined, `no ${link} with ${option} = false`);
        assert.ok(off.configFile[`systemd/user/${unit}`], `${unit} is still linked, for a manual start`);
      }
    }
    assert.deepEqual(home(`{ ${LAN} }`).configFile, {}, "nothing while services.genpush.enable is false");
  });

  it("writes no unit: only drop-ins, for the services it links", () => {
    const s = home(`{ enable = true; credentials.key = "/run/agenix/key"; ${LAN} }`);
    assert.deepEqual(s.packages, [PACKAGE]);
    const services = readdirSync(join(ROOT, "units/user")).filter((u) => u.endsWith(".service"));
    const written = Object.entries(s.configFile).filter(([, f]) => f.text !== null);
    assert.deepEqual(
      written.map(([name]) => name).sort(),
      services.map((u) => `systemd/user/${u}.d/home-manager.conf`).sort(),
    );
    for (const [name, file] of written) {
      assert.match(file.text ?? "", /^\[Service\]\nEnvironment="PATH=.*-nix\/bin:.*:\/usr\/bin:\/bin"\n/, name);
      assert.match(file.text ?? "", /^Environment="GENPUSH_CONFIG=\/home\/alice\/\.config\/genpush\/config\.yaml"$/m);
      assert.match(file.text ?? "", /^LoadCredential=key:\/run\/agenix\/key$/m);
      assert.doesNotMatch(file.text ?? "", /ExecStart|\[Unit\]|\[Install\]/);
    }
  });

  it("checks ~/.config/genpush/config.yaml at build time as Nix's sandbox runs it, where the home does not exist", () => {
    const s = home(`{ enable = true; settings.stateDir = "~/.local/state/genpush"; ${LAN} }`);
    const { run, out } = runCheck(s.configFile["genpush/config.yaml"]?.source);
    assert.equal(run.status, 0, `the build-time check failed:\n${run.stderr}`);
    assert.deepEqual(JSON.parse(readFileSync(out, "utf8")), s.settings);
    assert.deepEqual(s.failedAssertions, []);
  });

  it("writes a cache's `fleet` as set", () => {
    const s = home(`{ enable = true; ${LAN.replace(" };", " fleet = true; };")} }`);
    assert.equal((s.settings as { caches: { fleet?: boolean }[] }).caches[0]?.fleet, true);
  });
});
