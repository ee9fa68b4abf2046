/**
 * `genpush units install`: write the unit files where systemd reads them,
 * with ExecStart pointing at this genpush, reload the manager over D-Bus,
 * and say what to enable next.
 */
import { userInfo } from "node:os";
import { join, resolve } from "node:path";
import { currentEnvironment, defaultConfigFile, loadConfig } from "../config/config.js";
import { reloadManager } from "../host/bus.js";
import { describeError, ExitCode, UsageError } from "../runtime/errors.js";
import { writeFileAtomic } from "../state/atomic-file.js";
import { hiddenFromSystem, unitsForProfiles } from "../units/profile-units.js";
import { CLI, genpushCommand, QUEUE_UNITS, type UnitScope, unitDirectory, unitsToEnable } from "../units/units.js";
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
  // The units push what this configuration names, reading this same file.
  const environment = currentEnvironment();
  const config = await loadConfig(globals.config ?? defaultConfigFile(environment), environment, { secrets: false });
  const file = resolve(config.file);
  const readByDefault = file === unitDefaultConfig(scope, environment.home);
  // The services run with ProtectHome=tmpfs and PrivateTmp=yes: a clone in a home or /tmp runs by hand, never from them.
  const hidden =
    scope === "system"
      ? hiddenFromSystem([
          ["node", process.execPath],
          ["genpush", CLI],
          ["the configuration file", file],
        ])
      : undefined;
  if (hidden) {
    const problem = `the system services cannot see ${hidden} (they run with ProtectHome=tmpfs and PrivateTmp=yes)`;
    const hint =
      "install genpush where they can (the Nix package, or a clone under /opt or /usr/local) and keep its configuration in /etc/genpush";
    if (!options.dryRun) throw new UsageError(`units that run genpush could never start: ${problem}`, hint);
    log.warn({ hint }, `these units could never start: ${problem}`);
  }
  const units = await unitsForProfiles(scope, genpushCommand(readByDefault ? undefined : file), config, {
    home: environment.home,
    user: userInfo().username,
  });
  const dir = unitDirectory(scope);
  const systemctl = scope === "user" ? "systemctl --user" : "systemctl";
  const enable = `${systemctl} enable --now ${unitsToEnable(units).join(" ")}`;
  const queue = QUEUE_UNITS.filter((name) => units.some((unit) => unit.name === name));
  const enableQueue =
    queue.length > 0
      ? `To push every build too (Nix's post-build-hook running \`genpush enqueue\`: docs/units.md):\n  ${systemctl} enable --now ${queue.join(" ")}\n`
      : "";

  if (options.dryRun) {
    for (const unit of units) process.stdout.write(`# ${dir}/${unit.name}\n${unit.content}\n`);
    process.stdout.write(`# then: ${enable}\n`);
    if (enableQueue) process.stdout.write(enableQueue.replace(/^/gm, "# ").replace(/# $/, ""));
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
  process.stdout.write(`Units installed. Enable them with:\n  ${enable}\n${enableQueue}`);
  return ExitCode.ok;
}

/** The file a unit's genpush reads without `--config`: root's under the system manager, the user's own else. */
function unitDefaultConfig(scope: UnitScope, home: string): string {
  return scope === "system" ? "/etc/genpush/config.yaml" : join(home, ".config", "genpush", "config.yaml");
}
