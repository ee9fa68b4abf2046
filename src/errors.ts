/**
 * One error type for everything a user should read: a message, an optional
 * hint for what to do next, and the exit code the CLI maps it to. Only
 * `cli.ts` turns these into exit codes.
 */
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

/** The user-facing shape of any error: message and hint, never a stack. */
export function describeError(error: unknown): { message: string; hint?: string } {
  if (error instanceof GenpushError) {
    return error.hint === undefined ? { message: error.message } : { message: error.message, hint: error.hint };
  }
  if (error instanceof Error) return { message: error.message };
  return { message: String(error) };
}
