/**
 * Small, explicit validators for the configuration. Each check records an
 * issue naming the key, what was expected and what was given, and returns
 * undefined, so one run reports every problem in a file at once.
 */

import { closest } from "./did-you-mean.js";
import type { ConfigIssue, KeyPath } from "./document.js";
import { Glob } from "./glob.js";

export class Checker {
  readonly issues: ConfigIssue[] = [];

  fail(path: KeyPath, expected: string, got: unknown): undefined {
    this.issues.push({ path, message: `expected ${expected}, got ${describe(got)}` });
    return undefined;
  }

  note(path: KeyPath, message: string, hint?: string): undefined {
    this.issues.push(hint === undefined ? { path, message } : { path, message, hint });
    return undefined;
  }

  object(path: KeyPath, value: unknown, known: readonly string[]): Record<string, unknown> | undefined {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      return this.fail(path, "a mapping of keys to values", value);
    }
    for (const key of Object.keys(value)) {
      if (!known.includes(key)) {
        const guess = closest(key, known);
        this.note(
          [...path, key],
          `unknown key${guess ? `; did you mean \`${guess}\`?` : ""} (known: ${known.join(", ")})`,
        );
      }
    }
    return value as Record<string, unknown>;
  }

  list(path: KeyPath, value: unknown): unknown[] | undefined {
    return Array.isArray(value) ? value : this.fail(path, "a list", value);
  }

  string(path: KeyPath, value: unknown, what = "a non-empty string"): string | undefined {
    return typeof value === "string" && value.trim() !== "" ? value : this.fail(path, what, value);
  }

  required(path: KeyPath, value: unknown, what: string): boolean {
    if (value !== undefined && value !== null) return true;
    this.note(path, `is required: ${what}`);
    return false;
  }

  boolean(path: KeyPath, value: unknown): boolean | undefined {
    return typeof value === "boolean" ? value : this.fail(path, "`true` or `false`", value);
  }

  oneOf<T extends string>(path: KeyPath, value: unknown, options: readonly T[]): T | undefined {
    return options.includes(value as T)
      ? (value as T)
      : this.fail(path, `one of ${options.map((o) => `\`${o}\``).join(", ")}`, value);
  }

  integer(path: KeyPath, value: unknown, min: number, max: number): number | undefined {
    return Number.isInteger(value) && (value as number) >= min && (value as number) <= max
      ? (value as number)
      : this.fail(path, `an integer from ${min} to ${max}`, value);
  }

  /**
   * A size in bytes: an integer, or a number with a unit (`50 MB`, `1.5GiB`; kB, MB, GB, TB are
   * powers of 1000, KiB, MiB, GiB, TiB of 1024). `specials` are integers taken as they are (-1).
   */
  size(path: KeyPath, value: unknown, specials: readonly number[] = []): number | undefined {
    const what = `a size such as \`50 MB\` or \`2GiB\` (a number alone is bytes)${specials.length > 0 ? `, or ${specials.map((n) => `\`${n}\``).join(", ")}` : ""}`;
    if (typeof value === "number") {
      return Number.isSafeInteger(value) && (value >= 0 || specials.includes(value))
        ? value
        : this.fail(path, what, value);
    }
    const match = typeof value === "string" ? SIZE_RE.exec(value.trim()) : null;
    if (!match) return this.fail(path, what, value);
    const number = Number(match[1]);
    if (number < 0) return specials.includes(number) && !match[2] ? number : this.fail(path, what, value);
    const bytes = Math.round(number * (SIZE_UNITS[(match[2] ?? "b").toLowerCase()] ?? 1));
    return Number.isSafeInteger(bytes) ? bytes : this.fail(path, what, value);
  }

  stringList(path: KeyPath, value: unknown, pattern?: RegExp, what = "strings"): string[] | undefined {
    const items = this.list(path, value);
    if (!items) return undefined;
    const out: string[] = [];
    items.forEach((item, i) => {
      const s = this.string([...path, i], item);
      if (s === undefined) return;
      if (pattern && !pattern.test(s)) this.fail([...path, i], what, s);
      else out.push(s);
    });
    return out;
  }

  /** Globs on store path names, each compiled here once and kept for every plan. */
  globList(path: KeyPath, value: unknown): Glob[] | undefined {
    const items = this.list(path, value);
    if (!items) return undefined;
    const out: Glob[] = [];
    items.forEach((item, i) => {
      const s = this.string([...path, i], item);
      if (s === undefined) return;
      try {
        out.push(new Glob(s));
      } catch (error) {
        this.note([...path, i], (error as Error).message);
      }
    });
    return out;
  }
}

const SIZE_RE = /^(-?\d+(?:\.\d+)?)\s*([kKMGT]i?B|B)?$/;
const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

export function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "an empty value";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return value === "" ? "an empty string" : `\`${truncate(value)}\``;
  return `\`${String(value)}\` (${typeof value})`;
}

function truncate(value: string): string {
  return value.length > 60 ? `${value.slice(0, 57)}...` : value;
}
