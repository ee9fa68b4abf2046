// What a post-build hook, a Hydra RunCommand or a script can hand `genpush enqueue`, against the
// real Nix store: a path on disk in /nix/store that Nix never registered, a `.drv` (queued as
// itself, never built), a $DRV_PATH that is a store path linking to a FIFO, a FIFO in the store
// itself, a 160 MiB "derivation", and a Hydra event naming 100,000 distinct paths. Every enqueue
// runs with Nix's substituters set to a server of the test's own that counts what it is asked:
// enqueue must ask it nothing. Each bad input is exit 2 naming it, within bounded time and
// memory, and queues nothing; the good builds queued beside them reach the cache.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { execa } from "execa";
import { explain, repoRoot, runGenpush } from "../integration/harness/cli.js";
import { hashOf, scenario } from "../integration/harness/fixture.js";
import { buildDerivations, closureOf, isValid, nix, nixEnv, tempDir } from "../integration/harness/nix.js";
import { Ledger, summary } from "./lib/ledger.js";

const BASE32 = "0123456789abcdfghijklmnpqrsvwxyz";

/** A store path no Nix ever made: its hash random, its name this run's. */
function unregisteredPath(seed: string, name: string): string {
  const hash = [...randomBytes(32)].map((b) => BASE32[b % 32]).join("");
  return `/nix/store/${hash}-gp-${seed}-${name}`;
}

