// Every documented bound at its edge and just past it, against real parts: enqueue's (docs/commands.md,
// "Bounds") against the real Nix store, the D-Bus bound against a real dbus-daemon and a service that
// never answers, the compressor's groups through the real xz. And what must not happen: enqueue, as
// Nix's post-build-hook, depending on the secrets of the configuration (they may exist only inside
// the push's unit) or writing into a state directory not genpush's; an idle trigger running Nix; a
// lock or a temporary directory left behind.
import assert from "node:assert/strict";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { execa } from "execa";
import { hostShims, installShims, which } from "../faults/lib/shims.js";
import { cliEntry, explain, type RunResult, repoRoot, runGenpush, writeConfig } from "./harness/cli.js";
import { startBus, startStandIn } from "./harness/dbus.js";
import { onlyResult, scenario } from "./harness/fixture.js";
import { nix, nixEnv, tempDir } from "./harness/nix.js";

/** The documented bounds (docs/commands.md). */
const QUEUE_ENTRIES = 100_000;
const ENTRY_PATHS = 10_000;
const STDIN_BYTES = 2_560_000;
const HYDRA_EVENT_BYTES = 16 * 1024 * 1024;
const DRV_BYTES = 64 * 1024 * 1024;

/** `genpush --config FILE ARGS`, with `input` on standard input. */
async function genpush(config: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = await execa(process.execPath, ["--import", "tsx", cliEntry, "--config", config, ...args], {
    cwd: repoRoot,
    env: { ...nixEnv, OUT_PATHS: "", DRV_PATH: "", ...options.env },
    extendEnv: false,
    reject: false,
    timeout: 120_000,
    ...(options.input === undefined ? { stdin: "ignore" as const } : { input: options.input }),
  });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) } satisfies RunResult;
}

/** A configuration whose state directory is fresh: the one enqueue writes into. */
function queueConfig(extra: object = {}) {
  const stateDir = join(tempDir("genpush-limits-"), "state");
  const config = writeConfig({
    stateDir,
    caches: [{ name: "local", systems: ["x86_64-linux"], type: "nix", store: "file:///nonexistent/cache" }],
    ...extra,
  });
  return { stateDir, config };
}

// biome-ignore lint/suspicious/noExplicitAny: entries are checked field by field
function entries(stateDir: string): any[] {
  const dir = join(stateDir, "queue", "new");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith(".json"))
    .map((name) => JSON.parse(readFileSync(join(dir, name), "utf8")));
}

/** `count` distinct valid store paths, made by one evaluation (the same ones every run: cheap after the first). */
function storePaths(count: number): string[] {
  const expr = `builtins.concatStringsSep "\\n" (builtins.genList (i: builtins.toFile "gp-limits-\${toString i}" (toString i)) ${count})`;
  return nix("nix", ["eval", "--raw", "--impure", "--expr", expr]).split("\n");
}

test("enqueue: 10,000 paths are one entry; 10,001 are refused (exit 2), from standard input and from a Hydra event", async () => {
  const paths = storePaths(ENTRY_PATHS + 1);
  const { stateDir, config } = queueConfig();

  const over = await genpush(config, ["enqueue", "--stdin"], { input: `${paths.join("\n")}\n` });
  assert.equal(over.code, 2, explain(over));
  assert.match(over.stderr, /at most 10000 paths at once, got 10001/);
  assert.match(over.stderr, /enqueue them in several calls/);

  const dir = tempDir("genpush-hydra-");
  const event = (outputs: string[]) => {
    const file = join(dir, `event-${outputs.length}.json`);
    writeFileSync(file, JSON.stringify({ buildStatus: 0, outputs: outputs.map((path) => ({ name: "out", path })) }));
    return file;
  };
  const hydraOver = await genpush(config, ["enqueue", "--hydra-json", event(paths)]);
  assert.equal(hydraOver.code, 2, explain(hydraOver));
  assert.match(hydraOver.stderr, /at most 10000 paths/);
  assert.deepEqual(entries(stateDir), [], "nothing queued past the limit");

  const edge = await genpush(config, ["enqueue", "--hydra-json", event(paths.slice(0, ENTRY_PATHS))]);
  assert.equal(edge.code, 0, explain(edge));
  const [entry, ...more] = entries(stateDir);
  assert.deepEqual(more, []);
  assert.equal(entry.paths.length, ENTRY_PATHS, "the limit itself is one entry");
});

