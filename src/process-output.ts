/**
 * What a child process printed, made fit to quote in one log line. Secrets
 * are scrubbed first, from the whole text: cut to its last lines or its first
 * 400 characters before that, a secret could be cut in half and no longer match.
 */
import { scrubSecrets } from "./secrets.js";

// Nix colours its errors even when not on a terminal; journald would store such a line as binary.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching the escape character is the point
const ANSI_ESCAPE = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** The last few meaningful lines, without colour codes or Nix's warnings, joined with ` / `. */
export function lastLines(text: string, count = 3): string {
  return scrubSecrets(text.replace(ANSI_ESCAPE, ""))
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("warning:"))
    .slice(-count)
    .join(" / ");
}

/**
 * Nix's own account of a failure: its `error:` lines (the first two), else the
 * last lines — so an HTML error page a server sent back is not what we quote.
 */
export function errorSummary(text: string): string {
  const errors = scrubSecrets(text.replace(ANSI_ESCAPE, ""))
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith("error:"))
    .map((line) => line.replace(/^error:\s*/, ""))
    .filter(Boolean);
  const summary = errors.length > 0 ? errors.slice(0, 2).join(" / ") : lastLines(text);
  return summary.length > 400 ? `${summary.slice(0, 397)}...` : summary;
}
