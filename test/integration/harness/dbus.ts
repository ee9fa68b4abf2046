// Real D-Bus daemons for the desktop features: a session bus (`dbus-daemon --session`, with
// Debian's session.conf) and a private bus standing in for the system bus's address (its own
// policy lets anyone own and call anything: what is tested is genpush's side, the system
// bus's policy in the booted container, test/e2e). Each is stopped by the test's t.after.
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { repoRoot } from "./cli.js";
import { tempDir } from "./nix.js";

export interface Bus {
  /** The bus's address, for DBUS_SESSION_BUS_ADDRESS or DBUS_SYSTEM_BUS_ADDRESS. */
  address: string;
  stop(): void;
}

/** `kind` session: `dbus-daemon --session`; system: a private bus with an open policy. */
export async function startBus(kind: "session" | "system"): Promise<Bus> {
  const dir = tempDir("genpush-dbus-");
  const socket = join(dir, "bus");
  let args = ["--session", `--address=unix:path=${socket}`];
  if (kind === "system") {
    const config = join(dir, "bus.conf");
    writeFileSync(
      config,
      `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`,
    );
    args = [`--config-file=${config}`];
  }
  const daemon = spawn("dbus-daemon", [...args, "--nofork", "--print-address=1"], {
    // What it says on stderr ("Failed to set fd limit" as a user) is no test's business.
    stdio: ["ignore", "pipe", "ignore"],
  });
  const address = await firstLine(daemon, "dbus-daemon");
  return { address: address.split(",")[0] as string, stop: () => daemon.kill() };
}

export interface StandIn {
  /** Every line it has printed so far. */
  lines: string[];
  /** Writes a line to its standard input. */
  send(line: string): void;
  /** Ends its standard input; resolves once it has exited (and so left the bus). */
  stop(): Promise<void>;
}

/** Starts test/stand-ins/NAME.mjs with ARGS on the bus in `env`; resolves once it says `ready`. */
export async function startStandIn(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<StandIn> {
  const child = spawn(process.execPath, [join(repoRoot, "test", "stand-ins", `${name}.mjs`), ...args], {
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ready = await firstLine(child, name);
  if (ready !== "ready") throw new Error(`${name} said ${ready}`);
  const lines: string[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => lines.push(line));
  return {
    lines,
    send: (line) => child.stdin?.write(`${line}\n`),
    stop: () => {
      child.stdin?.end();
      return exited;
    },
  };
}

/** The first line a child prints, within 10 s. */
function firstLine(child: ChildProcess, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`${what} said nothing within 10s`)), 10_000);
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const end = text.indexOf("\n");
      if (end < 0) return;
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stdout?.pause();
      // What came after the first line is the next reader's.
      const rest = text.slice(end + 1);
      if (rest) child.stdout?.unshift(Buffer.from(rest));
      resolve(text.slice(0, end));
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${what} exited with ${code} before saying anything`)));
  });
}
