// A fleet that switches together: ten "hosts" — each its own UTS namespace (`unshare --uts`,
// its own hostname), profile, state directory, HOME and XDG directories, all on the one real
// Nix store — push the same generation at the same moment to one real nginx that takes MKCOL,
// a cache each host's configuration marks as the fleet's (`fleet: true`). Each path is claimed before its upload (src/caches/claims.ts): every host exits 0 and records
// the generation, the cache offers it whole (pulled into a fresh store, signatures checked), and
// the NAR bytes the hosts uploaded are at most 1.1 times what the cache holds (without claims,
// every host uploads every path: ten times). Then the same with the first host to claim a path
// killed (-9) while it holds its claims: the others take them over once they have made no
// progress for the stale bound (twice the cache's timeoutSeconds) and finish within it, one host
// per claim (at most 1.3 times the bytes the cache holds, the killed host's partial uploads
// included). A fleet's cache
// without MKCOL: the push goes on as it would alone, with one debug line. Each host's metrics
// file (metricsFile) counts the paths it waited for, and the NAR bytes all uploaded add up to the
// closure's. A file:// cache: the claims are directories made with mkdir in the cache's
// directory, and `nix copy` (each call logged by a shim) is given each path once among the ten
// hosts; the first holder killed there too, the others take its claims over.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { cliEntry, explain, type RunResult, repoRoot, writeConfig } from "../integration/harness/cli.js";
import { type Cache, startCache } from "../integration/harness/nginx.js";
import {
  buildGeneration,
  type Generation,
  type Key,
  makeKey,
  newSeed,
  nix,
  nixEnv,
  switchProfile,
  tempDir,
} from "../integration/harness/nix.js";
import { Ledger, openReferences, summary } from "./lib/ledger.js";
import { installShims, which } from "./lib/shims.js";

const HOSTS = 10;
/** The cache's timeoutSeconds: a claim is stale after twice it. */
const TIMEOUT_SECONDS = 8;
const STALE_MS = 2 * TIMEOUT_SECONDS * 1000;
/** Every run here ends by this, or the test fails (a fleet that waits for ever). */
const RUN_BOUND_MS = 240_000;

interface Host {
  name: string;
  config: string;
  env: NodeJS.ProcessEnv;
  /** Its metrics file (metricsFile). */
  metrics: string;
}

interface Run {
  host: Host;
  child: ChildProcess;
  startedAt: number;
  out: string;
  err: string;
  exited: Promise<{ code: number | null; at: number }>;
}

/** A host of the fleet: its profile switched to `gen`, its own state, config and home. */
function makeHost(i: number, store: string, key: Key, gen: Generation, extraEnv: NodeJS.ProcessEnv = {}): Host {
  const root = tempDir(`genpush-fleet-host${i}-`);
  const profile = join(root, "profiles", "system");
  mkdirSync(join(root, "profiles"));
  switchProfile(profile, gen.storePath);
  const metrics = join(root, "genpush.prom");
  const config = writeConfig({
    stateDir: join(root, "state"),
    metricsFile: metrics,
    profiles: [{ name: "system", path: profile }],
    caches: [
      {
        name: "lan",
        type: "nix",
        systems: ["x86_64-linux"],
        store,
        signingKeyFile: key.secretKeyFile,
        timeoutSeconds: TIMEOUT_SECONDS,
        // A cache the fleet shares: without it no host claims anything (docs/fleet.md).
        fleet: true,
      },
    ],
  });
  const home = join(root, "home");
  mkdirSync(home);
  return {
    name: `fleet-host-${i}`,
    config,
    metrics,
    env: {
      ...nixEnv,
      HOME: home,
      XDG_CACHE_HOME: join(home, ".cache"),
      XDG_STATE_HOME: join(home, ".local", "state"),
      XDG_CONFIG_HOME: join(home, ".config"),
      ...extraEnv,
    },
  };
}

