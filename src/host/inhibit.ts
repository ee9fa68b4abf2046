/**
 * A logind `delay` lock on sleep while an upload runs, so a laptop lid closed
 * mid-push waits (up to logind's InhibitDelayMaxSec) for it.
 *
 * logind hands the lock out as a file descriptor, which dbus-next can receive
 * only through an optional native module that does not build on current Node;
 * so the lock is held by `systemd-inhibit` running `cat` on a pipe from us. The
 * lock ends when we close the pipe — or when we die, whatever the signal —
 * so a killed genpush never leaves sleep blocked.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";

export interface Inhibitor {
  release(): void;
}

export function inhibitSleep(why: string, onUnavailable: (reason: string) => void): Inhibitor {
  // Not booted with systemd (sd_booted(3)): no logind to ask, and no process to start for it
  // (a fork of a large Node process costs tens of milliseconds on some machines).
  if (!existsSync("/run/systemd/system")) {
    onUnavailable("this machine was not booted with systemd");
    return { release() {} };
  }
  const child = spawn("systemd-inhibit", ["--what=sleep", "--mode=delay", "--who=genpush", `--why=${why}`, "cat"], {
    stdio: ["pipe", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let released = false;
  child.on("error", (error) => onUnavailable(error.message));
  child.on("exit", (code) => {
    if (!released && code !== 0) onUnavailable(stderr.trim() || `systemd-inhibit exited with ${code}`);
  });
  child.stdin.on("error", () => {});
  return {
    release() {
      released = true;
      child.stdin.end();
    },
  };
}
