/**
 * `genpush units install`: write the unit files where systemd reads them,
 * with ExecStart pointing at this genpush, reload the manager over D-Bus,
 * and say what to enable next.
 */
import { resolve } from "node:path";
import { writeFileAtomic } from "../atomic-file.js";
import { describeError, ExitCode, UsageError } from "../errors.js";
import { reloadManager } from "../systemd/bus.js";
import { genpushCommand, renderUnits, type UnitScope, unitDirectory, unitsToEnable } from "../units.js";
import { type GlobalOptions, makeLogger } from "./context.js";

export interface UnitsInstallOptions {
  user: boolean;
  system: boolean;
  dryRun: boolean;
}

export async function unitsInstallCommand(globals: GlobalOptions, options: UnitsInstallOptions): Promise<ExitCode> {
  const { log } = makeLogger(globals);
  if (options.user && options.system) throw new UsageError("--user and --system exclude each other");
  const root = process.getuid?.() === 0;
  const scope: UnitScope = options.system ? "system" : options.user ? "user" : root ? "system" : "user";
  if (scope === "system" && !root && !options.dryRun) {
    throw new UsageError("installing system units needs root", "run it with sudo, or use --user for your own units");
  }
  const units = await renderUnits(scope, genpushCommand(globals.config && resolve(globals.config)));
  const dir = unitDirectory(scope);
  const systemctl = scope === "user" ? "systemctl --user" : "systemctl";
  const enable = `${systemctl} enable --now ${unitsToEnable(units).join(" ")}`;

  if (options.dryRun) {
    for (const unit of units) process.stdout.write(`# ${dir}/${unit.name}\n${unit.content}\n`);
    process.stdout.write(`# then: ${enable}\n`);
    return ExitCode.ok;
  }
  for (const unit of units) {
    await writeFileAtomic(`${dir}/${unit.name}`, unit.content);
    log.info(`wrote ${dir}/${unit.name}`);
  }
  try {
    await reloadManager(scope);
    log.info(`reloaded the ${scope} manager`);
  } catch (error) {
    log.warn(
      { hint: `run \`${systemctl} daemon-reload\`` },
      `could not reload the ${scope} manager: ${describeError(error).message}`,
    );
  }
  process.stdout.write(`Units installed. Enable them with:\n  ${enable}\n`);
  return ExitCode.ok;
}