/** A substituter that counts every request and has nothing. */
async function countingSubstituter() {
  let requests = 0;
  const server = createServer((_, res) => {
    requests++;
    res.writeHead(404).end();
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, requests: () => requests, close: () => new Promise((ok) => server.close(ok)) };
}

/** The built CLI under /usr/bin/time -v: the run, and its peak resident set in bytes. */
async function measured(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number) {
  const started = Date.now();
  const r = await execa("/usr/bin/time", ["-v", process.execPath, join(repoRoot, "dist", "cli.js"), ...args], {
    env: { ...nixEnv, ...env },
    extendEnv: false,
    reject: false,
    stdin: "ignore",
    timeout: timeoutMs,
  });
  const stderr = String(r.stderr ?? "");
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  return {
    code: r.exitCode ?? -1,
    stdout: String(r.stdout ?? ""),
    stderr,
    ms: Date.now() - started,
    peakBytes: rss ? Number(rss[1]) * 1024 : Number.POSITIVE_INFINITY,
  };
}

const MiB = 1024 * 1024;

test("enqueue takes only valid store paths and readable derivations, asks no cache, and refuses the rest early", async (t) => {
  const s = await scenario({ sign: true });
  const substituter = await countingSubstituter();
  const litter: string[] = [];
  t.after(async () => {
    for (const path of litter) rmSync(path, { recursive: true, force: true });
    await substituter.close();
    await s.destroy();
  });
  const books = new Ledger("enqueue-input");
  const config = s.configFile();
  // Every enqueue below would reach this server if it substituted anything.
  const env = {
    NIX_CONFIG: `experimental-features = nix-command\nsubstituters = ${substituter.url}\n`,
    OUT_PATHS: "",
    DRV_PATH: "",
  };
  const enqueue = (args: string[], more: NodeJS.ProcessEnv = {}) =>
    runGenpush(["enqueue", ...args], { config, env: { ...env, ...more }, timeoutMs: 60_000 });
  const queued = () => {
    const dir = join(s.stateDir, "queue", "new");
    return existsSync(dir) ? readdirSync(dir).map((name) => JSON.parse(readFileSync(join(dir, name), "utf8"))) : [];
  };
  const [out] = buildDerivations(s.seed, 1) as [string];

  await t.test("a path on disk in the store that Nix never registered is exit 2 naming it", async () => {
    const path = unregisteredPath(s.seed, "on-disk");
    mkdirSync(path);
    litter.push(path);
    const r = await enqueue([out, path]);
    books.fault("a store path on disk but not valid");
    assert.equal(r.code, 2, explain(r));
    assert.match(r.stderr, new RegExp(`not in the local store: ${path} \\(from the command line\\)`), explain(r));
    assert.match(r.stderr, /never builds, substitutes or fetches/, explain(r));
    assert.equal(substituter.requests(), 0, "enqueue asked a substituter");
    assert.deepEqual(queued(), []);
  });

  await t.test("a .drv is queued as itself, not built, and push --queue sends the derivation", async () => {
    const expr = `builtins.derivation { name = "gp-${s.seed}-unbuilt"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "echo built > $out" ]; }`;
    const drv = nix("nix-instantiate", ["-E", expr]).trim();
    const output = nix("nix-store", ["-q", "--outputs", drv]).trim();
    assert.ok(!isValid(output));
    const r = await enqueue([drv]);
    assert.equal(r.code, 0, explain(r));
    assert.ok(!isValid(output), "enqueue built the derivation");
    assert.equal(substituter.requests(), 0, "enqueue asked a substituter");
    const [entry, ...more] = queued();
    assert.deepEqual(more, []);
    assert.deepEqual(entry.paths, [drv]);
    const roots = join(s.stateDir, "queue", "roots", entry.id);
    assert.deepEqual(
      readdirSync(roots).map((name) => readlinkSync(join(roots, name))),
      [drv],
      "the .drv itself is held against garbage collection",
    );
    // nginx takes genpush's own uploads; a file:// cache takes `nix copy`'s.
    const files = tempDir("genpush-file-cache-");
    s.config.caches.push({ name: "files", systems: ["x86_64-linux"], type: "nix", store: `file://${files}` });
    s.configFile();
    const pushed = await s.run("push", "--queue", "--json");
    assert.equal(pushed.code, 0, explain(pushed));
    assert.equal(pushed.json.queue.done, 1, explain(pushed));
    for (const dir of [s.cache.dir, files]) {
      assert.ok(existsSync(join(dir, `${hashOf(drv)}.narinfo`)), `the derivation is in ${dir}`);
    }
    s.config.caches.pop();
    s.configFile();
    assert.ok(!isValid(output), "push built the derivation");
  });

  await t.test(
    "$DRV_PATH linking to a FIFO, or a FIFO itself, is exit 2 at once, not a hook waiting for ever",
    async () => {
      const dir = tempDir("genpush-fifo-");
      const fifo = join(dir, "fifo");
      await execa("mkfifo", [fifo]);
      // A real build whose output is a link out of the store to the FIFO.
      const expr = `builtins.derivation { name = "gp-${s.seed}-to-fifo"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" "/bin/ln -s ${fifo} $out" ]; }`;
      const link = nix("nix-build", ["--no-out-link", "--option", "substituters", "", "-E", expr]).trim();
      assert.equal(readlinkSync(link), fifo);
      const inStore = unregisteredPath(s.seed, "fifo.drv");
      await execa("mkfifo", [inStore]);
      litter.push(inStore);
      for (const [drvPath, said] of [
        [link, "is a symbolic link, not a file"],
        [inStore, "is a FIFO \\(named pipe\\), not a regular file"],
      ] as const) {
        const r = await enqueue([], { DRV_PATH: drvPath });
        books.fault(`DRV_PATH ${said.replace(/\\/g, "")}`);
        assert.equal(r.code, 2, explain(r));
        assert.match(r.stderr, new RegExp(`the derivation ${drvPath} \\(from DRV_PATH\\) ${said}`), explain(r));
      }
      assert.deepEqual(queued(), [], "nothing was queued");
    },
  );

  await t.test("a 160 MiB $DRV_PATH is refused before a byte of it is read", async () => {
    const big = unregisteredPath(s.seed, "big.drv");
    writeFileSync(big, "Derive([");
    truncateSync(big, 160 * MiB);
    litter.push(big);
    const r = await measured(["--config", config, "enqueue"], { ...env, DRV_PATH: big }, 60_000);
    books.fault("a 160 MiB derivation");
    // Reading it whole took 211 MB; genpush alone stays far below 128 MiB.
    assert.ok(r.peakBytes < 128 * MiB, `peak RSS ${Math.round(r.peakBytes / MiB)} MiB`);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`the derivation ${big} \\(from DRV_PATH\\) is 160 MiB, more than the 64 MiB allowed`),
    );
  });

  await t.test("a Hydra event naming 100,000 distinct paths is refused before any is resolved", async () => {
    const paths = Array.from({ length: 100_000 }, (_, i) => unregisteredPath(s.seed, `p${i}`));
    const event = join(tempDir("genpush-hydra-"), "event.json");
    writeFileSync(event, JSON.stringify({ buildStatus: 0, outputs: paths.map((path) => ({ name: "out", path })) }));
    const r = await measured(["--config", config, "enqueue", "--hydra-json", event], env, 60_000);
    books.fault("a Hydra event of 100,000 paths");
    // Resolving them all took 6.5 s and 520 MB; the refusal costs the parse of an 8 MB file.
    assert.ok(r.peakBytes < 200 * MiB, `peak RSS ${Math.round(r.peakBytes / MiB)} MiB`);
    assert.ok(r.ms < 30_000, `${r.ms} ms`);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`at most 10000 paths at once, got 100000 from ${event}`));
    assert.deepEqual(queued(), [], "nothing was queued");
  });

  await t.test("the good build queued beside them reaches the cache; no enqueue asked a cache", async () => {
    const r = await enqueue([out]);
    assert.equal(r.code, 0, explain(r));
    assert.equal(substituter.requests(), 0, "enqueue asked a substituter");
    books.switchedTo({ storePath: out, closure: closureOf(out), label: `queued ${out}` });
    const pushed = await s.run("push", "--queue", "--json");
    assert.equal(pushed.code, 0, explain(pushed));
    assert.equal(pushed.json.queue.done, 1, explain(pushed));
    books.mustHold(out);
  });

  const key = s.key as NonNullable<typeof s.key>;
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: key.publicKey })));
});
