// genpush's own uploader for HTTP binary caches, against real nginx and real Nix:
// what it sends (counted from nginx's log), and that Nix itself substitutes it
// back with the signature checked, for every compression genpush can write.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import zlib from "node:zlib";
import { explain, type RunResult, runGenpush, writeConfig } from "./harness/cli.js";
import { hashOf, onlyResult, type Scenario, scenario } from "./harness/fixture.js";
import { narinfo, startCache } from "./harness/nginx.js";
import { makeKey, newSeed, nixBuild, pullIntoFreshStore, switchProfile, tempDir } from "./harness/nix.js";

const PATHS = 40;
/** Node >= 22.15 compresses zstd in process; before, genpush runs the `zstd` program. */
const zlibHasZstd = "zstdCompress" in zlib;

/** A signed scenario switched to its first generation, its cache's store URI made by `store` from its own. */
async function switchedAt(t: TestContext, store: (ownUrl: string) => string, paths = 6) {
  const s = await scenario({ paths, sign: true });
  t.after(() => s.destroy());
  s.config.caches[0].store = store(s.cache.url);
  const config = s.configFile();
  return { s, config, gen: s.switchTo(0) };
}

test("a switch sends one HEAD per new path, then one NAR and one narinfo per missing path, nothing else", async (t) => {
  const s = await scenario({ paths: PATHS, changed: 3, sign: true });
  t.after(() => s.destroy());
  s.switchTo(0);
  assert.equal((await s.run("push")).code, 0);
  await s.cache.clearLog();
  const gen = s.switchTo(1);

  const r = await s.run("push", "--json");
  assert.equal(r.code, 0, explain(r));
  const res = onlyResult(r);
  const missing = res.counts.missing;
  assert.ok(missing > 0 && missing < PATHS, `a few paths are new (${missing})`);
  const requests = await s.cache.requests();
  const byKind = (method: string, test: (uri: string) => boolean) =>
    requests.filter((q) => q.method === method && test(q.uri)).length;
  assert.equal(byKind("HEAD", narinfo), res.counts.candidates, "one question per candidate");
  assert.equal(byKind("GET", narinfo), 0, "no second round of questions");
  assert.equal(byKind("PUT", narinfo), missing);
  assert.equal(
    byKind("PUT", (uri) => uri.startsWith("/nar/")),
    missing,
  );
  assert.equal(
    byKind("GET", (uri) => uri === "/nix-cache-info"),
    1,
  );
  // No claims, nor the probe for them: the cache is no fleet's (docs/fleet.md).
  assert.equal(requests.length, res.counts.candidates + 2 * missing + 1, JSON.stringify(requests));

  const pulled = pullIntoFreshStore(s.cache.url, gen.storePath, s.key?.publicKey ?? "");
  assert.ok(pulled.ok, pulled.stderr);
});

test("a cache that takes MKCOL, configured without `fleet`: no claim, no probe, only HEAD, GET and PUT", async (t) => {
  const s = await scenario({ paths: 12, sign: true });
  t.after(() => s.destroy());
  const cache = await startCache({ claims: true });
  t.after(() => cache.destroy());
  s.config.caches[0].store = `${cache.url}?compression=zstd`;
  s.configFile();
  const gen = s.switchTo(0);
  const r = await s.run("push", "--json", "-v");
  assert.equal(r.code, 0, explain(r));
  const res = onlyResult(r);
  assert.ok(res.counts.missing > 0, "paths were uploaded");
  const requests = await cache.requests();
  const methods = [...new Set(requests.map((q) => q.method))].sort();
  assert.deepEqual(
    requests.filter((q) => !["HEAD", "GET", "PUT"].includes(q.method)),
    [],
    `a push to a cache that is no fleet's sends no MKCOL or DELETE (methods: ${methods.join(", ")})`,
  );
  assert.ok(!requests.some((q) => q.uri.startsWith("/claims/")), JSON.stringify(requests));
  assert.equal(existsSync(join(cache.dir, "claims")), false, "no claims/ in the cache");
  assert.doesNotMatch(r.stderr, /MKCOL|claims/, "no word of claims in the debug log");
  const pulled = pullIntoFreshStore(cache.url, gen.storePath, s.key?.publicKey ?? "");
  assert.ok(pulled.ok, pulled.stderr);
});

