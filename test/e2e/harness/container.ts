// A real systemd (journald, logind, D-Bus, nix-daemon) booted with systemd-nspawn over a
// copy-on-write overlay of this machine's root (test-infrastructure.md). The container shares
// the host's network namespace, so a host nginx on 127.0.0.1 is reachable from inside.
// The machine's own enabled services (nginx on :80, postgresql...) are masked in the overlay
// (mounts.ts prepareRoot). Every mount and process is undone by destroy(), and also on exit,
// SIGINT, SIGTERM and SIGHUP; what a run killed with SIGKILL leaves, the next boot removes.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import {
  alive,
  ensureBuilt,
  kill,
  live,
  type Mounted,
  PREFIX,
  prepareRoot,
  removeLeftovers,
  teardownSync,
} from "./mounts.js";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
/** Where the checkout is bound (read-only) inside the container. */
export const GENPUSH_ROOT = "/opt/genpush";
export const GENPUSH_CLI = `${GENPUSH_ROOT}/dist/cli.js`;
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface ExecOptions {
  /** run as this user (runuser), with their XDG_RUNTIME_DIR and session bus */
  user?: string;
  env?: Record<string, string>;
  input?: string;
  timeoutMs?: number;
}
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}
export interface JournalEntry {
  PRIORITY: number;
  MESSAGE: string;
  /** journald kept MESSAGE as bytes (it holds control characters, e.g. ANSI colours) */
  binary: boolean;
  fields: Record<string, unknown>;
}
export interface Container {
  leaderPid: number;
  nspawnPid: number;
  /** the merged root as the host sees it */
  root: string;
  bootMs: number;
  /** units that failed while booting, systemd-firstboot (harmless here) aside */
  bootFailures: string[];
  exec(cmd: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** exec that throws (with everything said) unless the command exits 0; returns stdout */
  run(cmd: string[], opts?: ExecOptions): Promise<string>;
  /** writes a file (parents created), owned by `user` when given */
  writeFile(path: string, content: string, opts?: { user?: string; mode?: string }): Promise<void>;
  user(name: string): Promise<{ uid: number; home: string }>;
  /** `systemctl show -p ...` as a record (user units with opts.user) */
  show(unit: string, props: string[], opts?: { user?: string }): Promise<Record<string, string>>;
  journal(unit: string, opts?: { user?: string; priority?: string }): Promise<JournalEntry[]>;
  nspawnLog(): string;
  waitUntil: typeof waitUntil;
  destroy(): Promise<void>;
}

/** Why this machine cannot boot the container, or null when it can. */
export function e2eUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "the systemd e2e suite needs root";
  for (const tool of ["systemd-nspawn", "nsenter", "nginx", "nix-build"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  return null;
}

/** Polls until fn returns a truthy value; throws after timeoutMs naming what and the last error. */
export async function waitUntil<T>(
  fn: () => T | Promise<T>,
  timeoutMs: number,
  what = "a condition",
): Promise<Exclude<T, false | null | undefined | 0 | "">> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as Exclude<T, false | null | undefined | 0 | "">;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function hostPortReachable(c: Container): Promise<void> {
  const server = createServer((socket) => socket.end("pong\n"));
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const probe = `require("net").connect(${port},"127.0.0.1").on("data",(d)=>{process.stdout.write(d);process.exit(0)})`;
  const r = await c.exec(["node", "-e", `${probe}.on("error",(e)=>{console.error(e.message);process.exit(1)})`]);
  server.close();
  if (r.stdout.trim() !== "pong") throw new Error(`the host's 127.0.0.1:${port} is not reachable inside: ${r.stderr}`);
}

export async function bootContainer(): Promise<Container> {
  const missing = e2eUnavailable();
  if (missing) throw new Error(missing);
  ensureBuilt(repoRoot);
  removeLeftovers();
  const started = Date.now();
  const m: Mounted = { dir: mkdtempSync(`${PREFIX}${process.pid}-`) };
  live.add(m);
  const root = join(m.dir, "root");
  const sh = (script: string) => {
    const r = spawnSync("sh", ["-ec", script], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${script}: ${r.stderr}`);
  };
  try {
    sh(`mount -t tmpfs tmpfs ${m.dir} && mkdir ${m.dir}/upper ${m.dir}/work ${root}`);
    sh(`mount -t overlay overlay -o lowerdir=/,upperdir=${m.dir}/upper,workdir=${m.dir}/work ${root}`);
    prepareRoot(root);
  } catch (error) {
    teardownSync(m);
    throw error;
  }
  let log = "";
  const args = ["-D", root, "--register=no", "--keep-unit", "-b", "--console=pipe"];
  m.nspawn = spawn("systemd-nspawn", [...args, `--bind-ro=${repoRoot}:${GENPUSH_ROOT}`], { stdio: "pipe" });
  const collect = (d: Buffer) => {
    log = (log + d.toString("utf8")).slice(-65536);
  };
  m.nspawn.stdout?.on("data", collect);
  m.nspawn.stderr?.on("data", collect);
  const exited = new Promise<void>((ok) => m.nspawn?.once("exit", () => ok()));
  m.nspawn.stdin?.end();

  const users = new Map<string, { uid: number; home: string }>();
  const c: Container = {
    leaderPid: 0,
    nspawnPid: m.nspawn.pid ?? 0,
    root,
    bootMs: 0,
    bootFailures: [],
    nspawnLog: () => log,
    waitUntil,
    async exec(cmd, opts = {}) {
      const env = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`);
      let prefix = ["env", "-i", `PATH=${PATH}`, "HOME=/root", "LANG=C.UTF-8", "USER=root"];
      if (opts.user) {
        const { uid, home } = await c.user(opts.user);
        const runtime = `/run/user/${uid}`;
        prefix = ["runuser", "-u", opts.user, "--", "env", "-i", `PATH=${PATH}`, `HOME=${home}`, "LANG=C.UTF-8"];
        prefix.push(`USER=${opts.user}`, `LOGNAME=${opts.user}`, `XDG_RUNTIME_DIR=${runtime}`);
        prefix.push(`DBUS_SESSION_BUS_ADDRESS=unix:path=${runtime}/bus`);
      }
      const r = await execa("nsenter", ["-t", String(c.leaderPid), "-a", ...prefix, ...env, ...cmd], {
        reject: false,
        input: opts.input ?? "",
        timeout: opts.timeoutMs ?? 120_000,
        stripFinalNewline: false,
      });
      return { code: r.exitCode ?? -1, stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? "") };
    },
    async run(cmd, opts) {
      const r = await c.exec(cmd, opts);
      if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
      return r.stdout;
    },
    async writeFile(path, content, opts = {}) {
      const script = 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"';
      await c.run(["sh", "-c", script, "sh", path, opts.mode ?? "644"], { input: content, user: opts.user });
    },
    async user(name) {
      const cached = users.get(name);
      if (cached) return cached;
      const entry = (await c.run(["getent", "passwd", name])).trim().split(":");
      const info = { uid: Number(entry[2]), home: entry[5] ?? "" };
      users.set(name, info);
      return info;
    },
    async show(unit, props, opts = {}) {
      const scope = opts.user ? ["--user"] : [];
      const out = await c.run(["systemctl", ...scope, "show", unit, ...props.map((p) => `-p${p}`)], opts);
      return Object.fromEntries(
        out
          .trim()
          .split("\n")
          .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      );
    },
    // As root, `journalctl --user-unit U` also matches _UID=0 and finds nothing of another user's
    // manager (systemd 252): a user's units are read by that user with `journalctl --user -u U`.
    async journal(unit, opts = {}) {
      const scope = opts.user ? ["--user"] : [];
      const priority = opts.priority ? ["-p", opts.priority] : [];
      const out = await c.run(["journalctl", ...scope, "-u", unit, ...priority, "-o", "json", "--no-pager"], opts);
      return out
        .split("\n")
        .filter((l) => l.trim().length > 0)
        .map((line) => {
          const fields = JSON.parse(line) as Record<string, unknown>;
          const raw = fields.MESSAGE;
          const binary = Array.isArray(raw);
          const MESSAGE = binary ? Buffer.from(raw as number[]).toString("utf8") : String(raw ?? "");
          return { PRIORITY: Number(fields.PRIORITY), MESSAGE, binary, fields };
        });
    },
    async destroy() {
      if (!live.has(m)) return;
      kill(m.leader, "SIGKILL"); // PID 1 of the container: the kernel kills all of it
      await Promise.race([exited, new Promise((ok) => setTimeout(ok, 5000))]);
      teardownSync(m);
    },
  };