test("enqueue --stdin reads 2,560,000 bytes; one byte more is refused (exit 2)", async () => {
  const [path] = storePaths(1) as [string];
  const { stateDir, config } = queueConfig();
  // One path, then blank lines (read, and ignored) up to the size.
  const text = (size: number) => `${path}\n`.padEnd(size, "\n");

  const over = await genpush(config, ["enqueue", "--stdin"], { input: text(STDIN_BYTES + 1) });
  assert.equal(over.code, 2, explain(over));
  assert.match(over.stderr, /more than 10000 paths' worth on standard input/);
  assert.deepEqual(entries(stateDir), []);

  const edge = await genpush(config, ["enqueue", "--stdin"], { input: text(STDIN_BYTES) });
  assert.equal(edge.code, 0, explain(edge));
  assert.deepEqual(
    entries(stateDir).map((e) => e.paths),
    [[path]],
  );
});

test("enqueue --hydra-json reads an event of 16 MiB; one byte more is refused (exit 2)", async () => {
  const [path] = storePaths(1) as [string];
  const { stateDir, config } = queueConfig();
  const dir = tempDir("genpush-hydra-");
  // A real event's fields, padded with a string field up to the size.
  const event = (size: number) => {
    const head = JSON.stringify({ buildStatus: 0, system: "x86_64-linux", outputs: [{ name: "out", path }] });
    const padding = size - head.length - ',"padding":""'.length;
    const file = join(dir, `event-${size}.json`);
    writeFileSync(file, `${head.slice(0, -1)},"padding":"${"x".repeat(padding)}"}`);
    assert.equal(readFileSync(file).length, size);
    return file;
  };

  const over = await genpush(config, ["enqueue", "--hydra-json", event(HYDRA_EVENT_BYTES + 1)]);
  assert.equal(over.code, 2, explain(over));
  assert.match(over.stderr, /is 16777217 bytes, more than the 16777216 bytes allowed: not read/, explain(over));
  assert.deepEqual(entries(stateDir), []);

  const edge = await genpush(config, ["enqueue", "--hydra-json", event(HYDRA_EVENT_BYTES)]);
  assert.equal(edge.code, 0, explain(edge));
  assert.deepEqual(
    entries(stateDir).map((e) => e.paths),
    [[path]],
  );
});

test("a .drv of 64 MiB is read for its system; one byte more is refused before it is read (exit 2 naming it)", async () => {
  const [out] = storePaths(1) as [string];
  const { stateDir, config } = queueConfig();
  // A real derivation (instantiated, not built), padded up to the size by an attribute.
  const drv = (size: number) => {
    const expr = (padding: number) => `
      let double = s: s + s; chunk = "${"x".repeat(1024)}";
        big = ${"double (".repeat(16)}chunk${")".repeat(16)};
      in builtins.derivation {
        name = "gp-limits-drv"; system = builtins.currentSystem; builder = "/bin/sh";
        padding = builtins.substring 0 ${padding} big;
      }`;
    const overhead = readFileSync(nix("nix-instantiate", ["-E", expr(0)]).trim()).length;
    const path = nix("nix-instantiate", ["-E", expr(size - overhead)]).trim();
    assert.equal(readFileSync(path).length, size);
    return path;
  };

  const edge = drv(DRV_BYTES);
  const read = await genpush(config, ["enqueue"], { env: { DRV_PATH: edge, OUT_PATHS: out } });
  assert.equal(read.code, 0, explain(read));
  const [entry] = entries(stateDir);
  assert.deepEqual(entry.paths, [out]);
  assert.equal(entry.system, "x86_64-linux", "the system the derivation names");

  const large = drv(DRV_BYTES + 1);
  for (const env of [{ DRV_PATH: large }, { DRV_PATH: large, OUT_PATHS: out }]) {
    const refused = await genpush(config, ["enqueue"], { env });
    assert.equal(refused.code, 2, explain(refused));
    assert.ok(
      refused.stderr.includes(`${large} (from DRV_PATH) is 67108865 bytes, more than the 67108864 bytes allowed`),
      explain(refused),
    );
  }
  assert.equal(entries(stateDir).length, 1, "nothing more queued");
});

test("the queue holds 100,000 entries, new and pending; enqueue refuses the next one", async () => {
  const [path] = storePaths(1) as [string];
  const { stateDir, config } = queueConfig();
  const first = await genpush(config, ["enqueue", path]);
  assert.equal(first.code, 0, explain(first));
  // The queue as a push leaves it: entries recorded since (new/) and taken up (pending/),
  // both counted. Only their names are looked at to count them.
  const queue = join(stateDir, "queue");
  mkdirSync(join(queue, "pending"), { recursive: true });
  const start = Date.now() - 86_400_000;
  for (let i = 0; i < QUEUE_ENTRIES - 2; i++) {
    const dir = i % 2 === 0 ? "new" : "pending";
    closeSync(openSync(join(queue, dir, `${start + i}-1-${(i >>> 0).toString(16).padStart(8, "0")}.json`), "w"));
  }

  const edge = await genpush(config, ["enqueue", path]);
  assert.equal(edge.code, 0, `the 100,000th entry is taken\n${explain(edge)}`);

  const over = await genpush(config, ["enqueue", path]);
  assert.equal(over.code, 1, explain(over));
  assert.match(over.stderr, /the push queue is full: it holds 100000 entries \(at most 100000\)/);
  assert.match(over.stderr, /genpush push --queue/);
  const count = readdirSync(join(queue, "new")).length + readdirSync(join(queue, "pending")).length;
  assert.equal(count, QUEUE_ENTRIES);
});

test("enqueue reads no secret: a configuration whose key and token files exist only inside the push's unit queues", async () => {
  const [path] = storePaths(1) as [string];
  const dir = tempDir("genpush-secrets-");
  // Files the hook cannot read: absent here, as LoadCredential= files are outside the unit,
  // and one that is a directory (no secret can be read from it).
  mkdirSync(join(dir, "a-directory"));
  const { stateDir, config } = queueConfig({
    caches: [
      {
        name: "lan",
        systems: ["x86_64-linux"],
        type: "nix",
        store: "file:///nonexistent/cache",
        signingKeyFile: "/run/credentials/genpush-system.service/signing-key",
      },
      {
        name: "attic",
        systems: ["x86_64-linux"],
        type: "attic",
        endpoint: "https://attic.example.org",
        cache: "fort",
        tokenFile: join(dir, "a-directory"),
      },
      {
        name: "public",
        systems: ["x86_64-linux"],
        type: "cachix",
        cache: "example",
        tokenFile: join(dir, "gone"),
      },
    ],
  });
  const checked = await genpush(config, ["config", "check"]);
  assert.notEqual(checked.code, 0, `a push with these files would fail\n${explain(checked)}`);

  const r = await genpush(config, ["enqueue", path]);
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(
    entries(stateDir).map((e) => e.paths),
    [[path]],
  );
});

test("enqueue refuses a state directory that is not genpush's (exit 2) and creates nothing in it", async () => {
  const [path] = storePaths(1) as [string];
  const foreign = tempDir("genpush-not-state-");
  writeFileSync(join(foreign, "notes.txt"), "not genpush's\n");
  const config = writeConfig({
    stateDir: foreign,
    caches: [{ name: "local", systems: ["x86_64-linux"], type: "nix", store: "file:///nonexistent/cache" }],
  });
  const r = await genpush(config, ["enqueue", path]);
  assert.equal(r.code, 2, explain(r));
  assert.match(r.stderr, new RegExp(`state directory ${foreign} is not genpush's`));
  assert.deepEqual(readdirSync(foreign), ["notes.txt"], "nothing created in it");
});

test("a D-Bus service that takes the call and never answers costs 3 seconds: NetworkManager hung is not metered", async (t) => {
  const bus = await startBus("system");
  t.after(() => bus.stop());
  process.env.DBUS_SYSTEM_BUS_ADDRESS = bus.address;
  const hung = await startStandIn("silent-service", ["org.freedesktop.NetworkManager"], {
    DBUS_SYSTEM_BUS_ADDRESS: bus.address,
  });
  t.after(() => hung.stop());

  const { networkState } = await import("../../src/host/metered.js");
  const started = performance.now();
  const state = await Promise.race([
    networkState(),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no answer within 20 s")), 20_000)),
  ]);
  const seconds = (performance.now() - started) / 1000;
  assert.deepEqual(hung.lines, ["called org.freedesktop.DBus.Properties.Get"], "the call was received");
  assert.equal(state.metered, false);
  assert.match(state.detail, /NetworkManager not reachable: D-Bus system bus did not answer within 3s/);
  assert.ok(seconds >= 2.9, `it waited the bound out: ${seconds} s`);
  assert.ok(seconds < 10, `and no longer: ${seconds} s`);
});

test("a trigger with nothing new runs no Nix command; Nix's system features are read only when a cache names some", async (t) => {
  const s = await scenario();
  t.after(() => s.destroy());
  s.switchTo(1);
  const first = await s.run("push");
  assert.equal(first.code, 0, explain(first));

  const shims = hostShims();
  const idle = await runGenpush(["push", "--json"], { config: s.configFile(), env: { PATH: shims.path } });
  assert.equal(idle.code, 0, explain(idle));
  assert.equal(onlyResult(idle).status, "up-to-date");
  assert.deepEqual(
    shims.calls().map((c) => [c.name, ...c.args].join(" ")),
    [],
    "no child process at all",
  );

  const [feature] = (nix("nix", ["show-config"]).match(/^system-features = (.*)$/m)?.[1] ?? "").split(" ");
  assert.ok(feature, "the host's Nix has system features");
  s.config.caches[0].systemFeatures = [feature];
  const named = await runGenpush(["push", "--json"], { config: s.configFile(), env: { PATH: shims.path } });
  assert.equal(named.code, 0, explain(named));
  assert.equal(onlyResult(named).status, "up-to-date");
  assert.deepEqual(
    shims.calls().map((c) => [c.name, ...c.args].join(" ")),
    ["nix --extra-experimental-features nix-command show-config"],
    "one `nix show-config`, for the features",
  );
});

test("a push of the queue releases the queue's lock, and the compressor's groups: 64 NARs at most, in a temporary directory of the unit's runtime directory, removed after", async (t) => {
  const s = await scenario({ paths: 70 });
  t.after(() => s.destroy());
  const generation = s.build(1);
  const enqueued = await s.run("enqueue", generation.storePath);
  assert.equal(enqueued.code, 0, explain(enqueued));

  const shims = hostShims();
  const tmp = tempDir("genpush-tmpdir-");
  // 0700 and root's, as systemd makes the queue service's RuntimeDirectory=%N.
  const runtime = tempDir("genpush-runtime-");
  const pushed = await runGenpush(["push", "--queue", "--json"], {
    config: s.configFile(),
    env: { PATH: shims.path, TMPDIR: tmp, RUNTIME_DIRECTORY: runtime, XDG_RUNTIME_DIR: "" },
  });
  assert.equal(pushed.code, 0, explain(pushed));
  assert.equal(pushed.json.queue.done, 1, explain(pushed));
  assert.equal(pushed.json.queue.results[0].counts.uploaded, 70);

  assert.deepEqual(readdirSync(join(s.stateDir, "locks")), [], "the queue's lock is released");
  // xz (the default compression) ran over the small NARs a group at a time: the files after `--`,
  // in directories of the runtime directory (in memory, where systemd makes it), none of which is left.
  const runs = shims
    .calls()
    .filter((c) => c.name === "xz")
    .map((c) => c.args.slice(c.args.indexOf("--") + 1));
  for (const files of runs) for (const file of files) assert.ok(file.startsWith(`${runtime}/genpush-nars-`), file);
  for (const dir of [runtime, tmp]) {
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.startsWith("genpush-")),
      [],
      `no temporary directory of the compressor's is left in ${dir}`,
    );
  }
  const groups = runs.map((files) => files.length).sort((a, b) => b - a);
  assert.deepEqual(groups, [64, 6], "64 NARs in a group, and the 65th in the next");
});

