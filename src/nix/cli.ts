/**
 * src/nix/: Nix itself, and nothing of genpush's configuration: its CLI
 * (here), `nix path-info`'s shapes, closures, NARs, base-32 and hashes, signing
 * keys, store paths, derivations, systems and GC roots.
 *
 * The nix CLI, run through execa with argument vectors (never a shell). Every
 * store path passed here is a parsed StorePath, and every list ends after
 * `--`, so no value can be taken for an option.
 */
import { createInterface } from "node:readline";
import { MIN_UPLOAD_BYTES_PER_SECOND } from "../runtime/bounds.js";
import { GenpushError } from "../runtime/errors.js";
import { formatBytes } from "../runtime/format.js";
import { heapBound } from "../runtime/heap.js";
import { errorSummary } from "../runtime/process-output.js";
import { BUDGET_PER_TIMEOUT, RetryableError } from "../runtime/retry.js";
import { type PathInfoResult, parsePathInfoJson } from "./path-info.js";
import { isDerivationPath, parseStorePath, type StorePath } from "./store-path.js";

const NEW_CLI = ["--extra-experimental-features", "nix-command"];
/** Keep argv far below the kernel's limits (ARG_MAX, MAX_ARG_STRLEN). */
const ARGV_CHUNK = 2000;
/** Nix's own stalled-download-timeout, for a store asked without a cache's timeoutSeconds. */
const NIX_TIMEOUT_SECONDS = 300;

/**
 * The bounds of every child process that waits on a cache (`nix copy`,
 * `nix-store --store URI`, attic, cachix). Nix's time-outs (connect-timeout,
 * stalled-download-timeout) and the clients' own end a connection with no byte
 * moving, but not one a server keeps alive a byte at a time (a PUT answered a
 * byte at a time held `nix copy` with stalled-download-timeout 1 until it was
 * killed), nor a client stuck by itself. `nix copy` is ended by the signal its
 * caller gives it: the try's, which the operation's retry budget (src/runtime/retry.ts)
 * aborts. Every other such run is stopped at a wall-clock limit of its own that
 * no working run reaches, made of
 * - an operation's budget and one more request time-out: `BUDGET_PER_TIMEOUT`
 *   + 1 times the cache's timeoutSeconds (150 s at the default 30 s), for
 *   starting, connecting and the requests any run makes; a cache set to give
 *   up fast is given up on fast;
 * - a round trip per path: `nix-store --check-validity` asks one path after another;
 * - the NAR bytes at MIN_UPLOAD_BYTES_PER_SECOND (src/runtime/bounds.ts).
 * What any of them prints is kept up to `outputBytes`: far more than an honest
 * run prints (a line per path), far less than would strain memory.
 */
export const CHILD_BOUNDS = {
  timeouts: BUDGET_PER_TIMEOUT + 1,
  secondsPerPath: 0.1,
  outputBytes: 16 * 1024 * 1024,
  /** SIGTERM first, so Nix can remove its temporary files and release its locks; SIGKILL this long after. */
  forceKillAfterMs: 5_000,
} as const;

/** The wall-clock limit of one run that asks about or uploads `paths` paths of `narBytes` NAR bytes. */
export function runLimitSeconds(timeoutSeconds: number, paths: number, narBytes = 0): number {
  const { timeouts, secondsPerPath } = CHILD_BOUNDS;
  return Math.ceil(timeouts * timeoutSeconds + paths * secondsPerPath + narBytes / MIN_UPLOAD_BYTES_PER_SECOND);
}

/** execa's options for a run that waits on a cache: its output capped, and stopped after `limitSeconds` if given. */
export function boundedRun(limitSeconds?: number) {
  return {
    maxBuffer: CHILD_BOUNDS.outputBytes,
    ...(limitSeconds === undefined
      ? {}
      : { timeout: limitSeconds * 1000, forceKillAfterDelay: CHILD_BOUNDS.forceKillAfterMs }),
  };
}

