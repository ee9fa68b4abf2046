// Helpers around the real Nix 2.8 store: synthetic generations of any size, real
// profile switches, garbage collection, and pulls into an empty store.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const temps: string[] = [];
process.on("exit", () => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp dir, removed when the test process exits. */
export function tempDir(prefix = "genpush-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

/** The environment for nix and genpush: new CLI on, a narinfo disk cache of this test file only. */
export const nixEnv: NodeJS.ProcessEnv = {
  ...process.env,
  NIX_CONFIG: "experimental-features = nix-command",
  XDG_CACHE_HOME: tempDir("genpush-xdg-cache-"),
};

/** Runs a nix tool, returns stdout; throws with stderr on failure. */
export function nix(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { env: nixEnv, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}:\n${r.stderr}`);
  }
  return r.stdout;
}

/** A string that makes every store path of a test unique to this run. */
export function newSeed(): string {
  return randomBytes(5).toString("hex");
}

export interface Key {
  name: string;
  secretKeyFile: string;
  publicKey: string;
}

export function makeKey(name: string): Key {
  const dir = tempDir("genpush-key-");
  const secretKeyFile = join(dir, "secret");
  const publicFile = join(dir, "public");
  nix("nix-store", ["--generate-binary-cache-key", name, secretKeyFile, publicFile]);
  return { name, secretKeyFile, publicKey: readFileSync(publicFile, "utf8").trim() };
}

export interface GenerationSpec {
  seed: string;
  /** size of the runtime closure (>= 3): 1 top + packages + leaves */
  paths: number;
  /** leaves 0..changed-1 carry `version` in their contents */
  changed?: number;
  version?: number;
  system?: string;
  /**
   * A Nix function from a leaf's index to a number of random bytes its `data` file holds,
   * base64-encoded (a third larger; it compresses about as well as binaries do). Without
   * it a leaf holds one short line.
   */
  leafBytes?: string;
}

export interface Generation {
  storePath: string;
  closure: string[];
}

/**
 * Builds a NixOS-like generation: a top path (with a `system` file) referring to
 * up to 10 packages; every leaf belongs to one package, every 7th to two. Two
 * versions with the same seed differ in `changed` leaves, their packages and the top.
 */
export function generationExpr(spec: GenerationSpec): string {
  const { seed, paths, changed = 0, version = 0, system = "x86_64-linux", leafBytes } = spec;
  if (paths < 3) throw new Error("a generation needs at least 3 paths");
  const packages = Math.max(1, Math.min(10, Math.floor((paths - 1) / 4)));
  const leaves = paths - 1 - packages;
  const q = JSON.stringify;
  return `
let
  seed = ${q(seed)}; n = ${leaves}; np = ${packages}; k = ${changed}; v = ${q(String(version))};
  sys = ${q(system)};
  mod = a: b: a - (a / b) * b;
  mk = name: script: builtins.derivation {
    name = "gp-\${seed}-\${name}"; system = builtins.currentSystem;
    builder = "/bin/sh"; args = [ "-c" script ];
  };
  leaf = i: mk "leaf-\${toString i}"
    ("/bin/mkdir $out; echo 'leaf \${toString i} of \${seed} v\${if i < k then v else "0"}' > $out/data"${
      leafBytes
        ? ` + "; /usr/bin/head -c \${toString ((${leafBytes}) i)} /dev/urandom | /usr/bin/base64 -w 76 >> $out/data"`
        : ""
    });
  leaves = builtins.genList leaf n;
  owns = p: i: mod i np == p || (mod i 7 == 0 && mod (i + 1) np == p);
  refsOf = p: builtins.filter (i: owns p i) (builtins.genList (i: i) n);
  refsText = p: builtins.concatStringsSep " " (map (i: "\${builtins.elemAt leaves i}") (refsOf p));
  # One argument holds at most 128 KiB (Linux's MAX_ARG_STRLEN): a package of thousands of
  # leaves gets its references through a file (passAsFile); smaller ones as before.
  pkg = p: let refs = refsText p; in
    if builtins.stringLength refs < 100000
    then mk "pkg-\${toString p}" ("/bin/mkdir $out; echo " + refs + " > $out/refs")
    else builtins.derivation {
      name = "gp-\${seed}-pkg-\${toString p}"; system = builtins.currentSystem;
      builder = "/bin/sh"; args = [ "-c" "/bin/mkdir $out; /bin/cp $refsPath $out/refs" ];
      inherit refs; passAsFile = [ "refs" ];
    };
  pkgs = builtins.genList pkg np;
in mk "system" ("/bin/mkdir $out; printf %s \${sys} > $out/system; echo "
  + builtins.concatStringsSep " " (map (p: "\${p}") pkgs) + " > $out/refs")
`;
}

/** Builds a Nix expression offline, without a sandbox; returns its (last) output path. */
export function nixBuild(expr: string): string {
  return nixBuildAll(expr).pop() ?? "";
}

/** Builds a Nix expression offline, without a sandbox, with `options` (`--option NAME VALUE`...); its output paths. */
function nixBuildAll(expr: string, options: string[] = []): string[] {
  const args = ["--no-out-link", "--option", "sandbox", "false", "--option", "substituters", "", ...options];
  return nix("nix-build", [...args, "--max-jobs", "8", "-E", expr])
    .trim()
    .split("\n");
}

/**
 * `count` derivations unique to `seed`, each with a dependency of its own, built by one
 * nix-build (with Nix's post-build-hook set to `hook`, if given); their output paths.
 */
export function buildDerivations(seed: string, count: number, hook?: string): string[] {
  const expr = `
let
  mk = name: script: builtins.derivation {
    name = "gpq-\${name}"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" script ];
  };
  one = i: let dep = mk "${seed}-dep-\${toString i}" "echo dep \${toString i} > $out";
    in mk "${seed}-top-\${toString i}" "echo top \${toString i} \${dep} > $out";
in builtins.genList one ${count}
`;
  return nixBuildAll(expr, hook ? ["--option", "post-build-hook", hook] : []);
}

export function buildGeneration(spec: GenerationSpec): Generation {
  const storePath = nixBuild(generationExpr(spec));
  return { storePath, closure: closureOf(storePath) };
}

export function closureOf(storePath: string): string[] {
  return nix("nix-store", ["-qR", storePath]).trim().split("\n").sort();
}

export function isValid(storePath: string): boolean {
  return spawnSync("nix-store", ["--check-validity", storePath], { env: nixEnv }).status === 0;
}

/** Paths in `a` and not in `b`. */
export function minus(a: string[], b: string[]): string[] {
  const drop = new Set(b);
  return a.filter((p) => !drop.has(p));
}

/** `nix-env --set`: a new `<profile>-N-link` and a fresh link renamed over the profile. */
export function switchProfile(profile: string, storePath: string): void {
  nix("nix-env", ["--profile", profile, "--set", storePath]);
}

export function rollback(profile: string): void {
  nix("nix-env", ["--profile", profile, "--rollback"]);
}

export function deleteGeneration(profile: string, n: number): void {
  nix("nix-env", ["--profile", profile, "--delete-generations", String(n)]);
}

/** Deletes the given paths (they must be dead), or runs a whole `nix-store --gc`. */
export function collectGarbage(paths?: string[]): void {
  if (paths === undefined) nix("nix-store", ["--gc"]);
  else if (paths.length > 0) nix("nix-store", ["--delete", ...paths]);
}

/** `nix copy` from a binary cache into an empty chroot store, checking signatures. */
export function pullIntoFreshStore(
  cacheUrl: string,
  storePath: string,
  publicKey: string,
): { ok: boolean; stderr: string } {
  const dest = tempDir("genpush-fresh-");
  const args = ["copy", "--from", cacheUrl, "--to", dest, storePath];
  // A fresh narinfo disk cache too: a positive answer from an earlier pull must not hide a loss.
  const env = { ...nixEnv, XDG_CACHE_HOME: join(dest, ".cache") };
  const r = spawnSync("nix", [...args, "--option", "trusted-public-keys", publicKey], {
    env,
    encoding: "utf8",
  });
  let ok = r.status === 0;
  if (ok) {
    // Belt and braces: the path must really be valid in the fresh store.
    ok = spawnSync("nix", ["path-info", "--store", dest, storePath], { env }).status === 0;
  }
  rmSync(dest, { recursive: true, force: true });
  return { ok, stderr: r.stderr };
}

/** The host's Nix system, e.g. x86_64-linux. */
export function hostSystem(): string {
  return execFileSync("nix", ["eval", "--impure", "--raw", "--expr", "builtins.currentSystem"], {
    env: nixEnv,
    encoding: "utf8",
  }).trim();
}
