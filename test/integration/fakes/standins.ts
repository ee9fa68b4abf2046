// The stand-in `attic` and `cachix` executables (fakes/bin), copied into a
// fresh directory per test: each call appends one JSON record to calls.jsonl
// there; `fail-next` and (cachix) `endpoint.txt` there steer them.
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "../harness/nix.js";

const BIN = join(dirname(fileURLToPath(import.meta.url)), "bin");

export interface StandinCall {
  argv: string[];
  /** every environment variable's name */
  envKeys: string[];
  /** values of CACHIX_* and XDG_CONFIG_HOME only */
  env: Record<string, string>;
  /** the client configuration file it looked for, and its text (null: none) */
  config: { path: string; text: string | null } | null;
  /** names of the environment variables whose value contains the token */
  tokenEnvKeys: string[];
  tokenInArgv: boolean;
  /** cachix only: the same for CACHIX_SIGNING_KEY's value */
  signingKeyEnvKeys?: string[];
  signingKeyInArgv?: boolean;
  stdin: string;
  /** what it printed (stderr), line by line */
  printed: string[];
  exitCode: number | null;
}

export interface Standin {
  kind: "attic" | "cachix";
  /** the executable: give it as atticPath / cachixPath */
  path: string;
  dir: string;
  calls(): StandinCall[];
  /** the next `n` calls fail as a server error would (exit 1) */
  failNext(n?: number): void;
}

export function installStandin(kind: "attic" | "cachix", options: { endpoint?: string } = {}): Standin {
  const dir = tempDir(`genpush-standin-${kind}-`);
  const path = join(dir, kind);
  copyFileSync(join(BIN, kind), path);
  chmodSync(path, 0o755);
  if (options.endpoint !== undefined) writeFileSync(join(dir, "endpoint.txt"), `${options.endpoint}\n`);
  const log = join(dir, "calls.jsonl");
  return {
    kind,
    path,
    dir,
    calls: () =>
      existsSync(log)
        ? readFileSync(log, "utf8")
            .split("\n")
            .filter(Boolean)
            .map((line) => JSON.parse(line) as StandinCall)
        : [],
    failNext: (n = 1) => writeFileSync(join(dir, "fail-next"), String(n)),
  };
}