interface RunOptions {
  signal?: AbortSignal;
  /** Say what was being done, for the error message. */
  doing: string;
  /** Each line nix prints on stderr, as it prints it. */
  onStderrLine?: (line: string) => void;
  /** A run that waits on a cache: bounded as boundedRun() says. */
  network?: { limitSeconds?: number };
}

/** A nix command that ran and failed (as opposed to one that could not start). */
export class NixCommandFailed extends GenpushError {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = "NixCommandFailed";
  }
}

async function run(file: string, args: string[], options: RunOptions): Promise<string> {
  const { signal, doing, onStderrLine, network } = options;
  // Loaded on first use: a trigger with nothing new runs no command, and starts faster without it.
  const { ExecaError, execa } = await import("execa");
  try {
    const subprocess = execa(file, args, {
      stdin: "ignore",
      // path-info's JSON of a large closure.
      maxBuffer: 512 * 1024 * 1024,
      ...(network ? boundedRun(network.limitSeconds) : {}),
      ...(signal ? { cancelSignal: signal } : {}),
    });
    if (onStderrLine && subprocess.stderr) createInterface({ input: subprocess.stderr }).on("line", onStderrLine);
    const result = await subprocess;
    return result.stdout;
  } catch (error) {
    if (error instanceof ExecaError) {
      if (error.code === "ENOENT") {
        throw new GenpushError(`cannot run \`${file}\` while ${doing}: it is not on PATH`, {
          hint: "install Nix, or run genpush where `nix` is on PATH (the NixOS module does this)",
        });
      }
      if (error.isCanceled) {
        // Stopped by a bound of genpush's own (an operation's budget, the run's limit, a stop):
        // say which; retryable, as a try the budget cut short is for the retry policy to judge.
        const reason: unknown = signal?.reason;
        throw reason instanceof GenpushError
          ? new RetryableError(`${doing}: ${reason.message}`)
          : new GenpushError(`${doing}: cancelled`);
      }
      const said = errorSummary(String(error.stderr ?? ""));
      if (error.timedOut) {
        throw new RetryableError(`${doing} did not finish within ${network?.limitSeconds} s${said ? `: ${said}` : ""}`);
      }
      if (error.isMaxBuffer) {
        throw new NixCommandFailed(
          `${doing}: nix printed more than ${formatBytes(CHILD_BOUNDS.outputBytes)}; stopped it`,
          error,
        );
      }
      throw new NixCommandFailed(`${doing} failed: ${said || "no error output"}`, error);
    }
    throw error;
  }
}

/** `paths` cut where they change from `.drv` to other paths or back, in their order. */
function runsOfKind(paths: readonly StorePath[]): StorePath[][] {
  const runs: StorePath[][] = [];
  for (const path of paths) {
    const last = runs.at(-1);
    if (last && isDerivationPath(last[0] as StorePath) === isDerivationPath(path)) last.push(path);
    else runs.push([path]);
  }
  return runs;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The runtime closure of `paths` in the local store, with sizes, references and signatures.
 * A `.drv` is itself (its closure: the derivations and sources it names), never its outputs:
 * Nix 2.8's new CLI takes a bare `.drv` for its outputs (built, or asked of the substituters
 * when they are not valid), newer Nix for itself, and both take it for itself with
 * `--derivation`, which would take any other path for its deriver: so the two kinds are asked
 * apart.
 */
export async function queryClosure(paths: readonly StorePath[], signal?: AbortSignal): Promise<PathInfoResult> {
  const result: PathInfoResult = { infos: [], invalid: [] };
  const drvs = paths.filter(isDerivationPath);
  const others = paths.filter((path) => !isDerivationPath(path));
  for (const [kind, group] of [
    [[], others],
    [["--derivation"], drvs],
  ] as const) {
    if (group.length === 0) continue;
    const stdout = await run("nix", [...NEW_CLI, "path-info", ...kind, "--recursive", "--json", "--", ...group], {
      doing: `reading the closure of ${group[0]}${group.length > 1 ? ` and ${group.length - 1} more` : ""}`,
      ...(signal ? { signal } : {}),
    });
    const part = parsePathInfoJson(stdout);
    heapBound.closureRead(part.infos.map((info) => info.path));
    result.infos.push(...part.infos);
    result.invalid.push(...part.invalid);
  }
  return result;
}

