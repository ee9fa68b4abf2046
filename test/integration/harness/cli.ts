// Runs the genpush CLI from this checkout (through tsx, no build step) the way a
// user would: a separate process, real exit code, stdout and stderr apart.
import { writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { nixEnv, tempDir } from "./nix.js";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const cliEntry = join(repoRoot, "src", "cli.ts");

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed when `--json` was given and it parsed */
  // biome-ignore lint/suspicious/noExplicitAny: the JSON shape is what the tests assert on
  json?: any;
}

export interface RunOptions {
  /** merged over nixEnv (NIX_CONFIG, this file's XDG_CACHE_HOME) */
  env?: NodeJS.ProcessEnv;
  /** passed as the global `--config FILE` */
  config?: string;
  timeoutMs?: number;
}

export async function runGenpush(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const global = opts.config === undefined ? [] : ["--config", opts.config];
  const r = await execa(process.execPath, ["--import", "tsx", cliEntry, ...global, ...args], {
    cwd: repoRoot,
    env: { ...nixEnv, ...opts.env },
    extendEnv: false,
    reject: false,
    stdin: "ignore",
    timeout: opts.timeoutMs ?? 120_000,
  });
  const result: RunResult = {
    code: r.exitCode ?? -1,
    stdout: String(r.stdout ?? ""),
    stderr: String(r.stderr ?? ""),
  };
  if (args.includes("--json")) {
    try {
      result.json = JSON.parse(result.stdout);
    } catch {}
  }
  return result;
}

/** A message for assertions: everything the CLI said. */
export function explain(r: RunResult): string {
  return `exit ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

/** Writes a config (an object as JSON, which is YAML, or raw YAML text); returns its path. */
export function writeConfig(config: object | string): string {
  const file = join(tempDir("genpush-config-"), "config.yaml");
  const text = typeof config === "string" ? config : `${JSON.stringify(config, null, 2)}\n`;
  writeFileSync(file, text);
  return file;
}
