// The built CLI as users run it (`npx genpush`, the units' ExecStart): dist/cli.js
// from `npm run build`, which `npm ci` runs through `prepare`.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { execa } from "execa";
import { repoRoot } from "./harness/cli.js";

const cli = join(repoRoot, "dist", "cli.js");

test("--version and --help work from the build", async () => {
  const { version } = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8"));
  const v = await execa(process.execPath, [cli, "--version"]);
  assert.equal(v.stdout.trim(), version);
  const help = await execa(process.execPath, [cli, "--help"]);
  for (const command of ["push", "diff", "status", "verify", "units", "config"]) {
    assert.match(help.stdout, new RegExp(`^  ${command}\\b`, "m"), `--help lists ${command}`);
  }
});

test("every command's --help shows defaults that say something: none of `(default: false)` or `(default: [])`", async () => {
  const commands = [["push"], ["diff"], ["status"], ["verify"], ["units", "install"], ["config", "check"]];
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

test("units install --dry-run renders every unit with this build's ExecStart", async () => {
  const r = await execa(process.execPath, [cli, "units", "install", "--system", "--dry-run"]);
  assert.match(r.stdout, /^# \/etc\/systemd\/system\/genpush-system\.path$/m);
  assert.match(r.stdout, new RegExp(`^ExecStart=${process.execPath} ${cli} push --profile system$`, "m"));
  assert.doesNotMatch(r.stdout, /@GENPUSH@/);
  assert.match(r.stdout, /systemctl enable --now genpush-comin\.path genpush-system\.path genpush-verify\.timer/);
});