test("a compressor that never finishes is ended within twice the cache's time-out plus its bytes' upload time", async (t) => {
  const s = await scenario({ paths: 12 });
  t.after(() => s.destroy());
  s.config.caches[0].timeoutSeconds = 1;
  s.switchTo(1);
  const xz = which("xz");
  assert.ok(xz, "xz is installed");
  // An xz that hangs as a stuck compressor would: the shim logs its call, then sleeps for ever.
  const shims = installShims({ xz }, "exec sleep 613");
  const tmp = tempDir("genpush-tmpdir-");
  const began = Date.now();
  // No runtime directory (a push run by hand as root): the group goes to TMPDIR.
  const pushed = await runGenpush(["push", "--json"], {
    config: s.configFile(),
    env: { PATH: shims.path, TMPDIR: tmp, RUNTIME_DIRECTORY: "", XDG_RUNTIME_DIR: "" },
  });
  const took = Date.now() - began;
  assert.equal(pushed.code, 1, explain(pushed));
  assert.ok(
    shims.calls().some((c) => c.name === "xz"),
    "the group went to xz",
  );
  assert.match(onlyResult(pushed).error.message, /^xz did not finish compressing \d+ NARs within 2s$/, explain(pushed));
  // 2 s and a few KiB at 64 KiB/s, then the kill; the rest is start-up and the cache's questions.
  assert.ok(took < 30_000, `the push ended after ${took} ms`);
  assert.equal(onlyResult(pushed).status, "failed", explain(pushed));
  assert.deepEqual(
    readdirSync(tmp).filter((name) => name.startsWith("genpush-")),
    [],
    "the temporary directory is removed after a compressor that was ended",
  );
  const sleeping = await execa("pgrep", ["-f", "^sleep 613$"], { reject: false });
  assert.equal(sleeping.stdout.trim(), "", "the stuck compressor was killed");
});