/**
 * A directory of shims first on PATH, one per program, each logging its start to `log` and
 * running the real program: how many processes genpush started.
 */
function countingPath(programs: string[]): { env: NodeJS.ProcessEnv; starts: (program: string) => number } {
  const dir = tempDir("genpush-shims-");
  const log = join(dir, "starts.log");
  writeFileSync(log, "");
  for (const program of programs) {
    const real = execFileSync("sh", ["-c", `command -v ${program}`], { encoding: "utf8" }).trim();
    writeFileSync(join(dir, program), `#!/bin/sh\necho ${program} >> '${log}'\nexec '${real}' "$@"\n`, { mode: 0o755 });
  }
  return {
    env: { PATH: `${dir}:${process.env.PATH}` },
    starts: (program) =>
      readFileSync(log, "utf8")
        .split("\n")
        .filter((line) => line === program).length,
  };
}

// Two leaves past the size that streams (SMALL_NAR_BYTES, 512 KiB), the rest small: both ways.
const LARGE_TWO = "i: if i < 2 then 600000 else 2000";

for (const compression of ["none", "br", "gzip", "zstd", "bzip2", "xz"]) {
  test(`compression=${compression}: Nix substitutes what genpush wrote, signature checked, large NARs and small`, async (t) => {
    const s = await scenario({ paths: 24, sign: true, leafBytes: LARGE_TWO });
    t.after(() => s.destroy());
    s.config.caches[0].store = `${s.cache.url}?compression=${compression}`;
    s.configFile();
    const gen = s.switchTo(0);
    const programs = countingPath(["xz", "zstd", "bzip2"]);
    const r = await runGenpush(["push"], { config: s.configFile(), env: programs.env });
    assert.equal(r.code, 0, explain(r));
    if (["xz", "bzip2"].includes(compression) || (compression === "zstd" && !zlibHasZstd)) {
      // One process for each large NAR (two here), and one for each group of up to 64 small
      // ones (the other 22: one group): three, not one for each NAR, nor one per few.
      const starts = programs.starts(compression);
      assert.equal(starts, 3, `${compression} started ${starts} times for 24 NARs, two of them large`);
    }

    // nix copy asks for narinfos with GET: none means genpush's own uploader did the work.
    assert.equal(await s.cache.count("GET", narinfo), 0, "uploaded by genpush, not by nix copy");
    const info = readFileSync(join(s.cache.dir, `${hashOf(gen.storePath)}.narinfo`), "utf8");
    assert.match(info, new RegExp(`^Compression: ${compression}$`, "m"));
    assert.match(info, /^Sig: genpush-test-/m);
    assert.equal(existsSync(join(s.cache.dir, "nar")), true);
    const pulled = pullIntoFreshStore(s.cache.url, gen.storePath, s.key?.publicKey ?? "");
    assert.ok(pulled.ok, pulled.stderr);
  });
}

test("a cache without nix-cache-info gets one, as nix copy would give it", async (t) => {
  const s = await scenario({ paths: 6, sign: true });
  t.after(() => s.destroy());
  rmSync(join(s.cache.dir, "nix-cache-info"));
  const gen = s.switchTo(0);
  assert.equal((await s.run("push")).code, 0);
  assert.equal(readFileSync(join(s.cache.dir, "nix-cache-info"), "utf8"), "StoreDir: /nix/store\n");
  assert.ok(pullIntoFreshStore(s.cache.url, gen.storePath, s.key?.publicKey ?? "").ok);
});

test("a cache for another store directory is refused before anything is uploaded", async (t) => {
  const s = await scenario({ paths: 6 });
  t.after(() => s.destroy());
  writeFileSync(join(s.cache.dir, "nix-cache-info"), "StoreDir: /gnu/store\n");
  s.switchTo(0);
  const r = await s.run("push");
  assert.notEqual(r.code, 0, explain(r));
  assert.match(r.stderr, /holds paths of \/gnu\/store/);
  assert.deepEqual(
    readdirSync(s.cache.dir).filter((f) => f !== "nix-cache-info"),
    [],
  );
});

