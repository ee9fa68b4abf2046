// What the Nix checks share: the repository root and Debian's Nix evaluating an expression there.
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/** `nix-instantiate --eval --strict --json` in the repository root; fails loudly where Nix is missing. */
export function nixEval<T>(expression: string): T {
  const out = execFileSync("nix-instantiate", ["--eval", "--strict", "--json", "--readonly-mode", "-E", expression], {
    cwd: ROOT,
    encoding: "utf8",
  });
  return JSON.parse(out) as T;
}
