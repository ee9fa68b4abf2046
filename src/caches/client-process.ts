/**
 * Running a cache's client program (`nix copy`, `attic`, `cachix`) for an
 * upload: found on PATH or at a configured path, given an argument vector
 * (never a shell) and its own environment, with any secret scrubbed from what
 * it prints before that reaches a message. A failed upload is retried unless
 * the client says the credentials were refused.
 */
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { ExecaError, execa } from "execa";
import { GenpushError } from "../errors.js";
import { lastLines } from "../process-output.js";
import { RetryableError } from "../retry.js";

const AUTH_FAILURE = /\b(401|403)\b|unauthori[sz]ed|forbidden|permission denied|invalid token/i;

/** The client's absolute path: `explicit` when configured, else the first on PATH. */
export async function findClient(program: string, explicit: string | undefined, cacheName: string, install: string) {
  const candidates = explicit
    ? [explicit]
    : (process.env.PATH ?? "")
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, program));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
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
  /** Strings scrubbed from any output quoted in an error. */
  secrets: readonly string[];
  signal?: AbortSignal;
}

export async function runClient(run: ClientRun): Promise<void> {
  try {
    await execa(run.file, run.args, {
      env: run.env,
      extendEnv: false,
      stdin: "ignore",
      ...(run.signal ? { cancelSignal: run.signal } : {}),
    });
  } catch (error) {
    if (!(error instanceof ExecaError)) throw error;
    const output = scrub(lastLines(`${error.stderr ?? ""}\n${error.stdout ?? ""}`), run.secrets);
    const message = `cache ${run.cacheName}: ${run.doing} failed: ${output || `exit code ${error.exitCode}`}`;
    if (AUTH_FAILURE.test(output)) {
      throw new GenpushError(message, { hint: "check the token file configured for this cache" });
    }
    throw new RetryableError(message);
  }
}

/** A failed `nix copy` (it ran, and did not report refused credentials) may pass on a retry. */
export function retryableUpload(error: unknown): unknown {
  if (!(error instanceof GenpushError) || !(error.cause instanceof ExecaError)) return error;
  if (error.cause.exitCode === undefined || AUTH_FAILURE.test(error.message)) return error;
  return new RetryableError(error.message);
}

export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.replaceAll(secret, "[secret]");
  return out;
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
