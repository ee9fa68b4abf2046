/**
 * The units `genpush units install` writes for the profiles a configuration names: a unit
 * that never works is worse than none, as nothing says so until a switch is missed.
 *
 * A default profile where its shipped units look (system, comin; a user's home-manager) gets
 * those units as they are, the contract's names. Any other profile, or a default one kept
 * elsewhere, gets the same pair made for it: `genpush-NAME.path` watching the directory that
 * holds its link, and `genpush-NAME.service`, the scope's push service running
 * `push --profile NAME`. The verify service and timer come along. What could not work is
 * refused with the reason: a system unit cannot see under /home (ProtectHome=tmpfs), and a
 * profile named like another unit would replace it.
 */
import { dirname } from "node:path";
import type { ProfileConfig } from "../config/config.js";
import { UsageError } from "../runtime/errors.js";
import { renderUnits, type UnitFile, type UnitScope } from "./units.js";

/** Per scope: the default profiles whose shipped push units exist, and the one each unit pair is made from. */
const SHIPPED: Record<UnitScope, { pairs: Record<string, string>; model: string; modelProfile: string }> = {
  system: {
    pairs: { system: "genpush-system", comin: "genpush-comin" },
    model: "genpush-system",
    modelProfile: "system",
  },
  user: {
    pairs: { "home-manager": "genpush-home-manager" },
    model: "genpush-home-manager",
    modelProfile: "home-manager",
  },
};

/** What the system services do not see: ProtectHome=tmpfs hides homes, PrivateTmp=yes the temp directories. */
const HIDDEN_FROM_SYSTEM = ["/home/", "/root/", "/run/user/", "/tmp/", "/var/tmp/"];
/** The one state directory the system services may write (StateDirectory=genpush under ProtectSystem=strict). */
const SYSTEM_STATE_DIR = "/var/lib/genpush";

/**
 * What a system unit's ExecStart would name that its service cannot see (the node binary,
 * genpush's CLI, the configuration file, each `[what, path]`): the first such, or undefined.
 */
export function hiddenFromSystem(files: readonly (readonly [string, string])[]): string | undefined {
  const hidden = files.find(([, path]) => isHiddenFromSystem(path));
  return hidden && `${hidden[0]} ${hidden[1]}`;
}

function isHiddenFromSystem(path: string): boolean {
  return HIDDEN_FROM_SYSTEM.some((dir) => path.startsWith(dir));
}

export interface Where {
  /** The user's home and name, to read `%h` and `%u` in the shipped user units. */
  home: string;
  user: string;
}

export async function unitsForProfiles(
  scope: UnitScope,
  execStart: string,
  { profiles, stateDir }: { profiles: readonly ProfileConfig[]; stateDir: string },
  where: Where,
): Promise<UnitFile[]> {
  if (scope === "system" && stateDir !== SYSTEM_STATE_DIR) {
    throw new UsageError(
      `the system services can write only ${SYSTEM_STATE_DIR} (ProtectSystem=strict), not the configured stateDir ${stateDir}`,
      "leave `stateDir` unset in the configuration the units read (they use /var/lib/genpush)",
    );
  }
  if (profiles.length === 0) {
    throw new UsageError("the configuration names no profile, so no unit would push anything", "add `profiles:` to it");
  }
  const shipped = await renderUnits(scope, execStart);
  const byName = new Map(shipped.map((unit) => [unit.name, unit]));
  const { pairs, model, modelProfile } = SHIPPED[scope];
  const pushUnits = new Set(Object.values(pairs).flatMap((pair) => [`${pair}.path`, `${pair}.service`]));
  const others = shipped.filter((unit) => !pushUnits.has(unit.name));
  const taken = new Set(others.map((unit) => unit.name.replace(/\.[a-z]+$/, "")));
  const out: UnitFile[] = [];
  for (const profile of profiles) {
    const directory = `${dirname(profile.path)}/`;
    if (scope === "system" && isHiddenFromSystem(directory)) {
      throw new UsageError(
        `profile ${profile.name} (${profile.path}) is where the system services cannot see (they run with ProtectHome=tmpfs and PrivateTmp=yes)`,
        "keep system profiles under /nix/var/nix/profiles; a user's profile is pushed by that user's units (`genpush units install --user`, run as that user)",
      );
    }
    const unit = `genpush-${profile.name}`;
    if (taken.has(unit)) {
      throw new UsageError(`a profile named ${profile.name} would replace the unit ${unit}`, "rename the profile");
    }
    const pair = pairs[profile.name];
    const shippedPath = pair ? byName.get(`${pair}.path`) : undefined;
    if (pair && shippedPath && watchedDirectories(shippedPath.content, where).includes(directory)) {
      out.push(shippedPath, byName.get(`${pair}.service`) as UnitFile);
      continue;
    }
    const service = byName.get(`${model}.service`) as UnitFile;
    out.push(
      { name: `${unit}.path`, content: pathUnit(profile, directory, unit) },
      { name: `${unit}.service`, content: serviceFor(service.content, profile, modelProfile, execStart) },
    );
  }
  return [...out, ...others].sort((a, b) => a.name.localeCompare(b.name));
}

function watchedDirectories(content: string, { home, user }: Where): string[] {
  return [...content.matchAll(/^PathChanged=(.+)$/gm)].map((m) =>
    (m[1] as string).replaceAll("%h", home).replaceAll("%u", user),
  );
}

function pathUnit(profile: ProfileConfig, directory: string, unit: string): string {
  return `[Unit]
Description=genpush: watch profile ${profile.name} (${profile.path}) for switches

[Path]
# The directory, not the link: Nix renames a new link over the old one, and a path
# unit on the link itself fires once and then never again (systemd#17727, #31941).
# It may not exist until the first switch, which systemd waits for.
PathChanged=${directory.replaceAll("%", "%%")}
Unit=${unit}.service

[Install]
WantedBy=paths.target
`;
}

/** The scope's push service, pushing `profile` instead. */
function serviceFor(model: string, profile: ProfileConfig, modelProfile: string, execStart: string): string {
  const exec = `ExecStart=${execStart} push --profile ${modelProfile}`;
  if (!model.includes(exec)) throw new Error(`the shipped push service has no line ${exec}`);
  return model
    .replace(
      /^Description=.*$/m,
      `Description=genpush: push the new generation of profile ${profile.name} to binary caches`,
    )
    .replace(exec, `ExecStart=${execStart} push --profile ${profile.name}`);
}
