/**
 * What a child process printed, made fit to quote in one log line. Secrets
 * are scrubbed first, from the whole text: cut to its last lines or its first
 * 400 characters before that, a secret could be cut in half and no longer match.
 */
import { scrubSecrets } from "./secrets.js";

// Nix colours its errors even when not on a terminal; journald would store such a line as binary.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching the escape character is the point
const ANSI_ESCAPE = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** What is quoted at most: a message, the state file and the journal have no use for more. */
const MAX_QUOTE = 400;

/**
 * The last few meaningful lines, without colour codes or Nix's warnings, joined
 * with ` / `; their end only, if longer than a quote may be (one line can be megabytes).
 */
export function lastLines(text: string, count = 3): string {
  const lines = scrubSecrets(text.replace(ANSI_ESCAPE, ""))
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("warning:"))
    .slice(-count)
    .join(" / ");
  return lines.length > MAX_QUOTE ? `...${lines.slice(3 - MAX_QUOTE)}` : lines;
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
  return summary.length > MAX_QUOTE ? `${summary.slice(0, MAX_QUOTE - 3)}...` : summary;
}
