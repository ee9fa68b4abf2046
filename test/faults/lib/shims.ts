// Logging shims: a directory of executables put first on PATH, one per program genpush runs by
// name (nix, nix-store, the compressors, systemd-inhibit, the clients). Each is a shell script
// that writes what it was given (argv, environment, its parent's argv, as the kernel has them in
// /proc) to a file of its own in the test's log directory, then execs the real program: same
// pid, same stdio, same signals. Unlike sampling /proc from outside, nothing is missed however
// short a process lives.
import assert from "node:assert/strict";
import { accessSync, chmodSync, constants, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { tempDir } from "../../integration/harness/nix.js";

export interface Call {
  /** the shim's name: the program as genpush asked for it */
  name: string;
  /** the arguments, without argv[0] */
  args: string[];
  /** NAME=value, each as it was passed */
  env: string[];
  /** the parent's argv ([] if it had gone) */
  parent: string[];
}

export interface Shims {
  /** the directory to put first on PATH */
  dir: string;
  /** PATH with the shims first */
  path: string;
  /** A shim named `name` for `target` in a directory of its own (for a client configured by path). */
  wrap(name: string, target: string): string;
  /** every call so far */
  calls(): Call[];
}

/** The first executable `name` on `path`, outside `skip`. */
export function which(name: string, path = process.env.PATH ?? "", skip?: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir || dir === skip) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {}
  }
  return undefined;
}

const quote = (s: string): string => {
  if (s.includes("'")) throw new Error(`a shim path with a quote: ${s}`);
  return `'${s}'`;
};

/**
 * Shims for the programs in `programs` (name: the real executable it execs); `prelude`, a line
 * of shell each runs before it execs (e.g. a sleep that holds an upload open).
 */
export function installShims(programs: Record<string, string>, prelude = ""): Shims {
  const log = tempDir("genpush-shim-log-");
  const tools = Object.fromEntries(
    ["mktemp", "base64"].map((tool) => {
      const found = which(tool);
      if (!found) throw new Error(`no ${tool} on PATH: the shims need it`);
      return [tool, found];
    }),
  );
  const write = (dir: string, name: string, target: string): string => {
    const file = join(dir, name);
    // set -e: a call that could not be logged fails (loudly) rather than going unseen.
    writeFileSync(
      file,
      `#!/bin/sh
set -e
record=$(${quote(tools.mktemp ?? "")} ${quote(log)}/${name}.XXXXXXXX)
${quote(tools.base64 ?? "")} -w0 /proc/$$/cmdline >>"$record"
echo >>"$record"
${quote(tools.base64 ?? "")} -w0 /proc/$$/environ >>"$record"
echo >>"$record"
${quote(tools.base64 ?? "")} -w0 /proc/$PPID/cmdline >>"$record" 2>/dev/null || :
${prelude}
exec ${quote(target)} "$@"
`,
    );
    chmodSync(file, 0o755);
    return file;
  };
  const dir = tempDir("genpush-shims-");
  for (const [name, target] of Object.entries(programs)) write(dir, name, target);
  // Each string in /proc's cmdline and environ ends in a NUL.
  const split = (b64 = ""): string[] => {
    const text = Buffer.from(b64, "base64").toString("utf8");
    return text === "" ? [] : text.replace(/\0$/, "").split("\0");
  };
  return {
    dir,
    path: `${dir}${delimiter}${process.env.PATH ?? ""}`,
    wrap: (name, target) => write(tempDir("genpush-shim-"), name, target),
    calls: () =>
      readdirSync(log).map((file) => {
        const [cmdline, environ, parent] = readFileSync(join(log, file), "utf8").split("\n");
        // The kernel runs a script as: interpreter, script, arguments.
        return {
          name: file.slice(0, file.lastIndexOf(".")),
          args: split(cmdline).slice(2),
          env: split(environ),
          parent: split(parent),
        };
      }),
  };
}

/**
 * Shims for the programs genpush runs by name, where the host has them (nix, nix-store and xz it
 * cannot do without), and for `clients` (name: executable).
 */
export function hostShims(clients: Record<string, string> = {}): Shims {
  const programs: Record<string, string> = { ...clients };
  for (const name of ["nix", "nix-store", "xz", "nix-instantiate", "zstd", "bzip2", "systemd-inhibit"]) {
    const real = which(name);
    if (real) programs[name] = real;
    else assert.ok(!["nix", "nix-store", "xz"].includes(name), `no ${name} on PATH`);
  }
  return installShims(programs);
}
