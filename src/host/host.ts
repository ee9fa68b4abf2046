/**
 * src/host/: this machine and its desktop: which caches take this host
 * (here), desktop notices (notify.ts), metered networks (metered.ts), systemd
 * and logind over D-Bus (bus.ts, inhibit.ts).
 *
 * This host, as a cache's `hosts` and `systemFeatures` see it: its hostname, and the
 * `system-features` of its Nix (NixOS sets `gccarch-<arch>` there for a machine whose
 * builds are tuned to its processor). A cache with neither takes every host's generations;
 * the features are read from Nix only when some cache asks for some, so a trigger with
 * nothing new stays free of Nix calls otherwise.
 */
import { hostname } from "node:os";
import type { HostMatch } from "../config/config.js";
import { nixSetting } from "../nix/cli.js";
import { describeError } from "../runtime/errors.js";

export interface Host {
  name: string;
  /** Nix's `system-features` here; null when no cache asks (not read). */
  features: ReadonlySet<string> | null;
  /** Why the features could not be read, if they could not. */
  featuresUnknown?: string;
}

/** The host, with Nix's system features read if any of `caches` names some. */
export async function thisHost(caches: readonly HostMatch[]): Promise<Host> {
  const name = hostname();
  if (!caches.some((cache) => cache.systemFeatures.length > 0)) return { name, features: null };
  try {
    const setting = (await nixSetting("system-features")) ?? "";
    return { name, features: new Set(setting.split(/\s+/).filter(Boolean)) };
  } catch (error) {
    return { name, features: new Set(), featuresUnknown: describeError(error).message };
  }
}

/** Why `cache` does not take this host's generations, or undefined when it does. */
export function hostMismatch(cache: HostMatch, host: Host): string | undefined {
  if (cache.hosts.length > 0 && !cache.hosts.some((glob) => glob.matches(host.name))) {
    return `takes hosts ${cache.hosts.map((glob) => glob.glob).join(", ")}, not ${host.name}`;
  }
  const lacking = cache.systemFeatures.filter((feature) => !host.features?.has(feature));
  if (lacking.length > 0) {
    const unknown = host.featuresUnknown ? ` (Nix's system-features could not be read: ${host.featuresUnknown})` : "";
    return `needs the Nix system feature${lacking.length === 1 ? "" : "s"} ${lacking.join(", ")}, which ${host.name} lacks${unknown}`;
  }
  return undefined;
}
