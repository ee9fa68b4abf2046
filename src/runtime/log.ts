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
import { createRequire } from "node:module";
import type { Logger as PinoLogger } from "pino";
import { scrubSecrets } from "./secrets.js";

export const LOG_FORMATS = ["auto", "journal", "json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
type LogFn = { (message: string): void; (fields: { hint?: string | undefined }, message: string): void };

/** What genpush logs with: pino's methods, for the levels it uses. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const require = createRequire(import.meta.url);

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

/**
 * pino is loaded and set up at the first line logged: a trigger with nothing
 * to say (the common case under a path unit) starts faster without it.
 */
export function createLogger(format: Exclude<LogFormat, "auto">, verbose: boolean): Logger {
  let pinoLogger: PinoLogger | undefined;
  const get = (): PinoLogger => {
    if (pinoLogger) return pinoLogger;
    const pino = require("pino") as typeof import("pino").default;
    const level = verbose ? "debug" : "info";
    pinoLogger =
      format === "json"
        ? pino({ level, base: null }, pino.destination({ fd: 2, sync: true }))
        : pino({ level, base: null }, { write: (line: string) => process.stderr.write(renderLine(format, line)) });
    return pinoLogger;
  };
  // Every line is scrubbed of the secrets genpush has read: a message may quote a child
  // process or a server that echoed one.
  const method =
    (level: "debug" | "info" | "warn" | "error"): LogFn =>
    (first: string | { hint?: string | undefined }, message?: string) => {
      if (level === "debug" && !verbose) return;
      if (typeof first === "string") get()[level](scrubSecrets(first));
      else {
        const fields = first.hint === undefined ? first : { ...first, hint: scrubSecrets(first.hint) };
        get()[level](fields, scrubSecrets(message ?? ""));
      }
    };
  return { debug: method("debug"), info: method("info"), warn: method("warn"), error: method("error") };
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
