/**
 * Logging through pino, rendered for whoever reads it:
 * - journal: one sentence per line with a `<N>` syslog-priority prefix, so
 *   `journalctl -p err` shows exactly the failures (chosen when systemd
 *   connected stderr to the journal: JOURNAL_STREAM matches stderr);
 * - json: pino's own JSON lines, for machines;
 * - pretty: plain sentences for a terminal.
 * Logs always go to stderr: stdout is for results (and `--json`).
 */
import { fstatSync } from "node:fs";
import pino, { type Logger } from "pino";

export const LOG_FORMATS = ["auto", "journal", "json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export type { Logger };

/** syslog priorities for pino's levels (sd-daemon.h). */
const PRIORITY: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };
const LABEL: Record<number, string> = { 40: "warning: ", 50: "error: ", 60: "fatal: " };

export function resolveLogFormat(format: LogFormat, env = process.env): Exclude<LogFormat, "auto"> {
  if (format !== "auto") return format;
  return stderrIsJournal(env.JOURNAL_STREAM) ? "journal" : "pretty";
}

/** systemd sets JOURNAL_STREAM to `DEV:INODE` of the stream it connected. */
function stderrIsJournal(journalStream: string | undefined): boolean {
  if (!journalStream) return false;
  try {
    const { dev, ino } = fstatSync(2);
    return journalStream === `${dev}:${ino}`;
  } catch {
    return false;
  }
}

export function createLogger(format: Exclude<LogFormat, "auto">, verbose: boolean): Logger {
  const level = verbose ? "debug" : "info";
  if (format === "json") return pino({ level, base: null }, pino.destination({ fd: 2, sync: true }));
  return pino({ level, base: null }, { write: (line: string) => process.stderr.write(renderLine(format, line)) });
}

/** Render one pino JSON line as a sentence; a `hint` field is appended. */
export function renderLine(format: "journal" | "pretty", line: string): string {
  const entry = JSON.parse(line) as { level: number; msg?: string; hint?: string; err?: { message?: string } };
  let text = entry.msg ?? entry.err?.message ?? "";
  if (entry.hint) text += format === "journal" ? ` (hint: ${entry.hint})` : `\n  hint: ${entry.hint}`;
  if (format === "journal") {
    // One journal entry per line: keep multi-line messages together.
    return `<${PRIORITY[entry.level] ?? 6}>${text.replaceAll("\n", " / ")}\n`;
  }
  return `${LABEL[entry.level] ?? ""}${text}\n`;
}
