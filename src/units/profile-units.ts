/**
 * The units `genpush units install` writes for the profiles a configuration names: a unit
 * that never works is worse than none, as nothing says so until a switch is missed.
 *
 * A default profile where its shipped units look (system, comin; a user's home-manager) gets
 * those units as they are, the contract's names. Any other profile, or a default one kept
 * elsewhere, gets the same pair made for it: `genpush-NAME.path` watching the directory that
 * holds its link, and `genpush-NAME.service`, the scope's push service running
 * `push --profile NAME`. The verify service and timer come along. A profile named like another
 * unit would replace it: refused. What a system unit could not see (under /home, with
 * ProtectHome=tmpfs) or write is listed with its reason by `unseenBySystem`: the command
 * refuses it, a dry run warns.
 */
import { dirname } from "node:path";
import type { Config, ProfileConfig } from "../config/config.js";
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
export const SYSTEM_STATE_DIR = "/var/lib/genpush";

/** A reason a system unit could never do its work, with what to do about it. */
export interface Unseen {
  problem: string;
  hint: string;
}

const INSTALL_HINT =
  "install genpush where they can (the Nix package, or a clone under /opt or /usr/local) and keep its configuration in /etc/genpush";
const SECRET_HINT =
  "hand the secret to the services as a credential (LoadCredential=, docs/units.md) and name it `$CREDENTIALS_DIRECTORY/NAME` in the configuration";
const PROFILE_HINT =
  "keep system profiles under /nix/var/nix/profiles; a user's profile is pushed by that user's units (`genpush units install --user`, run as that user)";

/**
 * What the system services could never see or write, each with its reason: the files their
 * ExecStart names (node, genpush's CLI, the configuration file), the state directory, the
 * profiles, and the secret files of the caches (a `$CREDENTIALS_DIRECTORY` path is theirs).
 * The configuration is the one the services resolve (as root, under StateDirectory=genpush).
 */
export function unseenBySystem(
  files: readonly (readonly [string, string])[],
  { profiles, stateDir, caches }: Pick<Config, "profiles" | "stateDir" | "caches">,
): Unseen[] {
  const sandbox = "they run with ProtectHome=tmpfs and PrivateTmp=yes";
  const out: Unseen[] = files
    .filter(([, path]) => isHiddenFromSystem(path))
    .map(([what, path]) => ({
      problem: `the system services cannot see ${what} ${path} (${sandbox})`,
      hint: INSTALL_HINT,
    }));
  if (stateDir !== SYSTEM_STATE_DIR) {
    out.push({
      problem: `the system services can write only ${SYSTEM_STATE_DIR} (ProtectSystem=strict), not the configured stateDir ${stateDir}`,
      hint: "leave `stateDir` unset in the configuration the units read (they use /var/lib/genpush)",
    });
  }
  for (const profile of profiles) {
    if (isHiddenFromSystem(`${dirname(profile.path)}/`)) {
      out.push({
        problem: `profile ${profile.name} (${profile.path}) is where the system services cannot see (${sandbox})`,
        hint: PROFILE_HINT,
      });
    }
  }
  for (const cache of caches) {
    const secrets: [string, string | undefined][] = [
      ["signingKeyFile", cache.type === "attic" ? undefined : cache.signingKeyFile],
      ["tokenFile", cache.type === "nix" ? undefined : cache.tokenFile],
    ];
    for (const [key, file] of secrets) {
      if (file && isHiddenFromSystem(file)) {
        out.push({
          problem: `cache ${cache.name}: the system services cannot read its ${key} ${file} (${sandbox})`,
          hint: SECRET_HINT,
        });
      }
    }
  }
  return out;
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
  { profiles }: { profiles: readonly ProfileConfig[] },
  where: Where,
): Promise<UnitFile[]> {
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
      {
        name: `${unit}.service`,
        content: serviceFor(service.content, profile, { modelProfile, modelUnit: model, unit }, execStart),
      },
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

/** The scope's push service (the unit `modelUnit`), pushing `profile` as the unit `unit` instead. */
function serviceFor(
  model: string,
  profile: ProfileConfig,
  { modelProfile, modelUnit, unit }: { modelProfile: string; modelUnit: string; unit: string },
  execStart: string,
): string {
  const exec = `ExecStart=${execStart} push --profile ${modelProfile}`;
  if (!model.includes(exec)) throw new Error(`the shipped push service has no line ${exec}`);
  return model
    .replaceAll(`systemd-analyze security ${modelUnit}.service`, `systemd-analyze security ${unit}.service`)
    .replace(
      /^Description=.*$/m,
      `Description=genpush: push the new generation of profile ${profile.name} to binary caches`,
    )
    .replace(exec, `ExecStart=${execStart} push --profile ${profile.name}`);
}
