// Small helpers for the fakes and the suites that use them: store hashes,
// synthetic store paths, token-shaped secrets in files.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../harness/nix.js";

/** The store path's hash part. */
export function hashOf(storePath: string): string {
  return (storePath.split("/").pop() ?? "").slice(0, 32);
}

/** A store path that need not exist: enough for existence queries. */
export function syntheticPath(i: number): string {
  const alphabet = "0123456789abcdfghijklmnpqrsvwxyz";
  const hash = Array.from(randomBytes(32), (b) => alphabet[b % 32]).join("");
  return `/nix/store/${hash}-gp-synthetic-${i}`;
}

/** Looks like an Attic JWT or a Cachix token; random, so a leak is unmistakable. */
export function token(): string {
  return `eyJhbGciOiJIUzI1NiJ9.${randomBytes(24).toString("base64url")}.${randomBytes(32).toString("base64url")}`;
}

export function secretFile(text: string): string {
  const file = join(tempDir("genpush-secret-"), "secret");
  writeFileSync(file, `${text}\n`, { mode: 0o600 });
  return file;
}
