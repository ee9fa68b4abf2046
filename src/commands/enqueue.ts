/**
 * `genpush enqueue`: record store paths in the push queue (src/push/queue.ts) and
 * return. Made to be Nix's post-build-hook, which must never make a build slow
 * or fail because of a cache: it contacts none, and builds, substitutes and
 * fetches nothing (a path not valid in the local store is bad input; a `.drv`
 * is queued as itself). What it is handed is bounded before it is looked at:
 * the number of paths, and the kind and size of a file it reads. Bad input is
 * exit 2; a queue it cannot write (a full disk) is a clear error, exit 1.
 */
import { existsSync } from "node:fs";
import { currentEnvironment, defaultConfigFile, defaultStateDir, loadConfig } from "../config/config.js";
import { invalidPaths } from "../nix/cli.js";
import { type Derivation, MAX_DRV_BYTES, readDerivation } from "../nix/derivation.js";
import { isStorePath, type StorePath, storePathArgument } from "../nix/store-path.js";
import { ENTRY_PATHS_LIMIT, enqueue } from "../push/queue.js";
import { FileRefused, readBounded } from "../runtime/bounded-read.js";
import { ExitCode, UsageError } from "../runtime/errors.js";
import { formatBytes, plural } from "../runtime/format.js";
import { type GlobalOptions, makeLogger } from "./context.js";

export interface EnqueueOptions {
  paths: string[];
  stdin: boolean;
  hydraJson?: string;
}

/** A Hydra RunCommand event file holds far less: its outputs and products. */
const MAX_HYDRA_JSON_BYTES = 16 * 1024 * 1024;
/** Paths read from standard input at most (one entry). */
const MAX_STDIN_BYTES = ENTRY_PATHS_LIMIT * 256;

interface Request {
  paths: string[];
  system: string | null;
  drv: string | null;
  /** Where the paths came from, for messages. */
  from: string;
}

export async function enqueueCommand(globals: GlobalOptions, options: EnqueueOptions): Promise<ExitCode> {
  const { log, journal } = makeLogger(globals);
  const request = await gather(options);
  if (request === "failed build") {
    log.info("the Hydra build failed: nothing to queue");
    return ExitCode.ok;
  }
  // Counted before anything is resolved: a flood of paths costs no more than the refusal.
  const given = [...new Set(request.paths)];
  if (given.length > ENTRY_PATHS_LIMIT) {
    throw new UsageError(
      `at most ${ENTRY_PATHS_LIMIT} paths at once, got ${given.length} from ${request.from}`,
      "enqueue them in several calls",
    );
  }
  const drv = request.drv && isStorePath(request.drv) ? request.drv : null;
  const derivation = drv ? await derivationOf(drv, request.from) : undefined;
  if (given.length === 0) {
    // Nix 2.8 runs post-build-hook with OUT_PATHS empty: the derivation names its outputs.
    given.push(...(derivation?.outputs ?? []));
    if (given.length === 0) {
      throw new UsageError(
        `nothing to queue: OUT_PATHS is empty and ${request.drv ?? "DRV_PATH"} names no output path genpush can read`,
        "give the store paths (`genpush enqueue /nix/store/...`)",
      );
    }
  }
  const paths = await checkPaths(given, request.from);
  const system = request.system ?? derivation?.system ?? null;
  const stateDir = await queueStateDir(globals);
  const id = await enqueue(stateDir, { paths, system, drv });
  const line = `queued ${plural(paths.length, "path")} for the next push (${id} in ${stateDir}/queue)`;
  if (journal) log.info(line);
  else process.stderr.write(`${line}\n`);
  return ExitCode.ok;
}

/**
 * The state directory from the configuration; without one (none named, none at the default
 * place) the default: a post-build hook installed before genpush is configured still queues.
 */
async function queueStateDir(globals: GlobalOptions): Promise<string> {
  const environment = currentEnvironment();
  const named = globals.config !== undefined || Boolean(environment.env.GENPUSH_CONFIG);
  const file = globals.config ?? defaultConfigFile(environment);
  if (!named && !existsSync(file)) return defaultStateDir(environment);
  return (await loadConfig(file, environment, { secrets: false, named })).stateDir;
}

