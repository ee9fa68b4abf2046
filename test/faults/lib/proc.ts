// genpush as a child process the test can kill: the harness's way of running it (node + tsx +
// src/cli.ts, nixEnv), but spawned in its own process group, so SIGKILL takes genpush and the
// nix processes it started at once, as systemd kills a service's cgroup.
import { type ChildProcess, spawn } from "node:child_process";
import { cliEntry, explain, type RunResult, repoRoot } from "../../integration/harness/cli.js";
import { nixEnv } from "../../integration/harness/nix.js";

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Date.now() when it ended */
  at: number;
}

export interface Running {
  pid: number;
  startedAt: number;
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
  /** whether it has ended */
  ended(): boolean;
  /** SIGKILL to the whole process group */
  kill(): void;
  /** waits for the end; the result as runGenpush gives it (code -1 when killed) */
  result(): Promise<RunResult>;
}

export function startGenpush(config: string, args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", cliEntry, "--config", config, ...args], {
    cwd: repoRoot,
    env: { ...nixEnv, ...env },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString("utf8");
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString("utf8");
  });
  const exited = new Promise<Exit>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  let ended = false;
  void exited.then(() => {
    ended = true;
  });
  const pid = child.pid ?? 0;
  const running: Running = {
    pid,
    startedAt: Date.now(),
    stdout: () => out,
    stderr: () => err,
    exited,
    ended: () => ended,
    kill: () => {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {}
    },
    result: async () => {
      const e = await exited;
      const r: RunResult = { code: e.code ?? -1, stdout: out, stderr: err };
      if (args.includes("--json")) {
        try {
          r.json = JSON.parse(out);
        } catch {}
      }
      return r;
    },
  };
  return running;
}

/** Like explain(), for a run still going or killed. */
export function said(r: Running): string {
  return explain({ code: -1, stdout: r.stdout(), stderr: r.stderr() });
}

/** Waits until `condition` holds (true), or until the run ended (false), checking every `pollMs`. */
export async function until(r: Running, condition: () => boolean, pollMs = 2): Promise<boolean> {
  while (!condition()) {
    if (r.ended()) return condition();
    await new Promise((ok) => setTimeout(ok, pollMs));
  }
  return true;
}

/** Waits until the run's stderr matches `re` (true), or until it ended or `timeoutMs` passed (false). */
export async function waitForLine(r: Running, re: RegExp, timeoutMs = 60_000): Promise<boolean> {
  let ended = false;
  void r.exited.then(() => {
    ended = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (!re.test(r.stderr())) {
    if (ended || Date.now() > deadline) return re.test(r.stderr());
    await new Promise((ok) => setTimeout(ok, 5));
  }
  return true;
}
