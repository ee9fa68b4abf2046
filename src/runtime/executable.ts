/** Finding a program genpush runs by name: on PATH, or at a configured path. */
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { delimiter, join } from "node:path";

/** The first executable `program` on PATH, or `explicit` if it is executable. */
export async function findExecutable(program: string, explicit?: string): Promise<string | undefined> {
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
  return undefined;
}
