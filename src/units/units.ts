/**
 * src/units/: the systemd units genpush installs: the unit files (here) and
 * the profiles' own units (profile-units.ts).
 *
 * The unit files in `units/` are the single source for every install route:
 * `genpush units install` (here), the Nix package and the NixOS module. Their
 * ExecStart names `@GENPUSH@`, replaced by the command that runs genpush.
 */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../package-root.js";
import { GenpushError } from "../runtime/errors.js";

export type UnitScope = "system" | "user";

export interface UnitFile {
  name: string;
  content: string;
}

export async function renderUnits(scope: UnitScope, execStart: string): Promise<UnitFile[]> {
  const dir = join(PACKAGE_ROOT, "units", scope);
  const names = (await readdir(dir)).filter((name) => /\.(service|path|timer)$/.test(name)).sort();
  return Promise.all(
    names.map(async (name) => ({
      name,
      content: (await readFile(join(dir, name), "utf8")).replaceAll("@GENPUSH@", execStart),
    })),
  );
}

/** The built CLI the units run. */
export const CLI = join(PACKAGE_ROOT, "dist", "cli.js");

/**
 * The command line that runs this genpush: node and the built CLI, absolute,
 * quoted for systemd (spaces, `%` specifiers and `$` variables escaped).
 */
export function genpushCommand(configFile?: string): string {
  if (!existsSync(CLI)) {
    throw new GenpushError(`the built CLI ${CLI} does not exist`, { hint: "run `npm run build` (or `npm ci`) first" });
  }
  const words = [process.execPath, CLI, ...(configFile ? ["--config", configFile] : [])];
  return words.map(systemdWord).join(" ");
}

function systemdWord(word: string): string {
  const escaped = word.replaceAll("\\", "\\\\").replaceAll("%", "%%").replaceAll("$", "$$$$").replaceAll('"', '\\"');
  return /[\s"'\\]/.test(word) ? `"${escaped}"` : escaped;
}

/** Where systemd reads unit files written by an administrator or a user. */
export function unitDirectory(scope: UnitScope, env = process.env, home = process.env.HOME ?? ""): string {
  if (scope === "system") return "/etc/systemd/system";
  return join(env.XDG_CONFIG_HOME || join(home, ".config"), "systemd", "user");
}

/** The units a user enables: the watchers and the timer (services are started by them). */
export function unitsToEnable(units: readonly UnitFile[]): string[] {
  return units.map((unit) => unit.name).filter((name) => /\.(path|timer)$/.test(name) && !QUEUE_UNITS.includes(name));
}

/** The push queue's units: enabled where Nix's post-build-hook runs `genpush enqueue` (docs/units.md). */
export const QUEUE_UNITS = ["genpush-queue.path", "genpush-queue.timer"];
