// genpush under a real systemd 252 booted in a container (harness/container.ts): path units,
// journald priorities, D-Bus unit states, a logind inhibitor and the sandbox, against a real
// nginx binary cache on the host's loopback. One container for the whole file; the scenarios
// run in order and build on each other (units installed once, generations numbered on).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type Cache, startCache } from "../integration/harness/nginx.js";
import { newSeed, pullIntoFreshStore } from "../integration/harness/nix.js";
import {
  bootContainer,
  type Container,
  e2eUnavailable,
  GENPUSH_ROOT,
  type JournalEntry,
  waitUntil,
} from "./harness/container.js";
import { type Built, buildInside, switchInside } from "./harness/generations.js";
import * as s from "./harness/scene.js";
import { startSlowProxy } from "./harness/slow-proxy.js";

// The suite runs wherever it can, and fails where it cannot, unless told to skip: a machine
// without root or nspawn must not pass by saying "skipped" in a line nobody reads.
const missing = e2eUnavailable();
const optedOut = process.env.GENPUSH_SKIP_E2E === "1";
if (missing && !optedOut) {
  test("the systemd e2e suite can run here", () =>
    assert.fail(`${missing}: run the tests as root with .ci/run's packages, or set GENPUSH_SKIP_E2E=1 to skip them`));
}
if (optedOut) process.stderr.write("\n*** GENPUSH_SKIP_E2E=1: the systemd e2e suite is SKIPPED ***\n\n");