async function gather(options: EnqueueOptions): Promise<Request | "failed build"> {
  const sources = [options.paths.length > 0, options.stdin, options.hydraJson !== undefined].filter(Boolean).length;
  if (sources > 1) throw new UsageError("give store paths, --stdin or --hydra-json, one of them");
  if (options.hydraJson !== undefined) return hydraOutputs(options.hydraJson);
  if (options.stdin) {
    const text = await readStdin();
    return { paths: lines(text), system: null, drv: null, from: "standard input" };
  }
  if (options.paths.length > 0) return { paths: options.paths, system: null, drv: null, from: "the command line" };
  const outPaths = process.env.OUT_PATHS?.trim() ?? "";
  const drv = process.env.DRV_PATH?.trim() || null;
  if (!outPaths && !drv) {
    throw new UsageError(
      "nothing to queue: no store paths given, and neither OUT_PATHS nor DRV_PATH is set",
      "give store paths (`genpush enqueue /nix/store/...`), --stdin or --hydra-json FILE, or run it as Nix's post-build-hook, which sets them",
    );
  }
  return { paths: outPaths ? outPaths.split(/\s+/) : [], system: null, drv, from: outPaths ? "OUT_PATHS" : "DRV_PATH" };
}

function lines(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_STDIN_BYTES) {
      throw new UsageError(
        `more than ${ENTRY_PATHS_LIMIT} paths' worth on standard input`,
        "enqueue them in several calls",
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** `outputs[].path` of a Hydra RunCommand event, with its `system` and `drvPath`; a failed build has none. */
async function hydraOutputs(file: string): Promise<Request | "failed build"> {
  let text: string;
  try {
    text = (await readBounded(file, { maxBytes: MAX_HYDRA_JSON_BYTES })).toString("utf8");
  } catch (error) {
    if (!(error instanceof FileRefused)) throw error;
    throw new UsageError(
      `the Hydra event ${error.message}: not read`,
      'Hydra gives RunCommand its event in $HYDRA_JSON: `genpush enqueue --hydra-json "$HYDRA_JSON"`',
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new UsageError(`${file} is not JSON: not a Hydra RunCommand event`);
  }
  const event = (typeof data === "object" && data !== null ? data : {}) as Record<string, unknown>;
  if (typeof event.buildStatus === "number" && event.buildStatus !== 0) return "failed build";
  const outputs = Array.isArray(event.outputs) ? event.outputs : undefined;
  const paths = outputs?.map((o) => (typeof o === "object" && o !== null ? (o as { path?: unknown }).path : undefined));
  if (!paths || paths.length === 0 || !paths.every((p): p is string => typeof p === "string")) {
    throw new UsageError(
      `${file} has no \`outputs\` with a \`path\` each: not a Hydra RunCommand event`,
      'Hydra gives RunCommand its event in $HYDRA_JSON: `genpush enqueue --hydra-json "$HYDRA_JSON"`',
    );
  }
  return {
    paths,
    system: typeof event.system === "string" ? event.system : null,
    drv: typeof event.drvPath === "string" ? event.drvPath : null,
    from: file,
  };
}

/**
 * Store paths, each valid in the local store (asked of its database alone); anything else is bad
 * input (exit 2). A `.drv` is itself: it is queued, not built.
 */
async function checkPaths(given: readonly string[], from: string): Promise<StorePath[]> {
  const paths: StorePath[] = [];
  for (const path of given) paths.push(await storePathArgument(path, from));
  const unique = [...new Set(paths)];
  const invalid = await invalidPaths(unique);
  if (invalid.length > 0) {
    throw new UsageError(
      `not in the local store: ${invalid.slice(0, 3).join(", ")}${invalid.length > 3 ? ` and ${invalid.length - 3} more` : ""} (from ${from})`,
      "genpush enqueue never builds, substitutes or fetches: give paths that were built (`nix build --print-out-paths` prints them)",
    );
  }
  return unique;
}

/** `$DRV_PATH`'s derivation (or Hydra's `drvPath`): undefined if it is gone; exit 2 if it is no file to read. */
async function derivationOf(drv: StorePath, from: string): Promise<Derivation | undefined> {
  try {
    return await readDerivation(drv);
  } catch (error) {
    if (!(error instanceof FileRefused)) throw error;
    throw new UsageError(
      `the derivation ${drv} (from ${from === "OUT_PATHS" ? "DRV_PATH" : from}) ${error.reason}: not read`,
      `a derivation is a regular file of at most ${formatBytes(MAX_DRV_BYTES)} in the store; give the store paths to queue (\`genpush enqueue /nix/store/...\`)`,
    );
  }
}
