// The test suite's own fake Attic server and stand-in attic executable, checked
// on their own (no genpush code): they must answer as the real ones do, or the
// contract suite proves nothing.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type FakeAtticServer, startAtticServer } from "./fakes/attic-server.js";
import { installStandin } from "./fakes/standins.js";
import { hashOf, syntheticPath } from "./fakes/util.js";
import { buildGeneration, newSeed, nixEnv, tempDir } from "./harness/nix.js";

const TOKEN = "eyJhbGciOiJIUzI1NiJ9.fake-attic-token.signature";
let server: FakeAtticServer;

before(async () => {
  server = await startAtticServer({ cache: "fort", token: TOKEN });
});
after(() => server.stop());

function query(hashes: string[], init: { token?: string; type?: string; body?: string } = {}) {
  const headers: Record<string, string> = { "content-type": init.type ?? "application/json" };
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  const body = init.body ?? JSON.stringify({ cache: "fort", store_path_hashes: hashes });
  return fetch(`${server.url}/_api/v1/get-missing-paths`, { method: "POST", headers, body });
}

const hashes = (n: number) => Array.from({ length: n }, (_, i) => hashOf(syntheticPath(i)));

describe("fake Attic server", () => {
  it("answers get-missing-paths with the hashes it lacks, for the right bearer token only", async () => {
    server.clearLog();
    const [a = "", b = "", c = ""] = hashes(3);
    server.present.add(b);
    const ok = await query([a, b, c, a], { token: TOKEN });
    assert.equal(ok.status, 200);
    assert.deepEqual(((await ok.json()) as { missing_paths: string[] }).missing_paths, [a, c].sort());
    const none = await query([a]);
    assert.equal(none.status, 401);
    assert.deepEqual(await none.json(), { code: 401, error: "Unauthorized", message: "Unauthorized." });
    assert.equal((await query([a], { token: "wrong" })).status, 401);
    assert.deepEqual(
      server.requests.map((r) => [r.auth, r.batch]),
      [
        ["ok", 4],
        ["none", 1],
        ["wrong", 1],
      ],
    );
    assert.ok(!JSON.stringify(server.requests).includes(TOKEN), "the log never holds the token");
  });

  it("refuses malformed bodies as axum does, before looking at the token", async () => {
    assert.equal((await query([], { body: "{", token: TOKEN })).status, 400);
    assert.equal((await query([], { body: "{" })).status, 400);
    assert.equal((await query(["not-a-hash"], { token: TOKEN })).status, 422);
    assert.equal((await query(hashes(1), { type: "text/plain", token: TOKEN })).status, 415);
    const other = JSON.stringify({ cache: "elsewhere", store_path_hashes: hashes(1) });
    assert.equal((await query([], { body: other, token: TOKEN })).status, 404);
  });

  it("sits behind a 64 KiB proxy body limit: 1,000 hashes pass, 2,000 in one request are refused", async () => {
    assert.equal((await query(hashes(1000), { token: TOKEN })).status, 200);
    const big = await query(hashes(2000), { token: TOKEN });
    assert.equal(big.status, 413);
    assert.match(await big.text(), /413 Request Entity Too Large/);
  });

  it("injects faults: failNext with headers, then normal answers; hangNext never answers", async () => {
    server.failNext(2, 429, { "retry-after": "1" });
    for (const _ of [1, 2]) {
      const res = await query(hashes(1), { token: TOKEN });
      assert.equal(res.status, 429);
      assert.equal(res.headers.get("retry-after"), "1");
    }
    assert.equal((await query(hashes(1), { token: TOKEN })).status, 200);
    server.hangNext(1);
    const hung = fetch(`${server.url}/_api/v1/cache-config/fort`, { signal: AbortSignal.timeout(300) });
    await assert.rejects(hung, /abort|timeout/i);
    assert.equal((await query(hashes(1), { token: TOKEN })).status, 200);
  });
});

describe("stand-in attic executable", () => {
  let paths: string[];
  before(() => {
    paths = buildGeneration({ seed: newSeed(), paths: 3 }).closure;
  });

  function run(token: string, args: string[], failures = 0) {
    const standin = installStandin("attic");
    if (failures > 0) standin.failNext(failures);
    const home = tempDir("genpush-attic-home-");
    mkdirSync(join(home, "attic"));
    const tokenFile = join(home, "token");
    writeFileSync(tokenFile, `${token}\n`);
    const config = `default-server = "genpush"\n[servers.genpush]\nendpoint = "${server.url}"\ntoken-file = "${tokenFile}"\n`;
    writeFileSync(join(home, "attic", "config.toml"), config);
    // Not spawnSync: the fake server answers from this very process.
    const env = { ...nixEnv, XDG_CONFIG_HOME: home };
    return new Promise<{ status: number; stderr: string; standin: typeof standin; config: string }>((resolve) => {
      execFile(standin.path, args, { env, encoding: "utf8" }, (error, _stdout, stderr) => {
        resolve({ status: error ? Number(error.code) : 0, stderr, standin, config });
      });
    });
  }

  it("reads the private config and token file, pushes what the server lacks, records the call", async () => {
    server.clearLog();
    const before = server.uploads.length;
    const r = await run(TOKEN, [
      "push",
      "genpush:fort",
      "--no-closure",
      "--ignore-upstream-cache-filter",
      "--",
      ...paths,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      server.uploads
        .slice(before)
        .map((u) => u.hash)
        .sort(),
      paths.map(hashOf).sort(),
    );
    assert.deepEqual(
      server.requests.map((q) => `${q.method} ${q.path.split("?")[0]}`),
      [
        "GET /_api/v1/cache-config/fort",
        "POST /_api/v1/get-missing-paths",
        ...paths.map(() => "PUT /_api/v1/upload-path"),
      ],
    );
    const [call] = r.standin.calls();
    assert.equal(call?.exitCode, 0);
    assert.equal(call?.config?.text, r.config);
    assert.deepEqual(call?.tokenEnvKeys, []);
    const again = await run(TOKEN, ["push", "genpush:fort", "--no-closure", "--", ...paths]);
    assert.match(again.stderr, /All done! \(3 already cached/);
  });

  it("fails like attic: a refused token, an unknown flag, a fail-next file", async () => {
    const refused = await run("wrong", ["push", "genpush:fort", "--no-closure", "--", ...paths]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /^Error: Unauthorized: Unauthorized\.$/m);
    assert.equal((await run(TOKEN, ["push", "genpush:fort", "--bogus"])).status, 2);
    const failed = await run(TOKEN, ["push", "genpush:fort", "--no-closure", "--", ...paths], 1);
    assert.equal(failed.status, 1);
    assert.match(failed.stderr, /InternalServerError/);
    assert.equal(failed.standin.calls().length, 1);
  });
});
