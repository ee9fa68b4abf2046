// What the Nix checks share: the repository root, Debian's Nix evaluating an expression there,
// the stand-ins for nixpkgs (stand-ins.nix), and a build step run as Nix's sandbox runs it.
import { execFileSync, type SpawnSyncReturns, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { blocksOf, type DocBlock, docBlocks } from "../docs-blocks.js";

export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

/**
 * `nix-instantiate --eval --strict --json` in the repository root; fails loudly where Nix is
 * missing. `store: true` lets the evaluation write to the Nix store (the stand-in
 * `lib.fileset.toSource` and `formats.yaml` write files there, as the real ones do); Nix 2.8's
 * `--eval` is read-only otherwise.
 */
export function nixEval<T>(expression: string, options: { store?: boolean } = {}): T {
  const mode = options.store ? "--read-write-mode" : "--readonly-mode";
  const out = execFileSync("nix-instantiate", ["--eval", "--strict", "--json", mode, "-E", expression], {
    cwd: ROOT,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out) as T;
}

/** A directory every user may read and write (a build step runs as nobody). */
export function openTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o1777);
  return dir;
}

/**
 * stand-ins.nix as a Nix expression, its packages in `storeDir`, with a runnable
 * `genpush-<version>/bin/genpush` there that runs this checkout's CLI (the package's
 * `bin/genpush` as the module's build-time check calls it). `realLib`: a nixpkgs `lib`
 * directory to make the packages and evaluate the modules with (real-nixpkgs-lib.check.ts).
 */
export function standIns(options: { storeDir?: string; realLib?: string } = {}): { storeDir: string; nix: string } {
  const storeDir = options.storeDir ?? openTempDir("genpush-store-");
  const realLib = options.realLib ? `realLib = import ${JSON.stringify(options.realLib)};` : "";
  const nix = `(import ${join(ROOT, "test/nix/stand-ins.nix")} { storeDir = ${JSON.stringify(storeDir)}; ${realLib} })`;
  const exe = nixEval<string>(`${nix}.lib.getExe (${nix}.pkgs.callPackage ./nix/package.nix { })`);
  mkdirSync(join(exe, ".."), { recursive: true, mode: 0o755 });
  const tsx = import.meta.resolve("tsx");
  writeFileSync(exe, `#!/bin/sh\nexec '${process.execPath}' --import '${tsx}' '${join(ROOT, "src/cli.ts")}' "$@"\n`, {
    mode: 0o755,
  });
  return { storeDir, nix };
}

/** evaluate.nix with these stand-ins: `.evaluate KIND { modules; }`, `.snippet { file; kind; }`. */
export function evaluateNix(standInsNix: string): string {
  return `(import ${join(ROOT, "test/nix/evaluate.nix")} ${standInsNix})`;
}

/**
 * Runs a build step's script as Nix runs a derivation's builder in its sandbox: as an
 * unprivileged user, with HOME=/homeless-shelter, a clean environment, and no /var or /home to
 * read or write (here: empty read-only file systems over them, in a mount namespace of its
 * own). PATH holds the system's tools, standing in for stdenv's coreutils. Needs root, as CI
 * has; `out` is where the step writes its result, `extraEnv` what the derivation passes
 * (`passAsFile` paths, a fixed-output derivation's impure variables).
 */
export function runAsBuilder(
  script: string,
  out: string,
  extraEnv: Record<string, string> = {},
): SpawnSyncReturns<string> {
  const build = openTempDir("genpush-build-");
  const env = {
    PATH: "/usr/bin:/bin",
    HOME: "/homeless-shelter",
    TMPDIR: build,
    NIX_BUILD_TOP: build,
    out,
    ...extraEnv,
  };
  return spawnSync(
    "unshare",
    [
      "--mount",
      "--propagation",
      "private",
      "--",
      "sh",
      "-c",
      'mount -t tmpfs -o ro tmpfs /var && mount -t tmpfs -o ro tmpfs /home && exec setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"',
      "sandbox",
      "env",
      "-i",
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      "bash",
      "-euo",
      "pipefail",
      "-c",
      script,
    ],
    // stdin from /dev/null: on a socket (node's default pipe) Debian's bash reads /etc/bash.bashrc.
    { cwd: build, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
}

/** A ```nix block of README.md or docs/, and what it is: a NixOS or a home-manager module or flake. */
export interface Snippet extends DocBlock {
  kind: "nixos" | "home-manager";
}

/** Every ```nix block of the docs (or of `text`, read as one file). */
export function docSnippets(text?: string): Snippet[] {
  const blocks = text === undefined ? docBlocks() : blocksOf("test.md", text);
  return blocks
    .filter((b) => b.lang === "nix")
    .map((b) => ({ ...b, kind: b.text.includes("homeManagerModules") ? "home-manager" : "nixos" }));
}

/** Writes a snippet to a file of its own, as a user would paste it. */
export function snippetFile(snippet: Snippet): string {
  const name = `${snippet.file.replace(/\W/g, "-")}-line-${snippet.line}.nix`;
  const file = join(openTempDir("genpush-docs-"), name);
  writeFileSync(file, snippet.text, { mode: 0o644 });
  return file;
}