/**
 * Which of `paths` a store lacks: the local store when `storeUri` is omitted.
 * Nix's narinfo disk cache keeps positive answers for 30 days (nix#6056), so a
 * remote store is asked with that cache turned off.
 */
export async function invalidPaths(
  paths: readonly StorePath[],
  storeUri?: string,
  signal?: AbortSignal,
  timeoutSeconds?: number,
): Promise<StorePath[]> {
  const store = storeUri
    ? ["--store", storeUri, "--option", "narinfo-cache-positive-ttl", "0", ...networkTimeouts(timeoutSeconds)]
    : [];
  const invalid: StorePath[] = [];
  for (const chunk of chunks(paths, ARGV_CHUNK)) {
    const stdout = await run("nix-store", [...store, "--check-validity", "--print-invalid", "--", ...chunk], {
      doing: storeUri ? `asking ${storeUri} which paths it lacks` : "checking which paths are in the local store",
      ...(signal ? { signal } : {}),
      ...(storeUri
        ? { network: { limitSeconds: runLimitSeconds(timeoutSeconds ?? NIX_TIMEOUT_SECONDS, chunk.length) } }
        : {}),
    });
    for (const line of stdout.split("\n")) if (line) invalid.push(parseStorePath(line, "nix-store output"));
  }
  return invalid;
}

