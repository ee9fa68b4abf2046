/**
 * src/commands/: one file per subcommand, called by program.ts; this one holds
 * what they all start from.
 *
 * What every command starts from: the global options, the configuration, a
 * logger, and the caches, each opened once when first needed.
 */
import type { Cache } from "../caches/index.js";
import type { CommandLineConfig } from "../config/command-line.js";
import {
  type CacheConfig,
  type Config,
  currentEnvironment,
  defaultConfigFile,
  type LoadOptions,
  loadConfig,
  type ProfileConfig,
} from "../config/config.js";
import { UsageError } from "../runtime/errors.js";
import { createLogger, type LogFormat, type Logger, resolveLogFormat } from "../runtime/log.js";

export interface GlobalOptions {
  config?: string;
  logFormat: LogFormat;
  verbose: boolean;
  /** The run's bound: aborts at its time limit or on SIGTERM/SIGINT (src/runtime/run.ts). */
  signal?: AbortSignal;
}

export interface Context {
  config: Config;
  log: Logger;
  /** The run's bound: pass it to everything that waits. */
  signal: AbortSignal | undefined;
  /** Where human-readable results go: stdout on a terminal, the logger under journald. */
  journal: boolean;
  /**
   * The configured cache, opened on first use: its backend (HTTP, crypto,
   * compression) is loaded only then, so a trigger with nothing new never is.
   */
  cache(config: CacheConfig): Promise<Cache>;
  /** Caches opened so far, to close. */
  opened: Map<string, Promise<Cache>>;
}

export function makeLogger(options: GlobalOptions): { log: Logger; journal: boolean } {
  const format = resolveLogFormat(options.logFormat);
  return { log: createLogger(format, options.verbose), journal: format === "journal" };
}

export async function openContext(options: GlobalOptions, load: LoadOptions = {}): Promise<Context> {
  const { log, journal } = makeLogger(options);
  const environment = currentEnvironment();
  const named = options.config !== undefined || Boolean(environment.env.GENPUSH_CONFIG);
  const config = await loadConfig(options.config ?? defaultConfigFile(environment), environment, {
    ...load,
    named,
  });
  log.debug(`configuration from ${config.file}`);
  for (const warning of config.warnings) log.warn(`${config.file}: ${warning}`);
  const opened = new Map<string, Promise<Cache>>();
  const cache = (cacheConfig: CacheConfig): Promise<Cache> => {
    let open = opened.get(cacheConfig.name);
    if (!open) {
      const onRetry = retryReporter(log);
      const onRefused = (message: string) =>
        log.warn({ hint: "`genpush verify --repair` uploads the path again, over that narinfo" }, message);
      open = import("../caches/index.js").then(({ openCache }) =>
        openCache(cacheConfig, { onRetry, onRefused, onDebug: (message: string) => log.debug(message) }),
      );
      opened.set(cacheConfig.name, open);
    }
    return open;
  };
  return { config, log, journal, cache, opened, signal: options.signal };
}

/**
 * One warning per cache and retry round: when a cache is down, every request in flight fails
 * and retries at once, and a line each would bury the one thing to read.
 */
function retryReporter(log: Logger): (message: string, attempt: number) => void {
  const told = new Set<number>();
  return (message, attempt) => {
    if (told.has(attempt)) return;
    told.add(attempt);
    log.warn(message);
  };
}

export async function closeContext(ctx: Context): Promise<void> {
  for (const opened of await Promise.allSettled(ctx.opened.values()))
    if (opened.status === "fulfilled") opened.value.close();
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

/** The zero-configuration options, `--to`, `--signing-key` and `--profile-path`, as push, status, verify and diff take them. */
export interface CommandLineOptions {
  to: string[];
  signingKey?: string;
  profilePath?: string;
}

/** What the command line adds to the configuration (src/config/command-line.ts). */
export function commandLineOf(options: CommandLineOptions): CommandLineConfig {
  return {
    to: options.to,
    ...(options.signingKey ? { signingKey: options.signingKey } : {}),
    ...(options.profilePath ? { profilePath: options.profilePath } : {}),
  };
}

/** Print one JSON document on stdout, and nothing else. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