describe("genpush under a real systemd", { skip: optedOut ? "GENPUSH_SKIP_E2E=1" : (missing ?? false) }, () => {
  let c: Container;
  let cache: Cache;
  let publicKey: string;
  const seed = newSeed();
  let version = 0;
  /**
   * A generation built inside. Every store connection also starts a run of genpush-system
   * (Nix 2.8's daemon chmods profiles/per-user/ as it opens the store, an event in the watched
   * directory), and a switch right after could meet the few milliseconds between such a run's
   * last look and its exit, where systemd 252 watches nothing (docs/units.md: "A switch during a
   * running push"; a switch during a run is a test of its own). So the system path unit does
   * not watch while a build runs: it is stopped, and started again after, when PathChanged=
   * looks only at what comes next. No run is left to wait for, and no sleep to guess.
   */
  const build = async (paths = 20, opts: { user?: string; seed?: string } = {}): Promise<Built> => {
    const watching = (await c.show("genpush-system.path", ["ActiveState"])).ActiveState === "active";
    if (watching) await c.run(["systemctl", "stop", "genpush-system.path"]);
    try {
      return await buildInside(c, { seed: opts.seed ?? seed, paths, changed: 3, version: ++version }, opts);
    } finally {
      await s.waitIdle(c, "genpush-system.service");
      // Builds come several a second: past the path unit's default start limit (5 in 10 s) without this.
      if (watching) await c.run(["systemctl", "reset-failed", "genpush-system.path"]);
      if (watching) await c.run(["systemctl", "start", "genpush-system.path"]);
    }
  };
  const DAEMON = { NIX_REMOTE: "daemon" };

  before(async () => {
    [c, cache] = await Promise.all([bootContainer(), startCache()]);
    publicKey = await s.installSystemScene(c, cache.url, "genpush-e2e-1");
  });
  after(async () => {
    await c?.destroy();
    await cache?.destroy();
  });

  test("units install --system; a switch of the system profile is pushed by the path unit", async (t) => {
    t.diagnostic(`container booted in ${c.bootMs} ms; failed at boot: ${c.bootFailures.join(", ") || "none"}`);
    const out = await c.run([...s.genpush, "units", "install", "--system"]);
    assert.match(out, /systemctl enable --now .*genpush-system\.path/);
    const { ExecStart = "" } = await c.show("genpush-system.service", ["ExecStart"]);
    assert.match(ExecStart, /path=\/usr\/bin\/node ; argv\[\]=\/usr\/bin\/node \/opt\/genpush\/dist\/cli\.js push/);
    await c.run(["systemctl", "enable", "--now", "genpush-system.path", "genpush-comin.path"]);

    const gen = await build();
    await switchInside(c, s.SYSTEM, [gen.storePath]);
    const n = await s.generationOf(c, s.SYSTEM);
    await s.waitPushed(c, cache, gen.storePath, "genpush-system.service");
    const line = await s.waitJournalLine(c, "genpush-system.service", s.pushedLine("system", n));
    assert.equal(line.PRIORITY, 6, line.MESSAGE);
    const pulled = pullIntoFreshStore(cache.url, gen.storePath, publicKey);
    assert.ok(pulled.ok, `the pushed generation pulls, signed by the credential's key:\n${pulled.stderr}`);
  });

  test("a switch while a run uploads is pushed by that same run (systemd starts no second one)", async () => {
    const unit = "genpush-system.service";
    const proxy = await startSlowProxy(cache.port, 100);
    await c.writeFile(s.CONFIG, s.systemConfig(proxy.url));
    try {
      const [a, b] = await Promise.all([build(8, { seed: newSeed() }), build(8, { seed: newSeed() })]);
      await switchInside(c, s.SYSTEM, [a.storePath]);
      await waitUntil(() => proxy.puts() > 0, 30_000, "an upload through the slow proxy").catch(async (e) =>
        assert.fail(`${e.message}\n${await s.journalText(c, unit)}`),
      );
      const { InvocationID: run = "" } = await c.show(unit, ["InvocationID"]);
      assert.ok(!s.inCache(cache, a.storePath), "the first switch is still uploading");
      await switchInside(c, s.SYSTEM, [b.storePath]);
      const n = await s.generationOf(c, s.SYSTEM);
      await s.waitPushed(c, cache, b.storePath, unit, { timeoutMs: 60_000 });
      assert.ok(s.inCache(cache, a.storePath), "the first switch's generation is pushed too");
      const said = (await c.journal(unit)).filter((e) => e.fields._SYSTEMD_INVOCATION_ID === run).map((e) => e.MESSAGE);
      const text = said.join("\n");
      assert.ok(
        said.some((m) => m.includes(`moved to generation ${n} while pushing; pushing it too`)),
        text,
      );
      assert.ok(
        said.some((m) => s.pushedLine("system", n).test(m)),
        text,
      );
    } finally {
      await c.writeFile(s.CONFIG, s.systemConfig(cache.url));
      await proxy.close();
    }
  });

  test("two switches in a burst: the last one is pushed and nothing stays pending", async () => {
    const [a, b] = await Promise.all([build(), build()]);
    const started = Date.now();
    await switchInside(c, s.SYSTEM, [a.storePath, b.storePath]);
    assert.ok(Date.now() - started < 1000, `both switches took ${Date.now() - started} ms`);
    await s.waitPushed(c, cache, b.storePath, "genpush-system.service");
    const status = await waitUntil(
      async () => {
        const json = await s.genpushJson(c, ["status"]);
        const system = json.profiles?.find((p: { profile: string }) => p.profile === "system");
        return system?.caches?.every((x: { pending: boolean }) => x.pending === false) && system;
      },
      30_000,
      "status --json: system not pending",
    ).catch(async (e) => assert.fail(`${e.message}\n${await s.journalText(c, "genpush-system.service")}`));
    assert.equal(status.current.storePath, b.storePath);
    assert.equal(status.caches[0].lastPushed.storePath, b.storePath);
  });

  test("comin: the profile's directory appears at its first deployment and the path unit still fires", async () => {
    const exists = await c.exec(["test", "-e", "/nix/var/nix/profiles/system-profiles"]);
    assert.notEqual(exists.code, 0, "system-profiles/ must not exist before comin's first deployment");
    assert.equal((await c.show("genpush-comin.path", ["ActiveState"])).ActiveState, "active");
    const gen = await build();
    // Nix 2.8's nix-env does not create a profile's directory ("opening directory ...: No such
    // file"); comin does, right before it switches: the same here, in one shell.
    const script = 'mkdir -p "$(dirname "$1")" && nix-env --profile "$1" --set "$2"';
    await c.run(["sh", "-ec", script, "sh", s.COMIN, gen.storePath], { env: DAEMON });
    await s.waitPushed(c, cache, gen.storePath, "genpush-comin.service");
    const line = await s.waitJournalLine(c, "genpush-comin.service", s.pushedLine("comin", 1));
    assert.equal(line.PRIORITY, 6, line.MESSAGE);
  });

  test("status --json reads the unit states from systemd over the system bus", async () => {
    const json = await s.genpushJson(c, ["status"]);
    assert.equal(json.units?.bus, "system", JSON.stringify(json.units));
    const names = json.units.units.map((u: { name: string }) => u.name);
    for (const name of ["genpush-system.path", "genpush-system.service", "genpush-comin.path"]) {
      assert.ok(names.includes(name), `${name} in ${names.join(", ")}`);
    }
    for (const unit of json.units.units) {
      if (unit.name.endsWith(".service")) continue; // a service may start meanwhile
      const real = await c.show(unit.name, ["ActiveState", "SubState"]);
      assert.equal(unit.activeState, real.ActiveState, unit.name);
      assert.equal(unit.subState, real.SubState, unit.name);
    }
    const path = json.units.units.find((u: { name: string }) => u.name === "genpush-system.path");
    assert.equal(path.activeState, "active");
    assert.equal(path.subState, "waiting");
  });

  test("a sleep inhibitor (delay) is held while uploading, and released after", async (t) => {
    const proxy = await startSlowProxy(cache.port, 100);
    await c.writeFile(s.CONFIG, s.systemConfig(proxy.url));
    try {
      const gen = await build(8, { seed: newSeed() }); // all new: 8 uploads through the slow proxy
      await switchInside(c, s.SYSTEM, [gen.storePath]);
      const n = await s.generationOf(c, s.SYSTEM);
      await c.run(["systemctl", "start", "--no-block", "genpush-system.service"]);
      // Seen while an upload is under way: PUTs went through, and the top path (uploaded last) is not there yet.
      const held = await waitUntil(
        async () => {
          if (s.inCache(cache, gen.storePath)) return "the upload finished before an inhibitor was seen";
          const uploading = proxy.puts() > 0;
          const list = await c.run(["systemd-inhibit", "--list", "--no-pager"]);
          const line = list.split("\n").find((l) => /^\s*genpush\s/.test(l));
          return uploading && !s.inCache(cache, gen.storePath) && line;
        },
        30_000,
        "a genpush inhibitor in systemd-inhibit --list while uploading",
      ).catch(async (e) => assert.fail(`${e.message}\n${await s.journalText(c, "genpush-system.service")}`));
      assert.match(held, /^\s*genpush\s/, `${held}\n${await s.journalText(c, "genpush-system.service")}`);
      assert.match(held, /\ssleep\s/, held);
      assert.match(held, new RegExp(`\\sgenpush: uploading system generation ${n}\\s+delay\\s*$`), held);
      await s.waitPushed(c, cache, gen.storePath, "genpush-system.service", { timeoutMs: 60_000 });
      assert.ok(proxy.chunks() > 0, "the upload went through the slow proxy");
      t.diagnostic(`${proxy.chunks()} chunks went through the slow proxy`);
      const list = await c.run(["systemd-inhibit", "--list", "--no-pager"]);
      assert.doesNotMatch(list, /^\s*genpush\s/m, list);
    } finally {
      await c.writeFile(s.CONFIG, s.systemConfig(cache.url));
      await proxy.close();
    }
  });

  test("cache down: the service fails with an error naming the cache; up again: pushed", async (t) => {
    await cache.stop();
    let down = true;
    t.after(() => (down ? cache.start() : undefined)); // whatever happens here, the next scenarios need it
    const gen = await build();
    await switchInside(c, s.SYSTEM, [gen.storePath]);
    const failed = await waitUntil(
      async () => {
        const u = await c.show("genpush-system.service", ["Result", "ActiveState", "InvocationID"]);
        return u.ActiveState === "failed" && u;
      },
      60_000,
      "genpush-system.service to fail",
    ).catch(async (e) => assert.fail(`${e.message}\n${await s.journalText(c, "genpush-system.service")}`));
    assert.equal(failed.Result, "exit-code");
    const ours = (e: JournalEntry) =>
      e.fields._SYSTEMD_INVOCATION_ID === failed.InvocationID && e.fields._TRANSPORT === "stdout";
    const run = (await c.journal("genpush-system.service")).filter(ours);
    const errors = (await c.journal("genpush-system.service", { priority: "err" })).filter(ours);
    const said = run.map((e) => `<${e.PRIORITY}>${e.MESSAGE}`).join("\n");
    assert.ok(
      errors.some((e) => e.PRIORITY === 3 && /\blan\b/.test(e.MESSAGE)),
      `journalctl -p err has an error (PRIORITY 3) naming the cache lan; the run said:\n${said}`,
    );
    // A retry is a warning (4), not journald's default 6 for a line without a prefix; and no
    // line shows a prefix journald did not take off (`<4>...` in the message itself).
    assert.ok(
      run.some((e) => e.PRIORITY === 4 && /\blan\b.*retrying/.test(e.MESSAGE)),
      `a retry warning (PRIORITY 4) naming the cache lan; the run said:\n${said}`,
    );
    assert.deepEqual(
      run.filter((e) => /^<\d>/.test(e.MESSAGE)).map((e) => e.MESSAGE),
      [],
      "every priority prefix was read by journald",
    );
    const garbled = run.filter((e) => s.isRawJson(e.MESSAGE) || e.binary);
    assert.equal((await c.show("genpush-system.path", ["ActiveState"])).ActiveState, "active");

    await cache.start();
    down = false;
    await c.exec(["systemctl", "start", "genpush-system.service"]);
    const result = (await c.show("genpush-system.service", ["Result"])).Result;
    assert.equal(result, "success", await s.journalText(c, "genpush-system.service"));
    assert.ok(s.inCache(cache, gen.storePath), "pushed once the cache is back");
    // Every line a sentence: no pino JSON, no control characters (journald keeps those as bytes).
    assert.deepEqual(
      garbled.map((e) => e.MESSAGE),
      [],
    );
  });

  test("on a metered network (NetworkManager on the system bus) the service's upload waits; unmetered, the next run pushes it", async (t) => {
    // A stand-in owns NetworkManager's name (NetworkManager cannot manage devices here), under a
    // policy of the kind NetworkManager installs: root owns the name, anyone reads properties.
    const policy = "/etc/dbus-1/system.d/genpush-test-network-manager.conf";
    await c.writeFile(policy, NM_POLICY);
    const reload = ["busctl", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus"];
    await c.run([...reload, "ReloadConfig"]);
    const standIn = `${GENPUSH_ROOT}/test/stand-ins/network-manager.mjs`;
    await c.run(["systemd-run", "--unit=genpush-test-nm", "--property=Type=exec", "node", standIn, "1"]);
    await c.writeFile(s.CONFIG, `${s.systemConfig(cache.url)}meteredLimit: 0\n`);
    t.after(async () => {
      await c.exec(["systemctl", "stop", "genpush-test-nm"]);
      await c.writeFile(s.CONFIG, s.systemConfig(cache.url));
      await c.exec(["rm", "-f", policy]);
      await c.exec([...reload, "ReloadConfig"]);
    });
    const nm = ["org.freedesktop.NetworkManager", "/org/freedesktop/NetworkManager", "org.freedesktop.NetworkManager"];
    await waitUntil(
      async () => (await c.exec(["busctl", "get-property", ...nm, "Metered"])).stdout.trim() === "u 1",
      10_000,
      "the stand-in NetworkManager on the system bus",
    );

    const gen = await build();
    await switchInside(c, s.SYSTEM, [gen.storePath]);
    const n = await s.generationOf(c, s.SYSTEM);
    const deferred = new RegExp(
      `^did not push \\d+ of \\d+ paths .* of system generation ${n} to lan: the network is metered \\(NetworkManager: yes\\)`,
    );
    const line = await s.waitJournalLine(c, "genpush-system.service", deferred);
    assert.equal(line.PRIORITY, 4, `a deferral is a warning: ${line.MESSAGE}`);
    await s.waitIdle(c, "genpush-system.service");
    assert.equal((await c.show("genpush-system.service", ["Result"])).Result, "success", "deferring is no failure");
    assert.equal(s.inCache(cache, gen.storePath), false, "nothing uploaded on the metered network");
    const status = await s.genpushJson(c, ["status"]);
    const [lan] = status.profiles.find((p: { profile: string }) => p.profile === "system").caches;
    assert.equal(lan.pending, true, JSON.stringify(lan));
    assert.equal(lan.lastResult.status, "deferred", JSON.stringify(lan));

    // NetworkManager gone (as on another network without it): the next run pushes.
    await c.run(["systemctl", "stop", "genpush-test-nm"]);
    await c.exec(["systemctl", "start", "genpush-system.service"]);
    assert.equal((await c.show("genpush-system.service", ["Result"])).Result, "success");
    assert.ok(s.inCache(cache, gen.storePath), await s.journalText(c, "genpush-system.service"));
  });

  test("the system services' sandbox rates an exposure of 2.0 or less", async () => {
    for (const unit of ["genpush-system.service", "genpush-queue.service"]) {
      const out = await c.run(["systemd-analyze", "security", unit, "--no-pager"]);
      const level = new RegExp(`Overall exposure level for ${unit.replace(".", "\\.")}: ([\\d.]+)`).exec(out)?.[1];
      assert.ok(level !== undefined, out);
      assert.ok(Number(level) <= 2.0, `${unit}: exposure ${level}:\n${out}`);
    }
  });

  test("genpush-verify.timer is active; genpush-verify.service gets the credential from the genpush-.service.d drop-in and verifies", async () => {
    await c.run(["systemctl", "enable", "--now", "genpush-verify.timer"]);
    const timer = await c.show("genpush-verify.timer", ["ActiveState", "NextElapseUSecRealtime"]);
    assert.equal(timer.ActiveState, "active", JSON.stringify(timer));
    assert.notEqual(timer.NextElapseUSecRealtime ?? "", "", JSON.stringify(timer));
    for (const unit of ["genpush-system.service", "genpush-comin.service", "genpush-verify.service"]) {
      const { DropInPaths = "" } = await c.show(unit, ["DropInPaths"]);
      assert.ok(DropInPaths.includes(s.DROP_INS[0] as string), `${unit}: ${DropInPaths}`);
    }
    await c.exec(["systemctl", "start", "genpush-verify.service"]);
    const { Result } = await c.show("genpush-verify.service", ["Result"]);
    assert.equal(Result, "success", await s.journalText(c, "genpush-verify.service"));
    const n = await s.generationOf(c, s.SYSTEM);
    const line = await s.waitJournalLine(
      c,
      "genpush-verify.service",
      new RegExp(`^lan holds all \\d+ paths of system generation ${n}$`),
    );
    assert.equal(line.PRIORITY, 6, line.MESSAGE);
  });

  test("genpush enqueue (Nix's post-build-hook) starts genpush-queue.service through its path unit, and the queue drains", async () => {
    await c.run(["systemctl", "enable", "--now", "genpush-queue.path", "genpush-queue.timer"]);
    assert.equal((await c.show("genpush-queue.path", ["SubState"])).SubState, "waiting");
    const [a, b] = await Promise.all([build(6, { seed: newSeed() }), build(6, { seed: newSeed() })]);
    await c.run([...s.genpush, "enqueue", a.storePath]);
    await s.waitPushed(c, cache, a.storePath, "genpush-queue.service");
    // Queued right after: the path unit starts the service again (its condition is checked again when a run ends).
    await c.run([...s.genpush, "enqueue", b.storePath]);
    await s.waitPushed(c, cache, b.storePath, "genpush-queue.service");
    for (const dir of ["new", "pending"]) {
      assert.equal(await c.run(["ls", "-A", `/var/lib/genpush/queue/${dir}`]), "", `queue/${dir} is empty`);
    }
    const line = await s.waitJournalLine(c, "genpush-queue.service", /^queue: 1 entry done, 0 left$/);
    assert.equal(line.PRIORITY, 6, line.MESSAGE);
    const { DropInPaths = "" } = await c.show("genpush-queue.service", ["DropInPaths"]);
    assert.ok(DropInPaths.includes(s.DROP_INS[0] as string), `the credentials drop-in: ${DropInPaths}`);
    const timer = await c.show("genpush-queue.timer", ["ActiveState"]);
    assert.equal(timer.ActiveState, "active");
  });

  test("systemd reads each service's start time-out (a backstop above genpush's 6 h) and LimitCORE=0", async () => {
    for (const unit of [
      "genpush-system.service",
      "genpush-comin.service",
      "genpush-verify.service",
      "genpush-queue.service",
    ]) {
      const shown = await c.show(unit, ["TimeoutStartUSec", "LimitCORE"]);
      assert.equal(shown.TimeoutStartUSec, "6h 15min", `${unit}: ${JSON.stringify(shown)}`);
      assert.equal(shown.LimitCORE, "0", `${unit}: ${JSON.stringify(shown)}`);
    }
  });

  test("a profile of another name, from another configuration file: units install makes its units, and they push it", async () => {
    const fleet = "/nix/var/nix/profiles/fleet/current";
    const config = "/etc/genpush/fleet.yaml";
    await c.writeFile(
      config,
      s
        .systemConfig(cache.url)
        .replace(/profiles:[\s\S]*?caches:/, `profiles:\n  - name: fleet\n    path: ${fleet}\ncaches:`),
    );
    const out = await c.run([...s.genpush, "--config", config, "units", "install", "--system"]);
    assert.match(out, /systemctl enable --now genpush-fleet\.path genpush-verify\.timer/);
    const { ExecStart = "" } = await c.show("genpush-fleet.service", ["ExecStart"]);
    assert.match(ExecStart, /--config \/etc\/genpush\/fleet\.yaml push --profile fleet/);
    await c.run(["mkdir", "-p", "/nix/var/nix/profiles/fleet"]);
    await c.run(["systemctl", "enable", "--now", "genpush-fleet.path"]);
    const gen = await build(6, { seed: newSeed() });
    await switchInside(c, fleet, [gen.storePath]);
    await s.waitPushed(c, cache, gen.storePath, "genpush-fleet.service");
    // Back to the file the other tests use.
    await c.run([...s.genpush, "units", "install", "--system"]);
  });

  test("a lingering user's home-manager switch is pushed by the user's path unit", async () => {
    await c.run(["useradd", "-m", "alice"]);
    await c.run(["usermod", "-aG", "nix-users", "alice"]);
    await c.run(["loginctl", "enable-linger", "alice"]);
    const { uid, home } = await c.user("alice");
    await waitUntil(
      async () => (await c.exec(["systemctl", "is-active", `user@${uid}.service`])).stdout.trim() === "active",
      30_000,
      `user@${uid}.service`,
    );
    const alice = { user: "alice" };
    await c.run(["mkdir", "-p", `${home}/.config/genpush`], alice);
    const key = `${home}/.config/genpush/signing-key`;
    await c.run(["nix-store", "--generate-binary-cache-key", "alice-1", key, `${key}.pub`], alice);
    await c.writeFile(`${home}/.config/genpush/config.yaml`, s.userConfig(cache.url), alice);
    const out = await c.run([...s.genpush, "units", "install", "--user"], alice);
    assert.match(out, /systemctl --user enable --now .*genpush-home-manager\.path/);
    await c.run(["systemctl", "--user", "enable", "--now", "genpush-home-manager.path"], alice);

    const gen = await build(20, { ...alice, seed: newSeed() });
    const profile = `${home}/.local/state/nix/profiles/home-manager`;
    await c.run(["mkdir", "-p", `${home}/.local/state/nix/profiles`], alice);
    await switchInside(c, profile, [gen.storePath], alice);
    await s.waitPushed(c, cache, gen.storePath, "genpush-home-manager.service", alice);
    const line = await s.waitJournalLine(c, "genpush-home-manager.service", s.pushedLine("home-manager", 1), alice);
    assert.equal(line.PRIORITY, 6, line.MESSAGE);
    // What the service recorded is what alice sees by hand (the default stateDir, both ways).
    const status = await s.genpushJson(c, ["status"], alice);
    const hm = status.profiles?.find((p: { profile: string }) => p.profile === "home-manager");
    const stateFiles = await c.exec(["find", home, "-name", "home-manager.json"], alice);
    assert.equal(hm?.caches?.[0]?.pending, false, `${JSON.stringify(hm)}\nstate files: ${stateFiles.stdout}`);
    assert.equal(status.units?.bus, "user", JSON.stringify(status.units));
  });

  test("a push that fails in the user service is a desktop notice on the user's session bus", async (t) => {
    const alice = { user: "alice" };
    const { uid } = await c.user("alice");
    const address = `unix:path=/run/user/${uid}/bus`;
    // A session bus and the suite's notification server, as a desktop session has them.
    const systemdRun = ["systemd-run", "--user", "--property=Type=exec"];
    await c.run(
      [...systemdRun, "--unit=genpush-test-bus", "dbus-daemon", "--session", `--address=${address}`, "--nofork"],
      alice,
    );
    const server = `${GENPUSH_ROOT}/test/stand-ins/notification-server.mjs`;
    await waitUntil(
      async () => (await c.exec(["test", "-S", `/run/user/${uid}/bus`])).code === 0,
      10_000,
      "alice's session bus",
    );
    await c.run(
      [
        ...systemdRun,
        "--unit=genpush-test-notifications",
        `--setenv=DBUS_SESSION_BUS_ADDRESS=${address}`,
        "node",
        server,
      ],
      alice,
    );
    await cache.stop();
    let down = true;
    t.after(async () => {
      if (down) await cache.start();
      await c.exec(["systemctl", "--user", "stop", "genpush-test-notifications", "genpush-test-bus"], alice);
    });
    const notices = async () =>
      (await c.journal("genpush-test-notifications", alice))
        .map((e) => e.MESSAGE)
        .filter((m) => m.startsWith("{"))
        .map((m) => JSON.parse(m) as { summary: string; urgency: number });
    await waitUntil(
      async () => (await c.journal("genpush-test-notifications", alice)).some((e) => e.MESSAGE === "ready"),
      10_000,
      "the notification server",
    );

    const gen = await build(20, { ...alice, seed: newSeed() });
    const { home } = await c.user("alice");
    await switchInside(c, `${home}/.local/state/nix/profiles/home-manager`, [gen.storePath], alice);
    const n = await s.generationOf(c, `${home}/.local/state/nix/profiles/home-manager`, alice);
    const said = await waitUntil(
      async () =>
        (await notices()).find((x) => x.summary === `genpush: home-manager generation ${n} did not reach lan`),
      60_000,
      "the failure notice",
    ).catch(async (e) => assert.fail(`${e.message}\n${await s.journalText(c, "genpush-home-manager.service", alice)}`));
    assert.equal(said.urgency, 1);

    await cache.start();
    down = false;
    await c.exec(["systemctl", "--user", "start", "genpush-home-manager.service"], alice);
    assert.ok(s.inCache(cache, gen.storePath), await s.journalText(c, "genpush-home-manager.service", alice));
    await waitUntil(
      async () => (await notices()).some((x) => x.summary === `genpush: lan has home-manager generation ${n} now`),
      10_000,
      "the recovery notice",
    );
    assert.equal((await notices()).length, 2, JSON.stringify(await notices()));
  });
});

/** The D-Bus policy for the stand-in NetworkManager, as NetworkManager's own package has one. */
const NM_POLICY = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="root">
    <allow own="org.freedesktop.NetworkManager"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.freedesktop.NetworkManager" send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.freedesktop.NetworkManager" send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
</busconfig>
`;
