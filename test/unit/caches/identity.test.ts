// A cache's identity: what decides where its bytes land. The same place written another way is
// the same identity; another place is another identity, whatever the cache is called.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cacheIdentity, storeIdentity } from "../../../src/caches/identity.js";
import type { CacheConfig } from "../../../src/config/config.js";

const common = { name: "c", systems: ["x86_64-linux"], hosts: [], systemFeatures: [], timeoutSeconds: 30 };
const nix = (store: string): CacheConfig => ({ ...common, type: "nix", store, queryConcurrency: 32, fleet: false });

describe("cache identity: the same place, however it is written", () => {
  for (const [a, b] of [
    ["http://cache.lan:8080", "http://cache.lan:8080/"],
    ["http://cache.lan", "HTTP://Cache.LAN:80/"],
    ["https://cache.lan/nix", "https://cache.lan:443/nix//"],
    ["http://cache.lan?compression=zstd", "http://cache.lan"],
    [
      "http://cache.lan?compression=xz&parallel-compression=true&secret-key=/k&priority=30&want-mass-query=true",
      "http://cache.lan/?write-nar-listing=true&index-debug-info=true&ls-compression=br&narinfo-compression=br&log-compression=br",
    ],
    [
      "s3://bucket?region=eu-west-1&multipart-upload=true&endpoint=minio.lan",
      "s3://bucket?endpoint=minio.lan&region=eu-west-1",
    ],
    ["ssh://nix@builder.lan:22", "ssh://nix@Builder.lan?ssh-key=/root/.ssh/id&compress=true"],
    ["file:///var/cache/nix/", "file:///var/cache/nix"],
    ["local?root=/mnt", "local?root=/mnt"],
  ]) {
    it(`${a} = ${b}`, () => assert.equal(storeIdentity(a as string), storeIdentity(b as string)));
  }
  it("reads as the URI it normalises", () => {
    assert.equal(storeIdentity("HTTP://Cache.LAN:80/nix/?priority=1&b=2&a=1"), "http://cache.lan/nix?a=1&b=2");
  });
});

describe("cache identity: another place is another cache", () => {
  for (const [a, b] of [
    ["http://cache.lan:8080", "http://cache.lan:8081"],
    ["http://cache.lan", "https://cache.lan"],
    ["http://cache.lan/a", "http://cache.lan/b"],
    ["http://cache.lan/Nix", "http://cache.lan/nix"],
    ["s3://bucket?region=eu-west-1", "s3://bucket?region=us-east-1"],
    ["s3://bucket?endpoint=a.lan", "s3://bucket?endpoint=b.lan"],
    ["s3://bucket?profile=a", "s3://bucket?profile=b"],
    ["s3://bucket?scheme=http", "s3://bucket"],
    ["ssh://alice@builder.lan", "ssh://bob@builder.lan"],
    ["local?root=/mnt", "local?root=/srv"],
    ["http://cache.lan?some-future-setting=1", "http://cache.lan"],
  ]) {
    it(`${a} != ${b}`, () => assert.notEqual(storeIdentity(a as string), storeIdentity(b as string)));
  }
  it("attic and cachix: the endpoint and the cache", () => {
    const attic = (endpoint: string, cache: string): CacheConfig => ({
      ...common,
      type: "attic",
      endpoint,
      cache,
      tokenFile: "/t",
    });
    assert.equal(cacheIdentity(attic("https://attic.lan", "a")), cacheIdentity(attic("https://Attic.lan/", "a")));
    assert.notEqual(cacheIdentity(attic("https://attic.lan", "a")), cacheIdentity(attic("https://attic.lan", "b")));
    assert.notEqual(cacheIdentity(attic("https://attic.lan", "a")), cacheIdentity(attic("https://attic2.lan", "a")));
    const cachix = (endpoint: string, cache: string): CacheConfig => ({
      ...common,
      type: "cachix",
      endpoint,
      cache,
      tokenFile: "/t",
    });
    assert.equal(cacheIdentity(cachix("https://cachix.org", "a")), cacheIdentity(cachix("https://cachix.org/", "a")));
    assert.notEqual(cacheIdentity(cachix("https://cachix.org", "a")), cacheIdentity(cachix("https://cachix.org", "b")));
    assert.notEqual(cacheIdentity(cachix("https://cachix.org", "a")), cacheIdentity(attic("https://cachix.org", "a")));
  });
  it("a nix store and an attic endpoint at the same URL are not the same cache", () => {
    assert.notEqual(
      cacheIdentity(nix("https://attic.lan")),
      cacheIdentity({ ...common, type: "attic", endpoint: "https://attic.lan", cache: "x", tokenFile: "/t" }),
    );
  });
});