  try {
    c.leaderPid = m.leader = await waitUntil(() => containerInit(c.nspawnPid), 10_000, "the container's PID 1");
    const state = await waitUntil(
      async () => {
        const r = await c.exec(["systemctl", "is-system-running", "--wait"], { timeoutMs: 60_000 });
        return ["running", "degraded"].includes(r.stdout.trim()) && r.stdout.trim();
      },
      60_000,
      "systemctl is-system-running --wait",
    );
    if (state === "degraded") {
      const failed = await c.run(["systemctl", "list-units", "--failed", "--plain", "--no-legend"]);
      c.bootFailures = failed.split("\n").filter((l) => l.trim() && !l.startsWith("systemd-firstboot.service"));
    }
    if ((await c.exec(["systemctl", "is-active", "nix-daemon.socket"])).stdout.trim() !== "active") {
      await c.run(["systemctl", "start", "nix-daemon.socket"]);
    }
    await hostPortReachable(c);
    c.bootMs = Date.now() - started;
    return c;
  } catch (error) {
    const tail = log.split("\n").slice(-30).join("\n");
    await c.destroy();
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- nspawn ---\n${tail}`);
  }
}

/** The child of systemd-nspawn that is PID 1 of a new PID namespace. */
function containerInit(nspawnPid: number): number | undefined {
  if (!alive(nspawnPid)) throw new Error("systemd-nspawn exited");
  const ours = readlinkSync("/proc/self/ns/pid");
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === nspawnPid && readlinkSync(`/proc/${pid}/ns/pid`) !== ours) return Number(pid);
    } catch {}
  }
  return undefined;
}
