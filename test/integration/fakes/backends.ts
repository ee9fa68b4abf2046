// One fixture per backend, all with the same face, so the contract suite writes
// each case once: the real nginx binary cache of the harness behind a
// fault-injecting proxy (nix), the fake Attic server with the stand-in attic
// executable, the fake Cachix API with the stand-in cachix executable.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CacheConfig } from "../../../src/config/config.js";
import { startCache } from "../harness/nginx.js";
import { makeKey, nixEnv, tempDir } from "../harness/nix.js";
import { startAtticServer } from "./attic-server.js";
import { startCachixServer } from "./cachix-server.js";
import { startFaultProxy } from "./fault-proxy.js";
import type { FakeHttpServer, LoggedRequest } from "./http-fake.js";
import { installStandin, type Standin, type StandinCall } from "./standins.js";
import { hashOf, secretFile, token } from "./util.js";

export type BackendName = "nix" | "attic" | "cachix";

export interface Fixture {
  backend: BackendName;
  /** genpush's name for the cache: every message about it must carry it */
  name: string;
  config: CacheConfig;
  /** texts that must never show: tokens (a wrong one too), signing keys */
  secrets: string[];
  /** where a token may be in the client's environment */
  tokenEnv: string[];
  /** hashes one existence request carries at most */
  batch: number;
  /** where faults are injected */
  server: FakeHttpServer;
  standin?: Standin;
  /** make `paths` present in the cache without genpush; then forget the requests so far */
  seed(paths: readonly string[]): Promise<void>;
  /** store hashes the cache holds */
  holds(): Promise<Set<string>>;
  /** store hashes uploaded since seed(), once per upload */
  uploads(): Promise<string[]>;
  /** the existence queries the server saw since seed() */
  queries(): LoggedRequest[];
  /** configure a wrong token (nix: the proxy refuses everything with 401) */
  breakAuth(): void;
  /** every upload fails (a server error), on every try */
  breakUploads(): void;
  /** the configuration with a client binary that does not exist (nix: none) */
  withoutClient?(): CacheConfig;
  /** assert the client was run as the contract says, sending `pushed` */
  checkInvocation?(calls: StandinCall[], pushed: string[]): void;
  destroy(): Promise<void>;
}

export const SYSTEMS = ["x86_64-linux", "aarch64-linux"];

async function nixFixture(): Promise<Fixture> {
  const cache = await startCache();
  const proxy = await startFaultProxy(cache.url);
  const key = makeKey(`genpush-contract-${randomBytes(3).toString("hex")}`);
  // The key's name is public (it is in every signature); the part after it is the secret.
  const secretKey = readFileSync(key.secretKeyFile, "utf8").trim().split(":")[1] ?? "";
  const config: CacheConfig = {
    name: "lan",
    type: "nix",
    systems: SYSTEMS,
    hosts: [],
    systemFeatures: [],
    store: proxy.url,
    signingKeyFile: key.secretKeyFile,
    queryConcurrency: 32,
    timeoutSeconds: 30,
    fleet: false,
  };
  return {
    backend: "nix",
    name: "lan",
    config,
    secrets: [secretKey],
    tokenEnv: [],
    batch: 1,
    server: proxy,
    seed: async (paths) => {
      if (paths.length > 0) {
        // Straight to nginx, with a narinfo disk cache of its own: a port reused from an earlier case must not lie.
        const env = { ...nixEnv, XDG_CACHE_HOME: tempDir("genpush-seed-cache-") };
        const r = spawnSync("nix", ["copy", "--no-recursive", "--to", cache.url, ...paths], { env, encoding: "utf8" });
        assert.equal(r.status, 0, `seeding with nix copy failed: ${r.stderr}`);
      }
      await cache.clearLog();
      proxy.clearLog();
    },
    holds: async () =>
      new Set(
        readdirSync(cache.dir)
          .filter((f) => f.endsWith(".narinfo"))
          .map((f) => f.slice(0, 32)),
      ),
    uploads: async () =>
      (await cache.requests())
        .filter((r) => r.method === "PUT" && r.uri.endsWith(".narinfo"))
        .map((r) => hashOf(r.uri)),
    queries: () => proxy.queries(),
    breakAuth: () => {
      proxy.refuseAuth = true;
    },
    // Not a 5xx: Nix (2.8, until NixOS/nix#15047) retries a failed PUT without rewinding its body and then
    // stalls; 413, a proxy's body limit, fails at once.
    breakUploads: () => {
      proxy.refuseUploads = 413;
    },
    destroy: async () => {
      await proxy.stop();
      await cache.destroy();
    },
  };
}

