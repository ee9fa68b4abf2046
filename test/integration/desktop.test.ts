// The desktop features against real D-Bus daemons, the real Nix store and a real nginx cache:
// failure notices sent to a notification server of the suite's own on a real
// `dbus-daemon --session`, and metered networks read from a stand-in NetworkManager
// (test/stand-ins) on a private bus at the system bus's address. test/e2e does the latter on
// the booted container's own system bus, through the units.
import assert from "node:assert/strict";
import { existsSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { explain, runGenpush } from "./harness/cli.js";
import { type Bus, type StandIn, startBus, startStandIn } from "./harness/dbus.js";
import { hashOf, onlyResult, scenario } from "./harness/fixture.js";
import { waitFor } from "./harness/nginx.js";
import { tempDir } from "./harness/nix.js";

interface Notify {
  appName: string;
  summary: string;
  body: string;
  urgency: number;
}

async function notificationServer(t: { after(fn: () => void): void }): Promise<{
  bus: Bus;
  server: StandIn;
  notices: () => Notify[];
}> {
  const bus = await startBus("session");
  t.after(() => bus.stop());
  const server = await startStandIn("notification-server", [], { DBUS_SESSION_BUS_ADDRESS: bus.address });
  t.after(() => server.stop());
  return { bus, server, notices: () => server.lines.map((line) => JSON.parse(line) as Notify) };
}

test("a push that fails is one desktop notice per generation and cache, and its recovery one more", async (t) => {
  const { bus, notices } = await notificationServer(t);
  const s = await scenario({ paths: 8 });
  t.after(() => s.destroy());
  const config = s.configFile();
  const env = { DBUS_SESSION_BUS_ADDRESS: bus.address };
  const push = () => runGenpush(["push"], { config, env });

  s.switchTo(0);
  await s.cache.stop();
  const failed = await push();
  assert.equal(failed.code, 1, explain(failed));
  assert.equal(notices().length, 1, explain(failed));
  const [notice] = notices();
  assert.equal(notice?.appName, "genpush");
  assert.equal(notice?.summary, "genpush: test generation 1 did not reach local");
  assert.match(notice?.body ?? "", /It stays pending/);
  assert.equal(notice?.urgency, 1, "normal urgency");

  const again = await push();
  assert.equal(again.code, 1, explain(again));
  assert.equal(notices().length, 1, "the same generation failing again is no news");

  s.switchTo(1);
  const next = await push();
  assert.equal(next.code, 1, explain(next));
  assert.deepEqual(
    notices().map((n) => n.summary),
    ["genpush: test generation 1 did not reach local", "genpush: test generation 2 did not reach local"],
  );

  await s.cache.start();
  const recovered = await push();
  assert.equal(recovered.code, 0, explain(recovered));
  assert.equal(notices().length, 3, explain(recovered));
  assert.equal(notices()[2]?.summary, "genpush: local has test generation 2 now");
  assert.equal(notices()[2]?.urgency, 0, "low urgency");

  s.switchTo(2);
  const quiet = await push();
  assert.equal(quiet.code, 0, explain(quiet));
  assert.equal(notices().length, 3, "with notify: failures, a push that works after one that worked says nothing");
});

test("notify: always tells of every upload, never of nothing", async (t) => {
  const { bus, notices } = await notificationServer(t);
  const s = await scenario({ paths: 8 });
  t.after(() => s.destroy());
  const env = { DBUS_SESSION_BUS_ADDRESS: bus.address };

  s.config.notify = "always";
  s.switchTo(0);
  const pushed = await runGenpush(["push"], { config: s.configFile(), env });
  assert.equal(pushed.code, 0, explain(pushed));
  assert.deepEqual(
    notices().map((n) => n.summary),
    ["genpush: test generation 1 pushed to local"],
  );

  s.config.notify = "never";
  const config = s.configFile();
  s.switchTo(1);
  await s.cache.stop();
  const failed = await runGenpush(["push"], { config, env });
  assert.equal(failed.code, 1, explain(failed));
  assert.equal(notices().length, 1, "notify: never sends nothing, failures neither");
});

test("no session bus, or no notification server on it: the push goes on as ever, silent about it", async (t) => {
  const bus = await startBus("session");
  t.after(() => bus.stop());
  const s = await scenario({ paths: 8 });
  t.after(() => s.destroy());
  const config = s.configFile();
  await s.cache.stop();
  let version = 0;
  for (const address of ["unix:path=/nonexistent/bus", bus.address]) {
    const env = { DBUS_SESSION_BUS_ADDRESS: address };
    s.switchTo(version++);
    const failed = await runGenpush(["push", "--json"], { config, env });
    assert.equal(failed.code, 1, explain(failed));
    assert.equal(onlyResult(failed).status, "failed");
    assert.doesNotMatch(failed.stderr, /D-Bus|notice|Notifications/, explain(failed));
    // Each run a new generation, so that each has a notice to send.
    s.switchTo(version++);
    const verbose = await runGenpush(["push", "--verbose"], { config, env });
    assert.equal(verbose.code, 1, explain(verbose));
    assert.match(
      verbose.stderr,
      new RegExp(`no desktop notice \\(test generation ${version} did not reach local\\)`),
      explain(verbose),
    );
  }
});

test("a notification server that takes the call and never answers holds the push up for 3 s at most", async (t) => {
  const bus = await startBus("session");
  t.after(() => bus.stop());
  const server = await startStandIn("notification-server", ["silent"], { DBUS_SESSION_BUS_ADDRESS: bus.address });
  t.after(() => server.stop());
  const s = await scenario({ paths: 8 });
  t.after(() => s.destroy());
  const config = s.configFile();
  await s.cache.stop();
  s.switchTo(0);
  const started = Date.now();
  const r = await runGenpush(["push", "--verbose"], {
    config,
    env: { DBUS_SESSION_BUS_ADDRESS: bus.address },
    timeoutMs: 60_000,
  });
  const took = Date.now() - started;
  assert.equal(r.code, 1, explain(r));
  assert.equal(server.lines.length, 1, "the server took the call");
  assert.match(
    r.stderr,
    /no desktop notice \(test generation 1 did not reach local\): D-Bus user bus did not answer within 3s/,
    explain(r),
  );
  t.diagnostic(`the push ended ${took} ms after it began`);
});

/** A bus at the system bus's address with a stand-in NetworkManager saying `metered` (NMMetered). */
async function networkManager(t: { after(fn: () => void): void }, metered: number) {
  const bus = await startBus("system");
  t.after(() => bus.stop());
  const env = { DBUS_SYSTEM_BUS_ADDRESS: bus.address };
  const nm = await startStandIn("network-manager", [String(metered)], env);
  t.after(() => nm.stop());
  return { env, nm, asked: () => nm.lines.filter((line) => line === "get").length };
}

test("on a metered network an upload over meteredLimit waits, held and pending; unmetered, the next push sends it", async (t) => {
  const { env, nm, asked } = await networkManager(t, 1);
  const s = await scenario({ paths: 8 });
  t.after(() => s.destroy());
  s.config.meteredLimit = "1 kB";
  const config = s.configFile();
  const gen = s.switchTo(0);

  const deferred = await runGenpush(["push", "--json"], { config, env });
  assert.equal(deferred.code, 0, explain(deferred));
  const result = onlyResult(deferred);
  assert.equal(result.status, "deferred");
  assert.match(
    result.reason,
    /^the network is metered \(NetworkManager: yes\) and the upload of [\d.]+ KiB of NAR is over meteredLimit \(1000 B\) waits for an unmetered network$/,
  );
  assert.equal(existsSync(join(s.cache.dir, `${hashOf(gen.storePath)}.narinfo`)), false, "nothing uploaded");
  assert.equal(asked(), 1);
  assert.equal(readlinkSync(join(s.stateDir, "gcroots", "test")), gen.storePath, "held against the collector");

  const text = await runGenpush(["push"], { config, env });
  assert.equal(text.code, 0, explain(text));
  assert.match(text.stderr, /did not push \d+ of 8 paths .* of test generation 1 to local: the network is metered/);
  assert.match(text.stderr, /--ignore-metered/, "the hint says how to push it now");

  const status = await runGenpush(["status", "--json"], { config, env });
  const [cache] = status.json.profiles[0].caches;
  assert.equal(cache.pending, true);
  assert.equal(cache.lastResult.status, "deferred");
  assert.match(cache.lastResult.message, /the network is metered/);
  const statusText = await runGenpush(["status"], { config, env });
  assert.match(statusText.stdout, /local: PENDING, never pushed; last result deferred .*: the network is metered/);

  nm.send("4"); // guess-no
  await waitFor("the stand-in to take the new value", () => nm.lines.includes("set 4"));
  const unmetered = await runGenpush(["push", "--json"], { config, env });
  assert.equal(unmetered.code, 0, explain(unmetered));
  assert.equal(onlyResult(unmetered).status, "pushed");
  assert.ok(existsSync(join(s.cache.dir, `${hashOf(gen.storePath)}.narinfo`)));
  assert.equal(existsSync(join(s.stateDir, "gcroots", "test")), false, "pushed: released");
});

test("metering: guess-yes counts, --ignore-metered and meteredLimit -1 push anyway, an upload under the limit never asks", async (t) => {
  const { env, asked } = await networkManager(t, 3);
  const s = await scenario({ paths: 8 });
  t.after(() => s.destroy());
  s.switchTo(0);

  // Under the default limit (50 MB): NetworkManager is not even asked.
  const small = await runGenpush(["push", "--json"], { config: s.configFile(), env });
  assert.equal(onlyResult(small).status, "pushed", explain(small));
  assert.equal(asked(), 0);

  s.config.meteredLimit = 0;
  s.switchTo(1);
  const zero = await runGenpush(["push", "--json"], { config: s.configFile(), env });
  assert.equal(onlyResult(zero).status, "deferred", explain(zero));
  assert.match(onlyResult(zero).reason, /\(NetworkManager: guess-yes\) and meteredLimit is 0: the upload of/);
  const anyway = await runGenpush(["push", "--json", "--ignore-metered"], { config: s.configFile(), env });
  assert.equal(onlyResult(anyway).status, "pushed", explain(anyway));

  s.config.meteredLimit = -1;
  s.switchTo(2);
  const asks = asked();
  const ignored = await runGenpush(["push", "--json"], { config: s.configFile(), env });
  assert.equal(onlyResult(ignored).status, "pushed", explain(ignored));
  assert.equal(asked(), asks, "meteredLimit -1: the network is not asked");
});

test("metering: the verify timer's repair and the queue wait too; no NetworkManager is no metering", async (t) => {
  const { env, nm } = await networkManager(t, 1);
  const s = await scenario({ paths: 8 });
  t.after(() => s.destroy());
  s.config.meteredLimit = 0;
  const config = s.configFile();
  const gen = s.switchTo(0);

  const repair = await runGenpush(["verify", "--repair", "--json"], { config, env });
  assert.equal(repair.code, 0, explain(repair));
  const [report] = repair.json.profiles[0].caches;
  assert.equal(report.status, "deferred");
  assert.match(report.reason, /the network is metered/);

  const queued = await runGenpush(["enqueue", gen.storePath], { config, env });
  assert.equal(queued.code, 0, explain(queued));
  const queue = await runGenpush(["push", "--queue", "--json"], { config, env });
  assert.equal(queue.code, 0, explain(queue));
  assert.equal(queue.json.queue.results[0].status, "deferred");
  assert.equal(queue.json.queue.done, 0, "the entry stays queued");

  // Given paths are pushed now or fail: nothing would ever push them later.
  // Not the generation itself: the repair below must still have something to upload.
  const part = gen.closure.find((path) => path !== gen.storePath) as string;
  const given = await runGenpush(["push", "--paths", part, "--json"], { config, env });
  assert.equal(given.code, 0, explain(given));
  assert.equal(given.json.paths[0].status, "pushed");

  // NetworkManager gone from the bus: not metered, everything goes.
  await nm.stop();
  const repaired = await runGenpush(["verify", "--repair", "--json"], { config, env });
  assert.equal(repaired.code, 0, explain(repaired));
  assert.equal(repaired.json.profiles[0].caches[0].status, "repaired", explain(repaired));
  const sent = await runGenpush(["push", "--queue", "--json"], { config, env });
  assert.equal(sent.code, 0, explain(sent));
  assert.equal(sent.json.queue.done, 1, "the entry leaves the queue");
});

test("metering: a cache on this machine is never held back, and the generation stays held for the one that is", async (t) => {
  const { env } = await networkManager(t, 1);
  const s = await scenario({ paths: 8 });
  t.after(() => s.destroy());
  const disk = tempDir("genpush-disk-cache-");
  s.config.meteredLimit = 0;
  s.config.caches.push({ name: "disk", type: "nix", systems: ["x86_64-linux"], store: `file://${disk}` });
  const gen = s.switchTo(0);
  const r = await runGenpush(["push", "--json"], { config: s.configFile(), env });
  assert.equal(r.code, 0, explain(r));
  assert.deepEqual(
    r.json.results.map((x: { cache: string; status: string }) => [x.cache, x.status]),
    [
      ["local", "deferred"],
      ["disk", "pushed"],
    ],
  );
  assert.equal(readlinkSync(join(s.stateDir, "gcroots", "test")), gen.storePath, "still held for the cache that waits");
});

test("a deferral between a failure and its recovery neither repeats the failure's notice nor loses the recovery's", async (t) => {
  const { bus, notices } = await notificationServer(t);
  const { env: system, nm } = await networkManager(t, 1);
  const s = await scenario({ paths: 8 });
  t.after(() => s.destroy());
  s.config.meteredLimit = 0;
  const config = s.configFile();
  const env = { ...system, DBUS_SESSION_BUS_ADDRESS: bus.address };
  const push = () => runGenpush(["push", "--json"], { config, env });
  s.switchTo(0);

  await s.cache.stop();
  assert.equal(onlyResult(await push()).status, "failed");
  await s.cache.start();
  assert.equal(onlyResult(await push()).status, "deferred");
  await s.cache.stop();
  assert.equal(onlyResult(await push()).status, "failed");
  assert.deepEqual(
    notices().map((n) => n.summary),
    ["genpush: test generation 1 did not reach local"],
  );
  await s.cache.start();
  nm.send("2");
  await waitFor("the stand-in to take the new value", () => nm.lines.includes("set 2"));
  assert.equal(onlyResult(await push()).status, "pushed");
  assert.deepEqual(
    notices().map((n) => n.summary),
    ["genpush: test generation 1 did not reach local", "genpush: local has test generation 1 now"],
  );
});
