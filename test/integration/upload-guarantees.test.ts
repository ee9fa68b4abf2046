// Two guarantees of genpush's own HTTP uploader, each made to show in the real nginx's access
// log (the honest request counter), so that losing either fails here:
// - a NAR or narinfo PUT that fails (503, a reset connection) is retried, and the push
//   succeeds with exactly one narinfo in the cache per path, each PUT to nginx once;
// - a path's narinfo is PUT only after the narinfos of all its references: a dependency whose
//   NAR takes long (4 MiB of random data through a slow link) holds back its small dependant's
//   narinfo, although the dependant's NAR was done long before.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startSlowProxy } from "../e2e/harness/slow-proxy.js";
import { startHostile } from "../faults/lib/hostile.js";
import { missingFromCache } from "../faults/lib/ledger.js";
import { explain } from "./harness/cli.js";
import { scenario } from "./harness/fixture.js";
import { closureOf, newSeed, nixBuild, switchProfile } from "./harness/nix.js";

test("failed PUTs of NARs and narinfos are retried: the push succeeds, one narinfo PUT per path", async (t) => {
  const s = await scenario({ paths: 10, changed: 2, sign: true });
  const hostile = await startHostile(s.cache.port);
  t.after(async () => {
    await hostile.close();
    await s.destroy();
  });
  s.config.caches[0].store = `${hostile.url}?compression=none`;
  s.configFile();
  const gen = s.switchTo(0);
  // Every PUT of the push fails once at least: more failures than NAR and narinfo PUTs of any one path.
  hostile.failPuts = 6;
  await s.cache.clearLog();

  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(hostile.served["fail-puts"], 6, "the failures were served");
  assert.equal(hostile.failPuts, 0);
  // Both kinds of failure were served (and retried: the push succeeded); the log says so once per round.
  assert.match(
    r.stderr,
    /warning: cache local (answered PUT \/\S+ with HTTP 503|is unreachable at .*); retrying/,
    explain(r),
  );
  const puts = (await s.cache.requests()).filter((q) => q.method === "PUT");
  const narinfos = puts.filter((q) => q.uri.endsWith(".narinfo")).map((q) => q.uri);
  const uploaded = r.json.results[0].counts.uploaded;
  assert.equal(uploaded, gen.closure.length, explain(r));
  assert.equal(narinfos.length, uploaded, "exactly one narinfo PUT per path reached the cache");
  assert.equal(new Set(narinfos).size, uploaded, "no narinfo PUT twice");
  assert.equal(puts.filter((q) => q.uri.startsWith("/nar/")).length, uploaded, "one NAR per path");
  assert.deepEqual(missingFromCache(s.cache.dir, gen.closure), []);
});

test("a narinfo goes up only after its references' narinfos, even when its own NAR is done first", async (t) => {
  const s = await scenario({ paths: 4, sign: true });
  const proxy = await startSlowProxy(s.cache.port, 2);
  t.after(async () => {
    await proxy.close();
    await s.destroy();
  });
  s.config.caches[0].store = `${proxy.url}?compression=none`;
  s.configFile();
  const seed = newSeed();
  const mk = (name: string, script: string) =>
    `builtins.derivation { name = "gp-${seed}-${name}"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" ${JSON.stringify(script)} ]; }`;
  const big = mk("big", "/bin/mkdir $out; /bin/dd if=/dev/urandom of=$out/data bs=1M count=4 2>/dev/null");
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Nix's own interpolation, in the derivation's script
  const top = nixBuild(`let big = ${big}; in ${mk("top", "/bin/mkdir $out; echo ${big} > $out/refs")}`);
  const closure = closureOf(top);
  switchProfile(s.profile, top);
  await s.cache.clearLog();

  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.json.results[0].counts.uploaded, closure.length, explain(r));
  const order = (await s.cache.requests())
    .filter((q) => q.method === "PUT" && q.uri.endsWith(".narinfo"))
    .map((q) => q.uri.slice(1, 33));
  const bigHash = (closure.find((p) => p.endsWith("-big")) ?? "").slice(
    "/nix/store/".length,
    "/nix/store/".length + 32,
  );
  const topHash = top.slice("/nix/store/".length, "/nix/store/".length + 32);
  assert.ok(order.includes(bigHash) && order.includes(topHash), order.join(" "));
  assert.ok(order.indexOf(bigHash) < order.indexOf(topHash), `narinfo PUT order: ${order.join(" ")}`);
});
