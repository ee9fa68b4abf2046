/**
 * One error type for everything a user should read: a message, an optional
 * hint for what to do next, and the exit code the CLI maps it to. Only
 * `cli.ts` turns these into exit codes.
 */
import { scrubSecrets } from "./secrets.js";

export const ExitCode = {
  ok: 0,
  /** A push or query failed; the work stays pending. */
  failed: 1,
  /** Bad usage or bad configuration; nothing was attempted. */
  usage: 2,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class GenpushError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: ExitCode;

  constructor(message: string, options: { hint?: string; exitCode?: ExitCode; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "GenpushError";
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? ExitCode.failed;
  }
}

/** Bad configuration or usage: exit 2. */
export class UsageError extends GenpushError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: ExitCode.usage, ...(hint === undefined ? {} : { hint }) });
    this.name = "UsageError";
  }
}

/**
 * The user-facing shape of any error: message and hint, never a stack. Every
 * error a user or the state file sees passes through here, so this is where
 * any secret quoted in it (a server echoing a credential) is scrubbed.
 */
export function describeError(error: unknown): { message: string; hint?: string } {
  if (error instanceof GenpushError) {
    const message = scrubSecrets(error.message);
    return error.hint === undefined ? { message } : { message, hint: scrubSecrets(error.hint) };
  }
  return { message: scrubSecrets(error instanceof Error ? error.message : String(error)) };
}