export interface CopyOptions {
  /** The try's signal of a retry budget: the only end of a `nix copy` a server keeps alive (CHILD_BOUNDS). */
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** Connecting, and a transfer with no byte moving, give up after this (Nix's own default: 300 s). */
  timeoutSeconds?: number;
}

function networkTimeouts(seconds: number | undefined): string[] {
  if (seconds === undefined) return [];
  return ["--option", "connect-timeout", String(seconds), "--option", "stalled-download-timeout", String(seconds)];
}

/**
 * Copy exactly `paths` (already ordered dependencies first) to `storeUri`.
 * `--no-recursive`: the caller has asked the cache which paths it lacks, so
 * nix must not walk (and re-query) the whole closure.
 *
 * `nix copy` skips a path its narinfo disk cache believes the cache has, for
 * 30 days (nix#6056) — so a path the cache lost would be "copied" without a
 * byte sent. Asking first with positive answers distrusted records each
 * missing path as missing in that disk cache (Nix writes negative answers
 * back), and `nix copy` then uploads it, while still trusting what it knows
 * of the references.
 */
export async function copyPaths(
  paths: readonly StorePath[],
  storeUri: string,
  uploadUri: string,
  options: CopyOptions = {},
) {
  let processed = 0;
  for (const chunk of chunks(paths, ARGV_CHUNK)) {
    const missing = await invalidPaths(chunk, storeUri, options.signal, options.timeoutSeconds);
    let done = processed + chunk.length - missing.length;
    if (missing.length > 0) {
      // Negative answers are not trusted either: a path uploaded since Nix last asked
      // (by another run, or by one killed before Nix recorded it) must not block its dependants.
      const settings = ["--option", "narinfo-cache-negative-ttl", "0", ...networkTimeouts(options.timeoutSeconds)];
      // `.drv` paths are copied as themselves (`--derivation`, as queryClosure says why), in runs
      // that keep the order: dependencies first.
      for (const group of runsOfKind(missing)) {
        const kind = isDerivationPath(group[0] as StorePath) ? ["--derivation"] : [];
        await run(
          "nix",
          [...NEW_CLI, "copy", ...settings, ...kind, "--no-recursive", "--to", uploadUri, "--", ...group],
          {
            doing: `uploading ${group.length} paths to ${redactStoreUri(storeUri)}`,
            ...(options.signal ? { signal: options.signal } : {}),
            // Its time bound is options.signal (CHILD_BOUNDS).
            network: {},
            // nix prints "copying path '/nix/store/...' to '...'" as it starts each path.
            onStderrLine: (line) => {
              if (line.startsWith("copying path ")) options.onProgress?.(++done, paths.length);
            },
          },
        );
      }
    }
    processed += chunk.length;
    options.onProgress?.(processed, paths.length);
  }
}

/**
 * Make `link` a symlink to `paths[0]` registered as an indirect GC root (through
 * nix-daemon when the store is reached that way), replacing any older link;
 * further paths get `link-2`, `link-3`, ... (one nix-store run for them all).
 * The paths must be valid: this builds, substitutes and fetches nothing. A path
 * no longer valid (collected since it was checked) is an error: `nix-store --realise`
 * is run with no substituters, and a `.drv`, which it would build, is held by
 * `nix-instantiate` instead (`import` of a valid `.drv` is the derivation itself,
 * read from the store, nothing evaluated or built), its links named `link-drv...`.
 */
export async function addIndirectRoots(link: string, paths: readonly StorePath[]): Promise<void> {
  const others = paths.filter((path) => !isDerivationPath(path));
  for (const [n, chunk] of chunks(others, ARGV_CHUNK).entries()) {
    await run(
      "nix-store",
      ["--realise", ...NO_SUBSTITUTERS, "--add-root", chunkLink(link, n), "--indirect", "--", ...chunk],
      {
        doing: holding(chunk),
      },
    );
  }
  // The expression is one argument, at most 128 KiB (MAX_ARG_STRLEN): 400 paths of at most 256 bytes.
  for (const [n, chunk] of chunks(paths.filter(isDerivationPath), 400).entries()) {
    // Store paths hold no character a Nix string would take for more than itself (store-path.ts).
    const expr = `map (drv: import (/. + drv)) [ ${chunk.map((path) => `"${path}"`).join(" ")} ]`;
    await run("nix-instantiate", ["--add-root", chunkLink(`${link}-drv`, n), "--indirect", "--expr", expr], {
      doing: holding(chunk),
    });
  }
}

/** No substituter: nothing asked of a cache. */
const NO_SUBSTITUTERS = ["--option", "substituters", ""];

/** nix-store and nix-instantiate number the links of one run from its first: later runs get links of their own. */
function chunkLink(link: string, n: number): string {
  return n === 0 ? link : `${link}-c${n}`;
}

function holding(paths: readonly StorePath[]): string {
  return `holding ${paths[0]}${paths.length > 1 ? ` and ${paths.length - 1} more` : ""} against garbage collection`;
}

let settingsCache: Promise<Map<string, string>> | undefined;

/** One of Nix's settings as this user's Nix sees it (nix.conf, NIX_CONFIG), or undefined. */
export async function nixSetting(name: string): Promise<string | undefined> {
  settingsCache ??= run("nix", [...NEW_CLI, "show-config"], { doing: "reading Nix's settings" }).then((stdout) => {
    const settings = new Map<string, string>();
    for (const line of stdout.split("\n")) {
      const match = /^(\S+) = (.*)$/.exec(line);
      if (match) settings.set(match[1] as string, match[2] as string);
    }
    return settings;
  });
  return (await settingsCache).get(name);
}

let hostSystemCache: Promise<string> | undefined;

/** The host's Nix system (`builtins.currentSystem`), e.g. x86_64-linux. */
export function hostSystem(): Promise<string> {
  hostSystemCache ??= run("nix-instantiate", ["--eval", "--json", "--expr", "builtins.currentSystem"], {
    doing: "asking Nix for the host's system",
  }).then((stdout) => JSON.parse(stdout) as string);
  return hostSystemCache;
}

/** A store URI as it may appear in messages: query parameters other than known-harmless ones hidden. */
export function redactStoreUri(uri: string): string {
  const q = uri.indexOf("?");
  if (q < 0) return uri;
  const params = [...new URLSearchParams(uri.slice(q + 1))].map(([key, value]) =>
    /^(compression|parallel-compression|priority|want-mass-query|secret-key)$/.test(key)
      ? `${key}=${value}`
      : `${key}=…`,
  );
  return `${uri.slice(0, q)}?${params.join("&")}`;
}
