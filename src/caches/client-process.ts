/**
 * Running a cache's client program (`nix copy`, `attic`, `cachix`) for an
 * upload: found on PATH or at a configured path, given an argument vector
 * (never a shell) and its own environment; what it prints is quoted with every
 * secret genpush has read scrubbed (src/runtime/secrets.ts). A failed upload is
 * retried unless the client says the credentials were refused.
 */
import { boundedRun, CHILD_BOUNDS, NixCommandFailed, runLimitSeconds } from "../nix/cli.js";
import type { PathInfo } from "../nix/path-info.js";
import type { StorePath } from "../nix/store-path.js";
import { uploadAllowanceMs } from "../runtime/bounds.js";
import { GenpushError } from "../runtime/errors.js";
import { findExecutable } from "../runtime/executable.js";
import { formatBytes } from "../runtime/format.js";
import { lastLines } from "../runtime/process-output.js";
import { RetryableError, type RetryOptions, withRetry } from "../runtime/retry.js";
import type { PushProgress } from "./types.js";

const AUTH_FAILURE =
  /\b(401|403)\b|unauthori[sz]ed|forbidden|permission denied|invalid token|don't have access|does not appear to be a binary cache/i;
/** A client error that another try will not change: refused credentials, or an HTTP 4xx other than 408/429. */
function permanent(output: string): boolean {
  const status = /HTTP error (\d{3})/.exec(output)?.[1];
  return AUTH_FAILURE.test(output) || (status?.startsWith("4") === true && status !== "408" && status !== "429");
}

/** The client's absolute path: `explicit` when configured, else the first on PATH. */
export async function findClient(program: string, explicit: string | undefined, cacheName: string, install: string) {
  const found = await findExecutable(program, explicit);
  if (found) return found;
  throw new GenpushError(
    `cache ${cacheName}: the ${program} client is not installed (${explicit ? `no executable ${explicit}` : `no \`${program}\` on PATH`})`,
    { hint: `install it (${install}), or set ${program}Path for this cache` },
  );
}

export interface ClientRun {
  file: string;
  args: string[];
  /** The child's whole environment: nothing else is inherited. */
  env: NodeJS.ProcessEnv;
  cacheName: string;
  doing: string;
  /** The cache's timeoutSeconds: with the run's paths and bytes, its time limit (runLimitSeconds). */
  timeoutSeconds: number;
  signal?: AbortSignal;
}

/**
 * Upload `paths` with a client, in chunks (argv stays small, progress moves),
 * each chunk one retried run of `chunkRun(chunk)`.
 */
export async function uploadInChunks(
  paths: readonly PathInfo[],
  chunkSize: number,
  events: PushProgress,
  retry: RetryOptions,
  chunkRun: (chunk: StorePath[]) => ClientRun,
): Promise<void> {
  let bytesDone = 0;
  for (let done = 0; done < paths.length; ) {
    const chunk = paths.slice(done, done + chunkSize);
    const narBytes = chunk.reduce((sum, info) => sum + info.narSize, 0);
    const run = chunkRun(chunk.map((info) => info.path));
    const limitSeconds = runLimitSeconds(run.timeoutSeconds, chunk.length, narBytes);
    // The budget allows for the bytes, as for nix copy's; the run is not given the try's signal,
    // so a stuck run ends at its own limit, which says why.
    await withRetry(() => runClient(run, limitSeconds), { ...retry, extraMs: uploadAllowanceMs(narBytes) });
    done += chunk.length;
    bytesDone += narBytes;
    events.onProgress?.(done, paths.length, bytesDone);
  }
}

/** One run of a client, stopped after `limitSeconds` or once it has printed too much (CHILD_BOUNDS). */
export async function runClient(run: ClientRun, limitSeconds: number): Promise<void> {
  const { ExecaError, execa } = await import("execa");
  try {
    await execa(run.file, run.args, {
      env: run.env,
      extendEnv: false,
      stdin: "ignore",
      ...boundedRun(limitSeconds),
      ...(run.signal ? { cancelSignal: run.signal } : {}),
    });
  } catch (error) {
    if (!(error instanceof ExecaError)) throw error;
    const output = lastLines(`${error.stderr ?? ""}\n${error.stdout ?? ""}`);
    const where = `cache ${run.cacheName}: ${run.doing}`;
    if (error.timedOut) {
      throw new RetryableError(`${where} did not finish within ${limitSeconds} s${output ? `: ${output}` : ""}`);
    }
    if (error.isMaxBuffer) {
      const limit = formatBytes(CHILD_BOUNDS.outputBytes);
      throw new GenpushError(`${where} printed more than ${limit} and was stopped${output ? `: ${output}` : ""}`, {
        hint: "another try would print as much again; run the client by hand to see what it says",
      });
    }
    const message = `${where} failed: ${output || `exit code ${error.exitCode}`}`;
    if (permanent(output)) {
      throw new GenpushError(message, { hint: "check the token file configured for this cache" });
    }
    throw new RetryableError(message);
  }
}

/** What Nix says when a store that requires signatures (a local store, a daemon) refuses a path. */
export const UNSIGNED = /lacks a valid signature/;
const UNSIGNED_HINT =
  "the store takes only paths signed by a key it trusts (trusted-public-keys); a binary cache (http://, file:///dir) takes unsigned paths";

/**
 * A failed `nix` run for cache `cacheName`, named after the cache: retryable
 * when it ran and failed in a way another try may not repeat.
 */
export function nixFailure(error: unknown, cacheName: string): unknown {
  if (!(error instanceof GenpushError)) return error;
  // A run stopped at its time limit.
  if (error instanceof RetryableError) return new RetryableError(`cache ${cacheName}: ${error.message}`);
  // Nix says only this when the server refused it nix-cache-info (401/403) or has none (404).
  const unreadable = /does not appear to be a binary cache/.test(error.message)
    ? " (Nix could not read its nix-cache-info: a wrong URL, or credentials refused)"
    : "";
  const message = `cache ${cacheName}: ${error.message}${unreadable}`;
  // A store that takes only signed paths refused one: another try sends the same path, unsigned.
  if (UNSIGNED.test(error.message)) return new GenpushError(message, { hint: UNSIGNED_HINT, cause: error });
  const ran = error instanceof NixCommandFailed;
  if (ran && !permanent(error.message)) return new RetryableError(message);
  return new GenpushError(message, {
    hint: permanent(error.message)
      ? "check the store URI and the credentials Nix uses for it (netrc-file in nix.conf)"
      : error.hint,
    cause: error,
  });
}

/** The environment a client needs from ours: PATH, locale, HOME, Nix's settings — nothing secret. */
export function baseEnvironment(): NodeJS.ProcessEnv {
  const keep = [
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "NIX_REMOTE",
    "NIX_CONFIG",
    "NIX_PATH",
    "XDG_CACHE_HOME",
    "SSL_CERT_FILE",
    "NIX_SSL_CERT_FILE",
  ];
  return Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
}
