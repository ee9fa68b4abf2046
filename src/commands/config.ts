/**
 * `genpush config check`: validate the configuration and print it resolved,
 * every default filled in. Secrets appear only as the paths of their files.
 */
import { lstat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { stringify } from "yaml";
import { unsignedCacheWarning } from "../caches/signing.js";
import type { ProfileConfig } from "../config/config.js";
import { hostMismatch, thisHost } from "../host/host.js";
import { ExitCode } from "../runtime/errors.js";
import { closeContext, type GlobalOptions, openContext, printJson } from "./context.js";

export async function configCheckCommand(
  globals: GlobalOptions,
  options: { json: boolean; secrets: boolean },
): Promise<ExitCode> {
  const ctx = await openContext(globals, {
    secrets: options.secrets,
    // A build's sandbox shows the store's files owned by an unmapped user: their owners mean nothing there.
    trust: options.secrets,
  });
  try {
    const { file, warnings: loadWarnings, ...resolved } = ctx.config;
    const keyDir = dirname(resolve(file));
    const unsigned = ctx.config.caches.flatMap((cache) => {
      const warning = unsignedCacheWarning(
        cache,
        keyDir,
        `set \`signingKeyFile: KEY\` on cache ${cache.name} in ${file}`,
      );
      return warning ? [`${warning.message}; ${warning.hint}`] : [];
    });
    const warnings = [...loadWarnings, ...(await missingProfiles(ctx.config.profiles)), ...unsigned];
    for (const warning of warnings.slice(loadWarnings.length)) ctx.log.warn(warning);
    const host = await thisHost(ctx.config.caches);
    const here = ctx.config.caches.map((cache) => {
      const why = hostMismatch(cache, host);
      return { cache: cache.name, takesThisHost: why === undefined, ...(why ? { why } : {}) };
    });
    const features = host.features ? [...host.features].sort() : null;
    if (options.json) {
      printJson({
        file,
        config: resolved,
        host: { name: host.name, systemFeatures: features },
        caches: here,
        warnings,
      });
    } else {
      process.stdout.write(`# ${file}: valid; resolved with defaults:\n${stringify(resolved)}`);
      const known = features
        ? `Nix system features: ${features.join(" ") || "none"}${host.featuresUnknown ? ` (not read: ${host.featuresUnknown})` : ""}`
        : "no cache names systemFeatures";
      process.stdout.write(`# this host: ${host.name} (${known})\n`);
      for (const c of here) {
        process.stdout.write(
          `#   ${c.cache}: ${c.takesThisHost ? "takes its generations (of the systems it lists)" : `not for this host: ${c.why}`}\n`,
        );
      }
    }
    return ExitCode.ok;
  } finally {
    await closeContext(ctx);
  }
}

/** A profile link that is not there yet: fine before its first switch, a typo after it. */
async function missingProfiles(profiles: readonly ProfileConfig[]): Promise<string[]> {
  const missing = await Promise.all(
    profiles.map(async (profile) => {
      try {
        await lstat(profile.path);
        return undefined;
      } catch {
        return `profile ${profile.name}: ${profile.path} does not exist yet (it appears with its first switch; if one already happened, check the path)`;
      }
    }),
  );
  return missing.filter((warning) => warning !== undefined);
}
