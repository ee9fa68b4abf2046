// The test suite's own fake Cachix API and stand-in cachix executable, checked
// on their own (no genpush code).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { type FakeCachixServer, startCachixServer } from "./fakes/cachix-server.js";
import { installStandin } from "./fakes/standins.js";
import { hashOf, syntheticPath } from "./fakes/util.js";
import { buildGeneration, newSeed, nixEnv } from "./harness/nix.js";

const TOKEN = "cachix-fake-token-0123456789";
let server: FakeCachixServer;

before(async () => {
  server = await startCachixServer({ cache: "modular", token: TOKEN });
});
after(() => server.stop());

function bulk(body: string, token?: string, type = "application/json") {
  const headers: Record<string, string> = { "content-type": type };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return fetch(`${server.url}/api/v1/cache/modular/narinfo`, { method: "POST", headers, body });
}

const hashes = (n: number) => Array.from({ length: n }, (_, i) => hashOf(syntheticPath(i)));

describe("fake Cachix API", () => {
  it("answers the bulk narinfo query with the missing hashes, for the right bearer token only", async () => {
    server.clearLog();
    const [a = "", b = ""] = hashes(2);
    server.present.add(a);
    const ok = await bulk(JSON.stringify([a, b]), TOKEN);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), [b]);
    assert.equal((await bulk(JSON.stringify([a]))).status, 401);
    assert.equal((await bulk(JSON.stringify([a]), "wrong")).status, 401);
    assert.deepEqual(
      server.requests.map((r) => r.auth),
      ["ok", "none", "wrong"],
    );
    assert.ok(!JSON.stringify(server.requests).includes(TOKEN), "the log never holds the token");
  });

  it("refuses malformed bodies as servant does, and bodies above its limit", async () => {
    assert.equal((await bulk("[", TOKEN)).status, 400);
    assert.equal((await bulk('{"a":1}')).status, 400, "the body is parsed before the token is checked");
    assert.equal((await bulk("[]", TOKEN, "text/plain")).status, 415);
    assert.equal((await bulk(JSON.stringify(hashes(32_768)), TOKEN)).status, 200);
    assert.equal((await bulk(JSON.stringify(hashes(65_536)), TOKEN)).status, 413);
  });

  it("registers a narinfo only once its NAR arrived, as Cachix serves no narinfo without one", async () => {
    const [hash = ""] = hashes(1);
    const nar = Buffer.from("nix-archive-1 (a stand-in NAR)");
    const fileHash = `sha256:${createHash("sha256").update(nar).digest("hex")}`;
    const narinfo = {
      cStoreHash: hash,
      cStoreSuffix: "x-1.0",
      cNarHash: fileHash,
      cNarSize: nar.length,
      cFileHash: fileHash,
      cFileSize: nar.length,
      cReferences: [],
      cDeriver: "unknown-deriver",
      cSig: null,
    };
    const post = (path: string, body: BodyInit, type: string) =>
      fetch(`${server.url}/api/v1/cache/modular/${path}`, {
        method: "POST",
        headers: { "content-type": type, authorization: `Bearer ${TOKEN}` },
        body,
      });
    const early = await post(hash, JSON.stringify(narinfo), "application/json");
    assert.equal(early.status, 400, "a narinfo before its NAR is refused");
    assert.equal(server.present.has(hash), false);
    assert.equal((await post("nar", nar, "application/octet-stream")).status, 200);
    assert.equal((await post(hash, JSON.stringify(narinfo), "application/json")).status, 200);
    assert.equal(server.present.has(hash), true);
  });

  it("injects faults: 503 twice, then answers", async () => {
    server.failNext(2, 503);
    assert.equal((await bulk("[]", TOKEN)).status, 503);
    assert.equal((await bulk("[]", TOKEN)).status, 503);
    assert.equal((await bulk("[]", TOKEN)).status, 200);
  });
});

describe("stand-in cachix executable", () => {
  let paths: string[];
  before(() => {
    paths = buildGeneration({ seed: newSeed(), paths: 3 }).closure;
  });

  /** Not spawnSync: the fake server answers from this very process. */
  function run(env: NodeJS.ProcessEnv, args: string[], endpoint: string | null = server.url) {
    const standin = installStandin("cachix", endpoint === null ? {} : { endpoint });
    return new Promise<{ status: number; stderr: string; standin: typeof standin }>((resolve) => {
      execFile(standin.path, args, { env: { ...nixEnv, ...env }, encoding: "utf8" }, (error, _out, stderr) => {
        resolve({ status: error ? Number(error.code) : 0, stderr, standin });
      });
    });
  }

  it("takes the token from CACHIX_AUTH_TOKEN, pushes the closure's missing paths, records the call", async () => {
    const before = server.uploads.length;
    server.present.add(hashOf(paths[0] ?? ""));
    const env = { CACHIX_AUTH_TOKEN: TOKEN, CACHIX_SIGNING_KEY: "c2lnbmluZy1rZXk=" };
    const r = await run(env, ["push", "modular", ...paths]);
    assert.equal(r.status, 0, r.stderr);
    const uploaded = server.uploads.slice(before);
    assert.deepEqual(uploaded.map((u) => u.hash).sort(), paths.slice(1).map(hashOf).sort());
    assert.ok(uploaded.every((u) => u.signed));
    const [call] = r.standin.calls();
    assert.deepEqual(call?.tokenEnvKeys, ["CACHIX_AUTH_TOKEN"]);
    assert.deepEqual(call?.signingKeyEnvKeys, ["CACHIX_SIGNING_KEY"]);
    assert.equal(call?.tokenInArgv, false);
  });

  it("fails like cachix: a refused token, no token, a fail-next file, no endpoint", async () => {
    const refused = await run({ CACHIX_AUTH_TOKEN: "wrong" }, ["push", "modular", ...paths]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /Binary cache modular doesn't exist or you don't have access/);
    assert.match((await run({}, ["push", "modular", ...paths])).stderr, /CACHIX_AUTH_TOKEN/);
    const standin = installStandin("cachix", { endpoint: server.url });
    standin.failNext(1);
    const failed = await new Promise<number>((resolve) =>
      execFile(standin.path, ["push", "modular"], { env: { ...nixEnv, CACHIX_AUTH_TOKEN: TOKEN } }, (e) =>
        resolve(e ? Number(e.code) : 0),
      ),
    );
    assert.equal(failed, 1);
    const nowhere = await run({ CACHIX_AUTH_TOKEN: TOKEN }, ["push", "modular"], null);
    assert.match(nowhere.stderr, /refusing to contact https:\/\/cachix\.org/);
    const hosted = await run({ CACHIX_AUTH_TOKEN: TOKEN }, ["--host", server.url, "push", "modular", ...paths], null);
    assert.equal(hosted.status, 0, hosted.stderr);
  });
});
