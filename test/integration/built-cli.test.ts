// The built CLI as users run it (`npx genpush`, the units' ExecStart): dist/cli.js
// from `npm run build`, which `npm ci` runs through `prepare`.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { execa } from "execa";
import { repoRoot, writeConfig } from "./harness/cli.js";

const cli = join(repoRoot, "dist", "cli.js");

test("--version and --help work from the build", async () => {
  const { version } = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8"));
  const v = await execa(process.execPath, [cli, "--version"]);
  assert.equal(v.stdout.trim(), version);
  const help = await execa(process.execPath, [cli, "--help"]);
  for (const command of ["push", "enqueue", "diff", "status", "verify", "units", "config"]) {
    assert.match(help.stdout, new RegExp(`^  ${command}\\b`, "m"), `--help lists ${command}`);
  }
});

test("every command's --help shows defaults that say something: none of `(default: false)` or `(default: [])`", async () => {
  const commands = [["push"], ["enqueue"], ["diff"], ["status"], ["verify"], ["units", "install"], ["config", "check"]];
  for (const command of commands) {
    const help = await execa(process.execPath, [cli, ...command, "--help"]);
    assert.doesNotMatch(help.stdout, /\(default: (false|\[\])\)/, `${command.join(" ")} --help:\n${help.stdout}`);
    assert.match(help.stdout, /^Options:$/m);
  }
});

test("bad usage exits 2 with a hint", async () => {
  const r = await execa(process.execPath, [cli, "push", "--no-such-option"], { reject: false });
  assert.equal(r.exitCode, 2);
  assert.match(r.stderr, /unknown option '--no-such-option'/);
  assert.match(r.stderr, /--help/);
});

test("a profile given as an argument: exit 2, and the --profile it meant", async () => {
  for (const command of ["push", "verify"]) {
    const r = await execa(process.execPath, [cli, command, "system", "comin"], { reject: false });
    assert.equal(r.exitCode, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`genpush ${command} takes no arguments, got \`system\` \`comin\``));
    assert.match(r.stderr, new RegExp(`hint: to name profiles: genpush ${command} --profile system --profile comin`));
  }
});

test("units install --dry-run renders every unit with this build's ExecStart and the configuration it read", async () => {
  // The default profiles (no `profiles:`), from a file named by GENPUSH_CONFIG: the units must read that file too.
  const config = writeConfig({ caches: [{ name: "lan", systems: ["x86_64-linux"], type: "nix", store: "file:///c" }] });
  const r = await execa(process.execPath, [cli, "units", "install", "--system", "--dry-run"], {
    env: { GENPUSH_CONFIG: config },
  });
  assert.match(r.stdout, /^# \/etc\/systemd\/system\/genpush-system\.path$/m);
  assert.match(
    r.stdout,
    new RegExp(`^ExecStart=${process.execPath} ${cli} --config ${config} push --profile system$`, "m"),
  );
  assert.match(r.stdout, new RegExp(`^ExecStart=${process.execPath} ${cli} --config ${config} verify --repair$`, "m"));
  assert.doesNotMatch(r.stdout, /@GENPUSH@/);
  assert.match(r.stdout, /systemctl enable --now genpush-comin\.path genpush-system\.path genpush-verify\.timer/);
});

test("units install refuses units that could never work, saying why (exit 2); a dry run prints them and warns", async () => {
  // A first try's configuration: one profile under /tmp, its state beside it.
  const config = writeConfig({
    stateDir: "/var/lib/genpush",
    profiles: [{ name: "test", path: "/tmp/genpush-try/profiles/test" }],
    caches: [{ name: "lan", systems: ["x86_64-linux"], type: "nix", store: "file:///c" }],
  });
  const install = (...more: string[]) =>
    execa(process.execPath, [cli, "--config", config, "units", "install", "--system", ...more], { reject: false });
  const profile = /profile test \(\/tmp\/genpush-try\/profiles\/test\) is where the system services cannot see/;
  const real = await install();
  assert.equal(real.exitCode, 2, real.stderr);
  assert.match(real.stderr, profile);
  assert.equal(real.stdout, "", "no unit printed");
  const dry = await install("--dry-run");
  assert.equal(dry.exitCode, 0, dry.stderr);
  assert.match(dry.stderr, /warning: these units could never work: /);
  assert.match(dry.stderr, profile);
  assert.match(dry.stdout, /^# \/etc\/systemd\/system\/genpush-test\.service$/m);
});

test("units install --system refuses units whose ExecStart names what the services cannot see; --dry-run warns", async () => {
  // A first try: the configuration written under /tmp, which the services' PrivateTmp= hides.
  const config = writeConfig({
    profiles: [{ name: "system", path: "/nix/var/nix/profiles/system" }],
    caches: [{ name: "lan", systems: ["x86_64-linux"], type: "nix", store: "file:///c" }],
  });
  assert.ok(config.startsWith("/tmp/"), config);
  const install = (...more: string[]) =>
    execa(process.execPath, [cli, "--config", config, "units", "install", "--system", ...more], { reject: false });
  const real = await install();
  assert.equal(real.exitCode, 2, real.stderr);
  assert.match(real.stderr, /units that run genpush could never work: the system services cannot see /);
  assert.match(real.stderr, /ProtectHome=tmpfs and PrivateTmp=yes/);
  assert.match(real.stderr, /hint: install genpush where they can/);
  const dry = await install("--dry-run");
  assert.equal(dry.exitCode, 0, dry.stderr);
  assert.match(dry.stderr, /these units could never work/);
  assert.match(dry.stdout, /genpush-system\.service/);
});
