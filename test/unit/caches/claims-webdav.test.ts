// A claim's MKCOL whose answer was lost: the server made the collection, then the connection
// went (reset) before its 201 reached the client; the retry's MKCOL finds it there (405). With
// no holder written in it, the claim is taken as this host's own (written and uploaded at once),
// not as another host's to wait a stale bound for. With a holder written, it is another host's.
// Against genpush's real HTTP client and WebDavClaims, and a loopback server that answers MKCOL,
// PUT, GET, HEAD and DELETE as nginx's WebDAV module does.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { Fleet, WebDavClaims } from "../../../src/caches/claims.js";
import { HttpClient } from "../../../src/caches/http.js";
import { retryPolicy } from "../../../src/runtime/retry.js";

const HASH = "0".repeat(32);
/** A stale bound of two minutes: a host that waited on its own claim would not end within the test's bound. */
const TIMEOUT_MS = 60_000;

interface Dav {
  url: URL;
  /** Paths of the collections and files it holds ("/claims/", "/claims/<hash>/holder"). */
  files: Map<string, string | null>;
  mkcols: string[];
  close(): Promise<void>;
}

/**
 * nginx's WebDAV answers: MKCOL 201 (made), 405 (there), 409 (no parent); PUT 201/204; GET and
 * HEAD 200/404; DELETE of a collection with all it holds. `lose(path)`: the first MKCOL of that
 * path is done — or not, `made` — and its connection reset instead of answered.
 */
async function dav(lose: { path: string; made: boolean }): Promise<Dav> {
  const files = new Map<string, string | null>();
  const mkcols: string[] = [];
  let lost = false;
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const parent = path.replace(/[^/]+\/?$/, "");
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString("utf8");
    });
    req.on("end", () => {
      if (req.method === "MKCOL") {
        mkcols.push(path);
        if (path === lose.path && !lost) {
          lost = true;
          if (lose.made) files.set(path, null);
          req.socket.resetAndDestroy();
          return;
        }
        const status = files.has(path) ? 405 : parent !== "/" && !files.has(parent) ? 409 : 201;
        if (status === 201) files.set(path, null);
        res.writeHead(status).end();
      } else if (req.method === "PUT") {
        files.set(path, body);
        res.writeHead(201).end();
      } else if (req.method === "GET" || req.method === "HEAD") {
        const text = files.get(path);
        if (typeof text === "string") res.writeHead(200, { "content-type": "text/plain" }).end(text);
        else res.writeHead(404).end();
      } else if (req.method === "DELETE") {
        const there = files.has(path);
        for (const name of [...files.keys()]) if (name.startsWith(path)) files.delete(name);
        res.writeHead(there ? 204 : 404).end();
      } else res.writeHead(405).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/`),
    files,
    mkcols,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

async function fleetOn(server: Dav) {
  const client = new HttpClient({ cacheName: "lan", maxSockets: 2, timeoutMs: 5_000, authHint: "" });
  const debug: string[] = [];
  const store = new WebDavClaims(server.url, client, { policy: retryPolicy(5_000) }, async () => [404]);
  const signal = AbortSignal.timeout(20_000);
  const fleet = await Fleet.open(store, { timeoutMs: TIMEOUT_MS, onDebug: (m) => debug.push(m) }, signal);
  assert.ok(fleet, "the server takes claims");
  return { client, fleet, signal, debug };
}

describe("a claim's MKCOL answer lost", () => {
  it("made by the lost try, found on the retry with no holder: this host's, uploaded now", async (t) => {
    const server = await dav({ path: `/claims/${HASH}/`, made: true });
    const { client, fleet, signal, debug } = await fleetOn(server);
    t.after(async () => {
      fleet.close();
      client.close();
      await server.close();
    });
    assert.equal(await fleet.claim(HASH, signal), "mine");
    assert.deepEqual(
      server.mkcols.filter((path) => path === `/claims/${HASH}/`),
      [`/claims/${HASH}/`, `/claims/${HASH}/`],
      "the claim's MKCOL went twice: the lost one and its retry",
    );
    assert.match(server.files.get(`/claims/${HASH}/holder`) ?? "", /^host=\S+ boot=\S+ pid=\d+ time=\S+ seq=0\n$/);
    assert.ok(
      debug.some((line) => /whose answer was lost/.test(line)),
      debug.join("\n"),
    );
    await fleet.release(HASH);
    assert.equal(server.files.has(`/claims/${HASH}/`), false, "released");
  });

  it("not made by the lost try, another host's with its holder written: held", async (t) => {
    const server = await dav({ path: `/claims/${HASH}/`, made: false });
    server.files.set("/claims/", null);
    server.files.set(`/claims/${HASH}/`, null);
    server.files.set(`/claims/${HASH}/holder`, "host=other boot=b pid=7 time=2026-01-01T00:00:00Z seq=0\n");
    const { client, fleet, signal } = await fleetOn(server);
    t.after(async () => {
      fleet.close();
      client.close();
      await server.close();
    });
    assert.equal(await fleet.claim(HASH, signal), "held");
    assert.match(server.files.get(`/claims/${HASH}/holder`) ?? "", /host=other/, "its holder left as it was");
  });
});
