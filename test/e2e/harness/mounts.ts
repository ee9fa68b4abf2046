// Mounts and processes of the e2e container, undone even when a test fails: on destroy(),
// on process exit, on SIGINT/SIGTERM/SIGHUP (synchronously: no await in those handlers), and,
// for a run killed with SIGKILL, by the next run (removeLeftovers).
import type { ChildProcess } from "node:child_process";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

/** Every run mounts at a fresh /tmp/genpush-e2e-<pid of the test process>-XXXXXX. */
export const PREFIX = "/tmp/genpush-e2e-";

export interface Mounted {
  dir: string;
  nspawn?: ChildProcess;
  leader?: number;
}
export const live = new Set<Mounted>();

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
function isMounted(path: string): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((line) => line.split(" ")[4] === path);
}
function unmountSync(path: string): void {
  for (let i = 0; i < 50 && isMounted(path); i++) {
    if (spawnSync("umount", [path]).status === 0) return;
    sleepSync(100);
  }
  if (isMounted(path)) spawnSync("umount", ["-l", path]);
}
export function kill(pid: number | undefined, signal: NodeJS.Signals): void {
  try {
    if (pid) process.kill(pid, signal);
  } catch {}
}
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}
/** Kills every process of the container (its PID 1 first), then unmounts root and the tmpfs. */
export function teardownSync(m: Mounted): void {
  kill(m.leader, "SIGKILL");
  kill(m.nspawn?.pid, "SIGKILL");
  for (let i = 0; i < 100 && m.leader && alive(m.leader); i++) sleepSync(50);
  unmountSync(join(m.dir, "root"));
  unmountSync(m.dir);
  try {
    rmdirSync(m.dir);
  } catch {}
  live.delete(m);
}
process.on("exit", () => {
  for (const m of live) teardownSync(m);
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => {
    for (const m of live) teardownSync(m);
    process.kill(process.pid, signal);
  });
}

/** The run directory a dead run left behind, or null when its test process still runs. */
function orphaned(dir: string): boolean {
  const owner = Number(/^genpush-e2e-(\d+)-/.exec(dir.slice("/tmp/".length))?.[1]);
  return !(owner === process.pid || (owner > 0 && alive(owner)));
}

/**
 * Containers and mounts of earlier runs whose test process is gone (killed with SIGKILL).
 * A container outlives its nspawn (and the host's mounts): it is found by the upperdir of
 * the overlay its processes have as "/", and killed through every one of them.
 */
export function removeLeftovers(): void {
  const ours = readlinkSync("/proc/self/ns/pid");
  const upper = new RegExp(`upperdir=(${PREFIX.replaceAll("/", "\\/")}[^,/ ]+)/upper`);
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      const nspawnOf = cmd.startsWith("systemd-nspawn\0-D\0") ? cmd.split("\0")[2]?.replace(/\/root$/, "") : undefined;
      if (nspawnOf?.startsWith(PREFIX) && orphaned(nspawnOf)) kill(Number(pid), "SIGKILL");
      if (readlinkSync(`/proc/${pid}/ns/pid`) === ours) continue;
      const mounts = readFileSync(`/proc/${pid}/mountinfo`, "utf8").split("\n");
      const rootLine = mounts.find((line) => line.split(" ")[4] === "/") ?? "";
      const dir = upper.exec(rootLine)?.[1];
      if (dir && orphaned(dir)) kill(Number(pid), "SIGKILL");
    } catch {}
  }
  const points = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((p) => p.startsWith(PREFIX));
  for (const dir of new Set(points.map((p) => p.replace(/\/root$/, "")))) {
    if (orphaned(dir)) teardownSync({ dir });
  }
}

/** `npm run build` when dist/cli.js is missing or older than a file of src/. */
export function ensureBuilt(repoRoot: string): void {
  const cli = join(repoRoot, "dist", "cli.js");
  const newest = (dir: string): number =>
    Math.max(
      0,
      ...readdirSync(dir, { withFileTypes: true }).map((e) =>
        e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs,
      ),
    );
  if (existsSync(cli) && statSync(cli).mtimeMs >= newest(join(repoRoot, "src"))) return;
  const r = spawnSync("npm", ["run", "build"], { cwd: repoRoot, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`npm run build failed:\n${r.stdout}\n${r.stderr}`);
}

/**
 * Readies the overlay before boot: no machine-id (else nspawn refuses: it is the host's), and
 * the services and timers this machine enables masked, nix-daemon aside: the container shares
 * the host's network, so the host's nginx (port 80) or postgresql (5432) must not start in it.
 * The container's nix-daemon builds without build users: the host's Nix uses the same nixbld
 * uids (no user namespace), and each Nix kills every process of a build user before using it,
 * so a build on the host killed builders in the container (signal 9, seen).
 */
export function prepareRoot(root: string): string[] {
  rmSync(join(root, "etc/machine-id"), { force: true });
  const nixConf = join(root, "etc/nix/nix.conf");
  const hostConf = existsSync(nixConf) ? readFileSync(nixConf, "utf8") : "";
  mkdirSync(join(root, "etc/nix"), { recursive: true });
  writeFileSync(nixConf, `${hostConf}\nbuild-users-group =\n`);
  const etc = join(root, "etc/systemd/system");
  const masked: string[] = [];
  for (const wants of ["multi-user.target.wants", "timers.target.wants"]) {
    const dir = join(etc, wants);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      if (!/\.(service|timer)$/.test(name) || name.startsWith("nix-daemon.")) continue;
      rmSync(join(etc, name), { force: true });
      symlinkSync("/dev/null", join(etc, name));
      masked.push(name);
    }
  }
  return masked;
}
