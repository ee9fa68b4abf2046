/**
 * `genpush units install`: write the unit files where systemd reads them,
 * with ExecStart pointing at this genpush, reload the manager over D-Bus,
 * and say what to enable next.
 */
import { userInfo } from "node:os";
import { join, resolve } from "node:path";
import { currentEnvironment, defaultConfigFile, type Environment, loadConfig } from "../config/config.js";
import { reloadManager } from "../host/bus.js";
import { cacheDirectory } from "../runtime/cache-dir.js";
import { describeError, ExitCode, UsageError } from "../runtime/errors.js";
import { distrust, distrustHint, distrustMessage, trustedOwners } from "../runtime/trust.js";
import { writeFileAtomic } from "../state/atomic-file.js";
import { SYSTEM_STATE_DIR, unitsForProfiles, unseenBySystem } from "../units/profile-units.js";
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
  // The units push what this configuration names, reading this same file. System units run
  // it as root under StateDirectory=genpush: its defaults are resolved as they resolve them,
  // whoever runs this (a user's dry run does not get the user's own defaults).
  const environment = currentEnvironment();
  const file = resolve(globals.config ?? defaultConfigFile(environment));
  const services = scope === "system" ? systemServiceEnvironment(environment) : environment;
  const config = await loadConfig(file, services, { secrets: false, trust: root || scope === "user" });
  const readByDefault = file === unitDefaultConfig(scope, environment.home);
  // The services run with ProtectHome=tmpfs and PrivateTmp=yes: a clone in a home or /tmp runs by hand, never from them.
  const unseen =
    scope === "system"
      ? unseenBySystem(
          [
            ["node", process.execPath],
            ["genpush", CLI],
            ["the configuration file", file],
          ],
          config,
        )
      : [];
  if (!root && scope === "system") {
    // Not checked by the load above: the services, as root, use only a file no one but root can change.
    const distrusted = await distrust(file, trustedOwners(0));
    if (distrusted) {
      unseen.push({
        problem: `the system services would refuse ${distrustMessage(file, "the configuration file", distrusted)}`,
        hint: distrustHint(distrusted, 0),
      });
    }
  }
  if (unseen.length > 0 && !options.dryRun) {
    throw new UsageError(
      `units that run genpush could never work: ${unseen.map((u) => u.problem).join("; ")}`,
      [...new Set(unseen.map((u) => u.hint))].join("; "),
    );
  }
  for (const { problem, hint } of unseen) log.warn({ hint }, `these units could never work: ${problem}`);
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

/**
 * What the system services run genpush with: root, its home, and systemd's StateDirectory=genpush.
 * The parse cache stays this process's own (a user cannot write root's).
 */
function systemServiceEnvironment(environment: Environment): Environment {
  const cache = cacheDirectory(environment.env, environment.home);
  return { env: { STATE_DIRECTORY: SYSTEM_STATE_DIR, CACHE_DIRECTORY: cache }, uid: 0, home: "/root" };
}

/** The file a unit's genpush reads without `--config`: root's under the system manager, the user's own else. */
function unitDefaultConfig(scope: UnitScope, home: string): string {
  return scope === "system" ? "/etc/genpush/config.yaml" : join(home, ".config", "genpush", "config.yaml");
}
