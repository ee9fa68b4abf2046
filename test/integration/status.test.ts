// A cache that is down: the push fails, the work stays pending, and the next push
// after the cache is back catches up.
import assert from "node:assert/strict";
import { test } from "node:test";
import { explain, runGenpush } from "./harness/cli.js";
import { narinfoUris, onlyResult, scenario } from "./harness/fixture.js";
import { narinfo } from "./harness/nginx.js";
import { minus, rollback } from "./harness/nix.js";

test("cache down: push fails and stays pending; back up: the next push uploads", async (t) => {
  const s = await scenario({ paths: 60, changed: 3 });
  t.after(() => s.destroy());
  const g1 = s.switchTo(0);
  const first = await s.run("push", "--json");
  assert.equal(first.code, 0, explain(first));

  const g2 = s.switchTo(1);
  const added = minus(g2.closure, g1.closure);
  await s.cache.stop();

  const failed = await s.run("push", "--json");
  assert.equal(failed.code, 1, explain(failed));
  assert.equal(failed.json.ok, false);
  const res = onlyResult(failed);
  assert.equal(res.status, "failed");
  assert.equal(res.generation, 2);
  assert.equal(typeof res.error?.message, "string");
  assert.ok(res.error.message.length > 0, "the failure says why");

  const down = await s.run("status", "--json");
  assert.ok(down.json, explain(down));
  const [p] = down.json.profiles;
  assert.equal(p.profile, "test");
  assert.equal(p.path, s.profile);
  assert.equal(p.current?.generation, 2);
  assert.equal(p.current?.storePath, g2.storePath);
  const [c] = p.caches;
  assert.equal(c.cache, "local");
  assert.equal(c.pending, true);
  assert.equal(c.targetChanged, false, "a failure says nothing about where the cache points");
  assert.equal(c.lastPushed?.generation, 1, "lastPushed is unchanged by the failure");
  assert.equal(c.lastPushed?.storePath, g1.storePath);
  assert.equal(c.lastResult?.status, "failed");

  await s.cache.start();
  await s.cache.clearLog();
  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(onlyResult(r).status, "pushed");
  const requests = await s.cache.requests();
  const puts = requests.filter((q) => q.method === "PUT" && narinfo(q.uri)).map((q) => q.uri);
  assert.deepEqual(puts.sort(), narinfoUris(added));

  const up = await s.run("status", "--json");
  assert.ok(up.json, explain(up));
  const [after] = up.json.profiles[0].caches;
  assert.equal(after.pending, false);
  assert.equal(after.lastPushed?.generation, 2);
  assert.equal(after.lastPushed?.storePath, g2.storePath);
  assert.equal(after.lastResult?.status, "ok");
});

test("a rollback to the generation the cache has, after a newer one failed: up to date, last result ok", async (t) => {
  const s = await scenario({ paths: 8 });
  t.after(() => s.destroy());
  s.switchTo(0);
  assert.equal(onlyResult(await s.run("push", "--json")).status, "pushed");
  s.switchTo(1);
  await s.cache.stop();
  assert.equal(onlyResult(await s.run("push", "--json")).status, "failed");
  await s.cache.start();

  rollback(s.profile);
  const back = await s.run("push", "--json");
  assert.equal(onlyResult(back).status, "up-to-date", explain(back));
  const status = await s.run("status", "--json");
  const [cache] = status.json.profiles[0].caches;
  assert.equal(cache.pending, false);
  assert.equal(cache.lastResult.status, "ok", "the failure was the newer generation's, not this one's");
  assert.equal(cache.lastResult.generation, 1);
});

test("status before any push: current generation known, nothing pushed, work pending", async (t) => {
  const s = await scenario({ paths: 10 });
  t.after(() => s.destroy());
  const gen = s.switchTo(0);

  const r = await s.run("status", "--json");
  assert.ok(r.json, explain(r));
  const [p] = r.json.profiles;
  assert.equal(p.current?.generation, 1);
  assert.equal(p.current?.storePath, gen.storePath);
  const [c] = p.caches;
  assert.equal(c.lastPushed, null);
  assert.equal(c.lastResult, null);
  assert.equal(c.pending, true);
  assert.equal(await s.cache.count("PUT"), 0);
});

test("no D-Bus to ask: --json says bus null with the reason, the text one short line, and status still exits 0", async (t) => {
  const s = await scenario({ paths: 4 });
  t.after(() => s.destroy());
  s.switchTo(0);
  const env = { DBUS_SYSTEM_BUS_ADDRESS: "unix:path=/nonexistent/system_bus_socket" };
  const config = s.configFile();
  const json = await runGenpush(["status", "--json"], { config, env });
  assert.equal(json.code, 0, explain(json));
  assert.equal(json.json.units.bus, null, explain(json));
  assert.deepEqual(json.json.units.units, []);
  assert.match(json.json.units.error, /^no system bus reachable: /);
  const text = await runGenpush(["status"], { config, env });
  assert.equal(text.code, 0, explain(text));
  assert.match(text.stdout, /^units: not known here \(no systemd manager answered over D-Bus\)$/m);
  assert.doesNotMatch(text.stderr, /D-Bus|ENOENT/, "no error line for a missing bus");
});

test("a profile path with a typo: config check warns, status says so and calls nothing up to date, diff agrees with push", async (t) => {
  const s = await scenario({ paths: 4 });
  t.after(() => s.destroy());
  s.switchTo(0);
  const typo = s.profile.replace("/profiles/test", "/profiels/test");
  s.config.profiles[0].path = typo;
  const config = s.configFile();

  const check = await runGenpush(["config", "check", "--json"], { config });
  assert.equal(check.code, 0, explain(check));
  assert.ok(
    check.json.warnings.some((w: string) => w.includes(`${typo} does not exist yet`)),
    JSON.stringify(check.json.warnings),
  );
  const status = await runGenpush(["status"], { config });
  assert.equal(status.code, 0, explain(status));
  assert.match(status.stdout, /^test: does not exist yet \(.*\); neither does its directory: check the path$/m);
  assert.match(status.stdout, /^ {2}local: nothing to push yet, never pushed$/m, explain(status));
  assert.doesNotMatch(status.stdout, /up to date/);

  for (const command of [["push"], ["verify"], ["diff", "--profile", "test"]]) {
    const r = await runGenpush(command, { config });
    assert.equal(r.code, 0, `${command[0]}: ${explain(r)}`);
    assert.match(r.stderr, /profile test does not exist yet/, explain(r));
  }
});

test("status names the caches that do not serve a generation's system, with the systems they do serve", async (t) => {
  const s = await scenario({ paths: 4 });
  t.after(() => s.destroy());
  s.switchTo(0);
  s.config.caches.push({ name: "arm", systems: ["aarch64-linux"], type: "nix", store: "file:///nonexistent" });
  const json = await runGenpush(["status", "--json"], { config: s.configFile() });
  assert.equal(json.code, 0, explain(json));
  const [p] = json.json.profiles;
  assert.deepEqual(
    p.caches.map((c: { cache: string }) => c.cache),
    ["local"],
  );
  assert.deepEqual(p.otherCaches, [{ cache: "arm", systems: ["aarch64-linux"], why: "serves aarch64-linux" }]);
});