/** `genpush push --json -v` in the host's own UTS namespace, under its own hostname. */
function start(host: Host): Run {
  const child = spawn(
    "unshare",
    [
      "--uts",
      "sh",
      "-c",
      'hostname "$0" && exec "$@"',
      host.name,
      process.execPath,
      "--import",
      "tsx",
      cliEntry,
      "--config",
      host.config,
      "push",
      "--json",
      "-v",
    ],
    { cwd: repoRoot, env: host.env, detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  const run: Run = {
    host,
    child,
    startedAt: Date.now(),
    out: "",
    err: "",
    exited: new Promise((resolve) => child.once("close", (code) => resolve({ code, at: Date.now() }))),
  };
  child.stdout?.on("data", (d: Buffer) => {
    run.out += d.toString("utf8");
  });
  child.stderr?.on("data", (d: Buffer) => {
    run.err += d.toString("utf8");
  });
  const bound = setTimeout(() => kill(run), RUN_BOUND_MS);
  void run.exited.then(() => clearTimeout(bound));
  return run;
}

function kill(run: Run): void {
  try {
    if (run.child.pid) process.kill(-run.child.pid, "SIGKILL");
  } catch {}
}

async function result(run: Run): Promise<RunResult & { at: number }> {
  const { code, at } = await run.exited;
  const r: RunResult & { at: number } = { code: code ?? -1, stdout: run.out, stderr: run.err, at };
  try {
    r.json = JSON.parse(run.out);
  } catch {}
  return r;
}

/** Bytes of the NAR files the cache holds. */
function heldNarBytes(cache: Cache): number {
  const dir = join(cache.dir, "nar");
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

/**
 * Bytes the hosts sent in NAR uploads (whole requests as nginx received them), the number of
 * them, the NAR bytes the cache holds, and how many times those the hosts sent.
 */
async function uploadedNars(cache: Cache): Promise<{ bytes: number; puts: number; held: number; ratio: number }> {
  const puts = (await cache.requests()).filter((r) => r.method === "PUT" && r.uri.startsWith("/nar/"));
  const bytes = puts.reduce((sum, r) => sum + r.received, 0);
  const held = heldNarBytes(cache);
  return { bytes, puts: puts.length, held, ratio: bytes / held };
}

/** The claims left in the cache: hash -> holder line ("" when none was written). */
function claimsOnDisk(cache: Cache): Map<string, string> {
  const dir = join(cache.dir, "claims");
  const claims = new Map<string, string>();
  if (!existsSync(dir)) return claims;
  for (const hash of readdirSync(dir)) {
    const holder = join(dir, hash, "holder");
    let text = "";
    try {
      text = readFileSync(holder, "utf8");
    } catch {}
    claims.set(hash, text);
  }
  return claims;
}

/** Ten hosts pushing to `store`, each switched to one generation of 120 paths and its closure. */
function tenHosts(store: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const key = makeKey(`genpush-fleet-${newSeed()}`);
  // Real-sized NARs (16 to 70 KiB of random data each, which no compressor shrinks).
  const gen = buildGeneration({ seed: newSeed(), paths: 120, leafBytes: "i: 12000 + 400 * i" });
  const hosts = Array.from({ length: HOSTS }, (_, i) => makeHost(i, store, key, gen, extraEnv));
  return { key, gen, hosts };
}

/** Ten hosts on one nginx that takes MKCOL. */
async function fleet(extraEnv: NodeJS.ProcessEnv = {}) {
  const cache = await startCache({ claims: true });
  return { cache, ...tenHosts(`${cache.url}?compression=zstd`, extraEnv) };
}

/**
 * A `nix` whose `path-info` (each host's closure query, before it asks the cache anything)
 * waits until every host has reached it, 60 s at most: the hosts ask the cache together, not
 * one after another as their starts (ten Node processes on two cores) spread them.
 */
function startingTogether() {
  const nix = which("nix");
  assert.ok(nix, "nix is installed");
  const ready = tempDir("genpush-fleet-ready-");
  return installShims(
    { nix },
    `case " $* " in *" path-info "*)
  : >"${ready}/$$"
  i=0
  while [ "$(ls '${ready}' | wc -l)" -lt ${HOSTS} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done;;
esac`,
  );
}

/** Every run exits 0 having pushed the generation (told to the ledger): their results. */
async function pushedAll(runs: Run[], books: Ledger): Promise<(RunResult & { at: number })[]> {
  const results = await Promise.all(runs.map(result));
  for (const [i, r] of results.entries()) {
    assert.equal(r.code, 0, `${runs[i]?.host.name}: ${explain(r)}`);
    assert.equal(r.json?.results?.[0]?.status, "pushed", explain(r));
    books.reported(r.json);
  }
  return results;
}

/** Kill (-9) the first run seen holding a claim (its pid in a holder line of `holders()`), once it has exited. */
async function killFirstHolder(
  runs: Run[],
  holders: () => Iterable<string>,
): Promise<{ victim: Run; killedAt: number }> {
  let victim: Run | undefined;
  const deadline = Date.now() + RUN_BOUND_MS;
  while (!victim && Date.now() < deadline) {
    for (const holder of holders()) {
      const pid = Number(/pid=(\d+)/.exec(holder)?.[1]);
      victim = runs.find((run) => run.child.pid === pid);
      if (victim) break;
    }
    if (!victim) await new Promise((ok) => setTimeout(ok, 2));
  }
  assert.ok(victim, "a host claimed a path");
  kill(victim);
  const killedAt = Date.now();
  await victim.exited;
  return { victim, killedAt };
}

function assertWhole(books: Ledger, cache: Cache, key: Key): string {
  assert.deepEqual(openReferences(cache.dir), [], "a narinfo whose references are not all in the cache");
  const tally = books.close(cache.dir, { cacheUrl: cache.url, publicKey: key.publicKey });
  assert.deepEqual(tally.lost, [], `generation lost; the pull said:\n${tally.pull}`);
  return summary(tally);
}

test("ten hosts switching at once upload each path once: at most 1.1x the bytes the cache holds", async (t) => {
  const { cache, key, gen, hosts } = await fleet({ PATH: startingTogether().path });
  t.after(() => cache.destroy());
  const books = new Ledger("fleet");
  books.switchedTo({ ...gen, label: "the fleet's generation" });
  books.fault(`${HOSTS} hosts pushing the same generation at the same moment`);

  const results = await pushedAll(hosts.map(start), books);
  for (const r of results) assert.equal(r.json.results[0].storePath, gen.storePath, explain(r));
  t.diagnostic(assertWhole(books, cache, key));

  const { bytes, puts, held, ratio } = await uploadedNars(cache);
  t.diagnostic(
    `${HOSTS} hosts: ${puts} NAR uploads, ${bytes} bytes sent for ${held} held (${ratio.toFixed(2)}x), ${gen.closure.length} paths`,
  );
  assert.ok(ratio <= 1.1, `uploaded ${ratio.toFixed(2)}x what the cache holds`);
  assert.deepEqual([...claimsOnDisk(cache).keys()], [], "claims left behind by hosts that finished");
  // Each host's metrics file says what it uploaded itself and what it waited for: together, the closure once.
  const sample = (host: Host, name: string) =>
    Number(
      new RegExp(`^${name}\\{profile="system",cache="lan",host="${host.name}"\\} (\\d+)$`, "m").exec(
        readFileSync(host.metrics, "utf8"),
      )?.[1] ?? Number.NaN,
    );
  const waited = hosts.reduce((sum, host) => sum + sample(host, "genpush_last_push_waited_paths"), 0);
  const narBytes = hosts.reduce((sum, host) => sum + sample(host, "genpush_last_push_uploaded_nar_bytes"), 0);
  // The closure's NAR bytes as the store records them (a host's own `narBytes` counts only what it
  // found missing when it asked, which is less when others were quicker).
  const closureNarBytes = nix("nix-store", ["--query", "--size", ...gen.closure])
    .trim()
    .split("\n")
    .reduce((sum, size) => sum + Number(size), 0);
  t.diagnostic(
    `metrics: ${waited} paths waited for, ${narBytes} NAR bytes uploaded by all (closure: ${closureNarBytes})`,
  );
  assert.ok(waited > 0, "the hosts' metrics count the paths they waited for");
  assert.ok(
    narBytes >= closureNarBytes && narBytes <= 1.1 * closureNarBytes,
    "the hosts' uploaded NAR bytes add up to the closure's",
  );
});

test("the first uploader killed (-9) holding its claims: the others take them over within the stale bound", async (t) => {
  const { cache, key, gen, hosts } = await fleet();
  t.after(() => cache.destroy());
  const books = new Ledger("fleet");
  books.switchedTo({ ...gen, label: "the fleet's generation" });

  const runs = hosts.map(start);
  // The first host seen holding a claim (its holder line names its pid) is killed, with its claims.
  const { victim, killedAt } = await killFirstHolder(runs, () => claimsOnDisk(cache).values());
  const left = [...claimsOnDisk(cache)].filter(([, holder]) => holder.includes(`pid=${victim.child.pid} `));
  books.fault(`${victim.host.name} killed (-9) holding ${left.length} claims; ${HOSTS - 1} hosts wait for them`);
  assert.ok(left.length > 0, "the killed host still held claims");

  const results = await pushedAll(
    runs.filter((run) => run !== victim),
    books,
  );
  const slowest = Math.max(...results.map((r) => r.at)) - killedAt;
  t.diagnostic(`the last host ended ${slowest} ms after the kill (stale bound ${STALE_MS} ms)`);
  // The stale bound, a lease's renewal (a quarter of it) and the uploads taken over, on a loaded machine.
  assert.ok(slowest <= 2 * STALE_MS + 30_000, `the others ended ${slowest} ms after the kill`);
  assert.ok(
    results.some((r) => /taking it over/.test(r.stderr)),
    "some host said it took a stale claim over",
  );
  t.diagnostic(assertWhole(books, cache, key));
  // Exactly one host takes each stale claim over (the next generation's MKCOL): the bytes sent
  // twice are the killed host's partial uploads only.
  const { ratio } = await uploadedNars(cache);
  t.diagnostic(`uploaded ${ratio.toFixed(2)}x what the cache holds`);
  assert.ok(ratio <= 1.3, `uploaded ${ratio.toFixed(2)}x what the cache holds: a stale claim taken over twice`);
});

test("a fleet's cache without MKCOL: each host uploads as it would alone, saying so once in the debug log", async (t) => {
  const cache = await startCache();
  t.after(() => cache.destroy());
  const key = makeKey(`genpush-fleet-${newSeed()}`);
  const gen = buildGeneration({ seed: newSeed(), paths: 12 });
  const books = new Ledger("fleet");
  books.switchedTo({ ...gen, label: "a generation pushed to a cache without MKCOL" });
  books.fault("a cache that answers MKCOL with 405");
  const r = await result(start(makeHost(0, `${cache.url}?compression=zstd`, key, gen)));
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.json?.results?.[0]?.status, "pushed", explain(r));
  books.reported(r.json);
  const said = r.stderr.split("\n").filter((line) => /takes no MKCOL/.test(line));
  assert.equal(said.length, 1, explain(r));
  const mkcols = (await cache.requests()).filter((req) => req.method === "MKCOL");
  assert.ok(
    mkcols.every((req) => req.status === 405),
    JSON.stringify(mkcols),
  );
  assert.ok(mkcols.length <= 2, `${mkcols.length} MKCOLs: the probe only`);
  t.diagnostic(assertWhole(books, cache, key));
});

/** Ten hosts on one file:// cache directory; each host's `nix` logged by a shim. */
function fileFleet() {
  const dir = tempDir("genpush-fleet-file-");
  const nix = which("nix");
  assert.ok(nix, "nix on PATH");
  const shims = installShims({ nix });
  const { key, gen, hosts } = tenHosts(`file://${dir}?compression=zstd`, { PATH: shims.path });
  /** The paths each `nix copy` was given, counted over all hosts. */
  const copied = () => {
    const counts = new Map<string, number>();
    for (const call of shims.calls()) {
      if (!call.args.includes("copy")) continue;
      for (const path of call.args.slice(call.args.indexOf("--") + 1)) counts.set(path, (counts.get(path) ?? 0) + 1);
    }
    return counts;
  };
  return { dir, key, gen, hosts, copied };
}

/** The claims left in a file:// cache directory. */
function fileClaimsLeft(dir: string): string[] {
  return existsSync(join(dir, "claims")) ? readdirSync(join(dir, "claims")) : [];
}

test("ten hosts switching at once on one file:// cache: nix copy is given each path once among them", async (t) => {
  const { dir, key, gen, hosts, copied } = fileFleet();
  const books = new Ledger("fleet");
  books.switchedTo({ ...gen, label: "the fleet's generation (file://)" });
  books.fault(`${HOSTS} hosts pushing the same generation at the same moment to one file:// cache`);
  await pushedAll(hosts.map(start), books);
  assert.deepEqual(openReferences(dir), [], "a narinfo whose references are not all in the cache");
  const tally = books.close(dir, { cacheUrl: `file://${dir}`, publicKey: key.publicKey });
  assert.deepEqual(tally.lost, [], `generation lost; the pull said:\n${tally.pull}`);
  t.diagnostic(summary(tally));
  const counts = copied();
  const total = [...counts.values()].reduce((sum, n) => sum + n, 0);
  t.diagnostic(`${HOSTS} hosts: nix copy given ${total} paths for ${gen.closure.length} in the closure`);
  assert.ok(total >= counts.size && counts.size > 0, "the hosts uploaded with nix copy");
  // No host failed or was killed: no claim was taken over, so no path went to nix copy twice.
  const twice = [...counts].filter(([, n]) => n > 1).map(([path]) => path);
  assert.deepEqual(twice, [], `paths given to nix copy more than once (${total} for ${gen.closure.length})`);
  assert.deepEqual(fileClaimsLeft(dir), [], "claims left behind by hosts that finished");
});

test("file://: the first uploader killed (-9) holding its claims: the others take them over", async (t) => {
  const { dir, key, gen, hosts, copied } = fileFleet();
  const books = new Ledger("fleet");
  books.switchedTo({ ...gen, label: "the fleet's generation (file://)" });
  const runs = hosts.map(start);
  const holders = () =>
    fileClaimsLeft(dir).map((claim) => {
      try {
        return readFileSync(join(dir, "claims", claim, "holder"), "utf8");
      } catch {
        return "";
      }
    });
  const { victim, killedAt } = await killFirstHolder(runs, holders);
  books.fault(`${victim.host.name} killed (-9) holding claims on a file:// cache; ${HOSTS - 1} hosts wait for them`);
  const results = await pushedAll(
    runs.filter((run) => run !== victim),
    books,
  );
  const slowest = Math.max(...results.map((r) => r.at)) - killedAt;
  t.diagnostic(`the last host ended ${slowest} ms after the kill (stale bound ${STALE_MS} ms)`);
  assert.ok(slowest <= 2 * STALE_MS + 30_000, `the others ended ${slowest} ms after the kill`);
  assert.ok(
    results.some((r) => /taking it over/.test(r.stderr)),
    "some host said it took a stale claim over",
  );
  assert.deepEqual(fileClaimsLeft(dir), [], "claims left behind once the others took them over and finished");
  const tally = books.close(dir, { cacheUrl: `file://${dir}`, publicKey: key.publicKey });
  assert.deepEqual(tally.lost, [], `generation lost; the pull said:\n${tally.pull}`);
  t.diagnostic(summary(tally));
  const total = [...copied().values()].reduce((sum, n) => sum + n, 0);
  t.diagnostic(`nix copy given ${total} paths for ${gen.closure.length} in the closure`);
  assert.ok(total <= 1.3 * gen.closure.length, `nix copy given ${total} paths for ${gen.closure.length}`);
});
