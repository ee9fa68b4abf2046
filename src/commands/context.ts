/**
 * What every command starts from: the global options, the configuration, a
 * logger, and the caches opened once.
 */
import { type Cache, openCache } from "../caches/index.js";
import {
  type Config,
  currentEnvironment,
  defaultConfigFile,
  type LoadOptions,
  loadConfig,
  type ProfileConfig,
} from "../config.js";
import { UsageError } from "../errors.js";
import { createLogger, type LogFormat, type Logger, resolveLogFormat } from "../log.js";

export interface GlobalOptions {
  config?: string;
  logFormat: LogFormat;
  verbose: boolean;
}

export interface Context {
  config: Config;
  log: Logger;
  /** Where human-readable results go: stdout on a terminal, the logger under journald. */
  journal: boolean;
  caches: Map<string, Cache>;
}

export function makeLogger(options: GlobalOptions): { log: Logger; journal: boolean } {
  const format = resolveLogFormat(options.logFormat);
  return { log: createLogger(format, options.verbose), journal: format === "journal" };
}

export async function openContext(options: GlobalOptions, load: LoadOptions = {}): Promise<Context> {
  const { log, journal } = makeLogger(options);
  const config = await loadConfig(
    options.config ?? defaultConfigFile(currentEnvironment()),
    currentEnvironment(),
    load,
  );
  log.debug(`configuration from ${config.file}`);
  for (const warning of config.warnings) log.warn(`${config.file}: ${warning}`);
  const onRetry = (message: string) => log.warn(message);
  const caches = new Map(config.caches.map((cache) => [cache.name, openCache(cache, { onRetry })]));
  return { config, log, journal, caches };
}

export function closeContext(ctx: Context): void {
  for (const cache of ctx.caches.values()) cache.close();
}

/** The profiles named on the command line, or all configured ones. */
export function selectProfiles(config: Config, names: readonly string[]): ProfileConfig[] {
  if (names.length === 0) return config.profiles;
  return names.map((name) => {
    const profile = config.profiles.find((p) => p.name === name);
    if (!profile) {
      throw new UsageError(
        `no profile named \`${name}\` in ${config.file}`,
        `configured profiles: ${config.profiles.map((p) => p.name).join(", ") || "none"}`,
      );
    }
    return profile;
  });
}

/** Print one JSON document on stdout, and nothing else. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