async function atticFixture(): Promise<Fixture> {
  const secret = token();
  const server = await startAtticServer({ cache: "fort-arm", token: secret });
  const standin = installStandin("attic");
  const tokenFile = secretFile(secret);
  const config: CacheConfig = {
    name: "arm",
    type: "attic",
    systems: SYSTEMS,
    hosts: [],
    systemFeatures: [],
    endpoint: server.url,
    cache: "fort-arm",
    tokenFile,
    atticPath: standin.path,
    timeoutSeconds: 30,
  };
  const fx: Fixture = {
    ...fakeCommon(server, standin, tokenFile),
    backend: "attic",
    name: "arm",
    config,
    secrets: [secret],
    tokenEnv: [],
    batch: 1000,
    queries: () => server.requestsTo("POST", "/_api/v1/get-missing-paths"),
    withoutClient: () => ({ ...config, atticPath: "/nonexistent/attic" }),
    checkInvocation: (calls, pushed) => {
      assert.ok(calls.length > 0, "the attic client was run");
      for (const call of calls) {
        assert.deepEqual(call.argv.slice(0, 5), [
          "push",
          "genpush:fort-arm",
          "--no-closure",
          "--ignore-upstream-cache-filter",
          "--",
        ]);
        assert.equal(call.exitCode, 0, call.printed.join("\n"));
        const home = call.env.XDG_CONFIG_HOME;
        assert.ok(home, "XDG_CONFIG_HOME points attic at a private configuration");
        assert.equal(call.config?.path, join(home, "attic", "config.toml"));
        const expected = `default-server = "genpush"\n[servers.genpush]\nendpoint = "${server.url}"\ntoken-file = "${tokenFile}"\n`;
        assert.equal(call.config?.text, expected);
        assert.ok(!existsSync(home), "the private attic configuration is removed afterwards");
      }
      assert.deepEqual(
        calls.flatMap((c) => c.argv.slice(5)),
        pushed,
      );
    },
  };
  return fx;
}

async function cachixFixture(): Promise<Fixture> {
  const secret = token();
  const signingKey = randomBytes(64).toString("base64");
  const server = await startCachixServer({ cache: "modular-workspace", token: secret });
  const standin = installStandin("cachix");
  const tokenFile = secretFile(secret);
  const config: CacheConfig = {
    name: "public",
    type: "cachix",
    systems: SYSTEMS,
    hosts: [],
    systemFeatures: [],
    cache: "modular-workspace",
    tokenFile,
    signingKeyFile: secretFile(signingKey),
    endpoint: server.url,
    cachixPath: standin.path,
    timeoutSeconds: 30,
  };
  return {
    ...fakeCommon(server, standin, tokenFile),
    backend: "cachix",
    name: "public",
    config,
    secrets: [secret, signingKey],
    tokenEnv: ["CACHIX_AUTH_TOKEN"],
    batch: 32_768,
    queries: () => server.requestsTo("POST", "/api/v1/cache/modular-workspace/narinfo"),
    withoutClient: () => ({ ...config, cachixPath: "/nonexistent/cachix" }),
    checkInvocation: (calls, pushed) => {
      assert.ok(calls.length > 0, "the cachix client was run");
      for (const call of calls) {
        // A configured endpoint reaches the client as --host: it would push to cachix.org otherwise.
        assert.deepEqual(call.argv.slice(0, 4), ["--host", server.url, "push", "modular-workspace"]);
        assert.equal(call.exitCode, 0, call.printed.join("\n"));
        assert.equal(call.env.CACHIX_AUTH_TOKEN, secret, "the token in CACHIX_AUTH_TOKEN");
        assert.equal(call.env.CACHIX_SIGNING_KEY, signingKey, "the signing key in CACHIX_SIGNING_KEY");
        assert.deepEqual(call.tokenEnvKeys, ["CACHIX_AUTH_TOKEN"]);
        assert.deepEqual(call.signingKeyEnvKeys, ["CACHIX_SIGNING_KEY"]);
      }
      assert.deepEqual(
        calls.flatMap((c) => c.argv.slice(4)),
        pushed,
      );
      assert.ok(
        server.uploads.every((u) => u.signed),
        "signed with the signing key",
      );
    },
  };
}

/** What the two fake-server fixtures share. */
function fakeCommon(
  server: FakeHttpServer & { present: Set<string>; uploads: { hash: string }[] },
  standin: Standin,
  tokenFile: string,
) {
  const self = {
    server,
    standin,
    seed: async (paths: readonly string[]) => {
      for (const path of paths) server.present.add(hashOf(path));
      server.clearLog();
    },
    holds: async () => new Set(server.present),
    uploads: async () => server.uploads.map((u) => u.hash),
    breakAuth: function (this: Fixture) {
      const wrong = token();
      this.secrets.push(wrong);
      writeFileSync(tokenFile, `${wrong}\n`);
    },
    breakUploads: () => standin.failNext(1000),
    destroy: () => server.stop(),
  };
  return self;
}

export const BACKENDS: Record<BackendName, () => Promise<Fixture>> = {
  nix: nixFixture,
  attic: atticFixture,
  cachix: cachixFixture,
};
