/**
 * The two tools as users run them: the built genpush CLI (`node dist/cli.js`, in the
 * environment its units give it) and `nix copy`, each a child process timed from spawn to exit, with peak RSS
 * from GNU time (`%M`: the largest of the process and the children it waited
 * for, so genpush's figure covers the nix processes it runs too).
 */
import { spawn } from "node:child_process";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
let cli = join(repoRoot, "dist", "cli.js");
const snapshotDir = join(repoRoot, "bench", ".cli-snapshot");

/** The CLI every run starts: dist/cli.js, or its snapshot once taken. */
export function cliEntry(): string {
  return cli;
}

/**
 * Copies dist/ (and the package.json it reads its version from) aside, so a
 * rebuild by someone else during a run cannot change what is measured; node
 * still finds node_modules by walking up. Returns the clean-up.
 */
export function snapshotCli(): () => void {
  const remove = () => rmSync(snapshotDir, { recursive: true, force: true });
  remove();
  mkdirSync(snapshotDir, { recursive: true });
  cpSync(join(repoRoot, "dist"), join(snapshotDir, "dist"), { recursive: true });
  copyFileSync(join(repoRoot, "package.json"), join(snapshotDir, "package.json"));
  cli = join(snapshotDir, "dist", "cli.js");
  process.on("exit", remove);
  return remove;
}
const gnuTime = "/usr/bin/time";

export interface Timed {
  code: number;
  wallMs: number;
  /** peak RSS in KiB, when GNU time is installed */
  rssKiB: number | null;
  /** user + system CPU time in ms, when GNU time is installed */
  cpuMs: number | null;
  stdout: string;
  stderr: string;
}

export async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  const withTime = existsSync(gnuTime);
  const rssFile = join(mkdtempSync(join(tmpdir(), "genpush-bench-rss-")), "rss");
  const [file, argv] = withTime ? [gnuTime, ["-f", "%M %U %S", "-o", rssFile, cmd, ...args]] : [cmd, args];
  const started = performance.now();
  const child = spawn(file, argv, { env, stdio: ["ignore", "pipe", "pipe"], cwd: repoRoot });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const code = await new Promise<number>((done) => child.on("close", (c) => done(c ?? -1)));
  const wallMs = performance.now() - started;
  let rssKiB: number | null = null;
  let cpuMs: number | null = null;
  if (withTime) {
    const last = readFileSync(rssFile, "utf8").trim().split("\n").pop() ?? "";
    const figures = /^(\d+) (\d+\.\d+) (\d+\.\d+)$/.exec(last);
    if (figures) {
      rssKiB = Number(figures[1]);
      cpuMs = (Number(figures[2]) + Number(figures[3])) * 1000;
    }
  }
  return { code, wallMs, rssKiB, cpuMs, stdout, stderr };
}

/** The environment of every tool: the new CLI on, and Nix's narinfo disk cache where the scenario says. */
export function toolEnv(xdgCacheHome: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NIX_CONFIG: "experimental-features = nix-command",
    XDG_CACHE_HOME: xdgCacheHome,
  };
}

export interface GenpushSetup {
  stateDir: string;
  profile: string;
  store: string;
}

/** Writes the run's own configuration (JSON is YAML); returns its path. */
export function writeGenpushConfig(dir: string, setup: GenpushSetup): string {
  const file = join(dir, "genpush.yaml");
  const config = {
    stateDir: setup.stateDir,
    profiles: [{ name: "bench", path: setup.profile }],
    caches: [{ name: "bench", systems: ["x86_64-linux"], type: "nix", store: setup.store }],
  };
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

/**
 * Node as a unit starts it: without NODE_EXTRA_CA_CERTS, which a shell may set (this
 * machine's does) and no unit passes (Node parses that whole bundle before running
 * anything, about 60 ms here), without NODE_OPTIONS, which no unit sets, and with the
 * system services' runtime directory (RuntimeDirectory=%N: a directory of /run, a tmpfs),
 * where a compressor program's files go; for `node -e 0` as for genpush.
 */
export function unitNodeEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_EXTRA_CA_CERTS: _, NODE_OPTIONS: __, RUNTIME_DIRECTORY: ___, XDG_RUNTIME_DIR: ____, ...rest } = env;
  const runtime = unitRuntimeDirectory();
  return runtime ? { ...rest, RUNTIME_DIRECTORY: runtime } : rest;
}

/** statfs's type of a tmpfs. */
const TMPFS_MAGIC = 0x01021994;
let runtimeDirectory: string | undefined | null = null;

/**
 * The bench's stand-in for /run/genpush-system: a directory of its own (0700) on /run where
 * that is a tmpfs, as on a systemd host, else on /dev/shm; removed when the bench exits.
 * None where neither is a tmpfs: genpush then writes to $TMPDIR, as a unit without one would.
 */
function unitRuntimeDirectory(): string | undefined {
  if (runtimeDirectory !== null) return runtimeDirectory;
  runtimeDirectory = undefined;
  for (const parent of ["/run", "/dev/shm"]) {
    if (!existsSync(parent) || statfsSync(parent).type !== TMPFS_MAGIC) continue;
    let dir: string;
    try {
      dir = mkdtempSync(join(parent, "genpush-bench-"));
    } catch {
      continue; // /run is root's: a user's bench goes on to /dev/shm
    }
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    runtimeDirectory = dir;
    break;
  }
  return runtimeDirectory;
}

/** The built genpush under `node` (this process's Node unless given). */
export async function genpush(
  config: string,
  args: string[],
  xdgCacheHome: string,
  node = process.execPath,
): Promise<Timed> {
  const r = await timed(node, [cliEntry(), "--config", config, "--log-format", "json", ...args], {
    ...unitNodeEnv(toolEnv(xdgCacheHome)),
    JOURNAL_STREAM: "",
  });
  if (r.code !== 0) throw new Error(`genpush ${args.join(" ")} exited ${r.code}:\n${r.stderr}`);
  return r;
}

export async function nixCopy(storePath: string, store: string, xdgCacheHome: string): Promise<Timed> {
  const r = await timed("nix", ["copy", "--to", store, storePath], toolEnv(xdgCacheHome));
  if (r.code !== 0) throw new Error(`nix copy exited ${r.code}:\n${r.stderr}`);
  return r;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** True when dist/cli.js is missing or older than a file under src/: run `npm run build` first. */
export function distIsStale(): boolean {
  const built = join(repoRoot, "dist", "cli.js");
  if (!existsSync(built)) return true;
  return newestMtime(join(repoRoot, "src")) > statSync(built).mtimeMs;
}