test("a cache that takes writes only with a login: the credential comes from Nix's netrc file, and never shows", async (t) => {
  const login = { user: "builder", password: `pw-${newSeed()}` };
  const cache = await startCache({ writeLogin: login });
  t.after(() => cache.destroy());
  const { s, config, gen } = await switchedAt(t, () => cache.url);

  const without = await runGenpush(["push"], { config, env: { NIX_CONFIG: "netrc-file = /nonexistent" } });
  assert.notEqual(without.code, 0, explain(without));
  assert.match(without.stderr, /refused authentication \(HTTP 401/);

  const netrc = join(tempDir(), "netrc");
  writeFileSync(netrc, `machine 127.0.0.1\n  login ${login.user}\n  password ${login.password}\n`);
  chmodSync(netrc, 0o600);
  const r = await runGenpush(["push", "--json"], {
    config,
    env: { NIX_CONFIG: `experimental-features = nix-command\nnetrc-file = ${netrc}` },
  });
  assert.equal(r.code, 0, explain(r));
  assert.ok(!`${r.stdout}${r.stderr}${without.stderr}`.includes(login.password), "the password never shows");
  assert.ok(pullIntoFreshStore(cache.url, gen.storePath, s.key?.publicKey ?? "").ok);
});

test("a cache answering 403 for what it does not have (S3-style) is asked and written as Nix would", async (t) => {
  const cache = await startCache({ missingIs403: true });
  t.after(() => cache.destroy());
  const { s, config, gen } = await switchedAt(t, () => cache.url);
  const r = await runGenpush(["push", "--json"], { config });
  assert.equal(r.code, 0, explain(r));
  assert.equal(onlyResult(r).counts.uploaded, 6);
  assert.ok(
    (await cache.requests()).some((q) => q.method === "HEAD" && q.status === 403),
    "the cache said 403",
  );
  assert.ok(pullIntoFreshStore(cache.url, gen.storePath, s.key?.publicKey ?? "").ok);
});

test("signingKeyFile wins over a secret-key= in the store URI, also when nix copy uploads", async (t) => {
  const other = makeKey(`genpush-other-${newSeed()}`);
  const { s, gen } = await switchedAt(t, (url) => `${url}?secret-key=${other.secretKeyFile}&write-nar-listing=true`);
  const r = await s.run("push");
  assert.equal(r.code, 0, explain(r));
  const info = readFileSync(join(s.cache.dir, `${hashOf(gen.storePath)}.narinfo`), "utf8");
  assert.match(info, new RegExp(`^Sig: ${s.key?.name}:`, "m"));
  assert.doesNotMatch(info, new RegExp(`^Sig: ${other.name}:`, "m"));
});

test("a store URI setting genpush's uploader does not implement leaves the upload to nix copy", async (t) => {
  const { s, gen } = await switchedAt(t, (url) => `${url}?write-nar-listing=true`);
  const r = await s.run("push");
  assert.equal(r.code, 0, explain(r));
  assert.ok(existsSync(join(s.cache.dir, `${hashOf(gen.storePath)}.ls`)), "nix copy wrote the listing");
  assert.ok((await s.cache.count("GET", narinfo)) > 0, "nix copy asked with GET");
  assert.ok(pullIntoFreshStore(s.cache.url, gen.storePath, s.key?.publicKey ?? "").ok);
});

for (const [size, bytes] of [
  ["small", 0],
  ["large", 700_000],
] as const) {
  test(`a ${size} store path whose contents no longer match its recorded hash is refused, and the cache never offers it`, async (t) => {
    const cache = await startCache();
    t.after(() => cache.destroy());
    const seed = newSeed();
    const fill = bytes ? `; /usr/bin/head -c ${bytes} /dev/zero >> $out` : "";
    const path = nixBuild(
      `derivation { name = "genpush-tampered-${seed}"; system = builtins.currentSystem; builder = "/bin/sh"; args = ["-c" "echo original-${seed} > $out${fill}"]; }`,
    );
    t.after(() => {
      try {
        chmodSync(path, 0o444);
      } catch {}
    });
    // Same length, other bytes: only the hash can tell.
    chmodSync(path, 0o644);
    writeFileSync(path, Buffer.concat([Buffer.from(`tampered-${seed}\n`), Buffer.alloc(bytes)]));
    const root = tempDir();
    const profile = join(root, "profile");
    switchProfile(profile, path);
    const key = makeKey(`genpush-test-${seed}`);
    const config = writeConfig({
      stateDir: join(root, "state"),
      profiles: [{ name: "test", path: profile }],
      caches: [
        { name: "local", systems: ["x86_64-linux"], type: "nix", store: cache.url, signingKeyFile: key.secretKeyFile },
      ],
    });
    const r = await runGenpush(["push"], { config });
    assert.notEqual(r.code, 0, explain(r));
    assert.match(r.stderr, /does not match the hash Nix recorded/);
    assert.match(r.stderr, /nix-store --verify --check-contents/);
    assert.equal(existsSync(join(cache.dir, `${hashOf(path)}.narinfo`)), false);
    assert.equal(await cache.count("PUT", narinfo), 0);
  });
}

/**
 * A front for `target` that forwards every request, but holds the HEAD of `held` until the first
 * NAR upload comes in, or `holdMs` has passed: `log` says, in order, what came in and when the
 * held question was answered.
 */
async function holdingFront(target: string, held: string, holdMs: number) {
  const log: string[] = [];
  let narSeen = () => {};
  const firstNar = new Promise<void>((resolve) => {
    narSeen = resolve;
  });
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer(async (req, res) => {
    const line = `${req.method} ${req.url}`;
    log.push(line);
    if (req.method === "PUT" && req.url?.startsWith("/nar/")) narSeen();
    if (req.method === "HEAD" && req.url === held) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([firstNar, new Promise((resolve) => (timer = setTimeout(resolve, holdMs)))]);
      clearTimeout(timer);
      log.push(`answered ${line}`);
    }
    const { expect: _, ...headers } = req.headers;
    const upstream = http.request(new URL(req.url ?? "/", target), { method: req.method, headers, agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    close: async () => {
      server.closeAllConnections();
      agent.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// A generation's push, paths given on the command line (a CI job's), and the post-build queue's.
const EARLY_WAYS = [
  { way: "push", run: (s: Scenario) => s.run("push", "--json"), result: (r: RunResult) => r.json?.results?.[0] },
  {
    way: "push --paths",
    run: (s: Scenario, path: string) => s.run("push", "--paths", path, "--json"),
    result: (r: RunResult) => r.json?.paths?.[0],
  },
  {
    way: "push --queue",
    run: async (s: Scenario, path: string) => {
      const queued = await s.run("enqueue", path);
      assert.equal(queued.code, 0, explain(queued));
      return s.run("push", "--queue", "--json");
    },
    result: (r: RunResult) => r.json?.queue?.results?.[0],
  },
];

for (const { way, run, result } of EARLY_WAYS) {
  test(`${way}: a missing path's NAR goes up on its own answer, not after the last: one HEAD held back does not hold the uploads`, async (t) => {
    const s = await scenario({ paths: 12, sign: true, leafBytes: LARGE_TWO });
    t.after(() => s.destroy());
    const gen = s.build(0);
    const held = `/${hashOf(gen.storePath)}.narinfo`;
    // Far longer than an upload takes here, far shorter than the request's bound.
    const front = await holdingFront(s.cache.url, held, 20_000);
    t.after(() => front.close());
    s.config.caches[0].store = front.url;
    s.config.caches[0].timeoutSeconds = 120;
    s.switchTo(0);

    const r = await run(s, gen.storePath);
    assert.equal(r.code, 0, explain(r));
    const res = result(r);
    assert.ok(res, explain(r));
    assert.equal(res.counts.missing, gen.closure.length, "an empty cache lacks the whole closure");
    assert.equal(res.counts.uploaded, gen.closure.length);
    const firstNar = front.log.findIndex((line) => line.startsWith("PUT /nar/"));
    const answered = front.log.indexOf(`answered HEAD ${held}`);
    assert.ok(firstNar >= 0 && answered >= 0, front.log.join("\n"));
    assert.ok(firstNar < answered, `a NAR went up before the held question was answered:\n${front.log.join("\n")}`);
    // The top refers to every package: its narinfo is the last one put.
    const narinfoPuts = front.log.filter((line) => line.startsWith("PUT ") && line.endsWith(".narinfo"));
    assert.equal(narinfoPuts.length, gen.closure.length);
    assert.equal(narinfoPuts.at(-1), `PUT ${held}`);
    const pulled = pullIntoFreshStore(s.cache.url, gen.storePath, s.key?.publicKey ?? "");
    assert.ok(pulled.ok, pulled.stderr);
  });
}
