// When an upload waits for an unmetered network (metered.ts): the limit, the caches on this
// machine, and one question to NetworkManager per run, only when an upload is over the limit.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { crossesNetwork, MeteredGate, type NetworkState } from "../../../src/host/metered.js";
import { nixCacheConfig as nixCache } from "../helpers/cache-config.js";

const LAN = nixCache("http://cache.lan:8080");

function gate(limit: number, state: NetworkState) {
  let asked = 0;
  const g = new MeteredGate(limit, undefined, async () => {
    asked++;
    return state;
  });
  return { g, asked: () => asked };
}

describe("MeteredGate", () => {
  it("on a metered network, an upload over the limit waits, with the reason; one under it goes, unasked", async () => {
    const { g, asked } = gate(50_000_000, { metered: true, detail: "yes" });
    assert.equal(await g.defer(LAN, 50_000_000), undefined);
    assert.equal(asked(), 0, "under the limit, NetworkManager is not asked");
    assert.equal(
      await g.defer(LAN, 60 * 2 ** 20),
      "the network is metered (NetworkManager: yes) and the upload of 60 MiB of NAR is over meteredLimit (48 MiB) waits for an unmetered network",
    );
    await g.defer(LAN, 70 * 2 ** 20);
    assert.equal(asked(), 1, "asked once per run");
  });

  it("unmetered, nothing waits; -1 never asks; 0 holds back every upload", async () => {
    assert.equal(await gate(0, { metered: false, detail: "no" }).g.defer(LAN, 1), undefined);
    const ignoring = gate(-1, { metered: true, detail: "yes" });
    assert.equal(await ignoring.g.defer(LAN, 10 ** 12), undefined);
    assert.equal(ignoring.asked(), 0);
    assert.match(
      (await gate(0, { metered: true, detail: "guess-yes" }).g.defer(LAN, 1)) ?? "",
      /meteredLimit is 0: the upload of 1 B/,
    );
  });

  it("a cache on this machine crosses no network", () => {
    for (const store of [
      "file:///srv/cache",
      "/srv/store",
      "local",
      "daemon",
      "unix:///nix/var/nix/daemon-socket/socket",
    ]) {
      assert.equal(crossesNetwork(nixCache(store)), false, store);
    }
    for (const store of [
      "http://cache.lan",
      "https://c.example",
      "s3://bucket?region=eu-west-1",
      "ssh://builder",
      "ssh-ng://b",
    ]) {
      assert.equal(crossesNetwork(nixCache(store)), true, store);
    }
  });
});
