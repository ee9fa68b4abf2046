// genpush's HTTP client against a server of the test's own, on loopback: what it does when a
// server ends a kept-alive connection (nginx does after 1,000 requests, and after 75 s idle).
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { test } from "node:test";
import { HttpClient } from "../../../src/caches/http.js";

/**
 * A server of the test's own on loopback. It reads each request whole (its head, and a
 * Content-Length body) and hands it to `onRequest` with its socket and how many requests came
 * before it on that connection.
 */
async function loopbackServer(
  onRequest: (socket: Socket, request: { method: string; body: Buffer }, index: number) => void,
) {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    let index = 0;
    let pending = Buffer.alloc(0);
    socket.on("data", (data) => {
      pending = Buffer.concat([pending, data]);
      for (;;) {
        const end = pending.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = pending.toString("latin1", 0, end);
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        const body = pending.subarray(end + 4, end + 4 + length);
        pending = pending.subarray(end + 4 + length);
        onRequest(socket, { method: head.split(" ")[0] ?? "", body }, index++);
        if (socket.destroyed) return;
      }
    });
    socket.on("error", () => socket.destroy());
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: new URL(`http://127.0.0.1:${port}/x.narinfo`),
    close: () =>
      new Promise<void>((ok) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => ok());
      }),
  };
}

/**
 * A server that answers the first request on each connection with 200 and closes the
 * connection on the second without answering it, as a server at its keep-alive limit may.
 */
async function closingServer() {
  let requests = 0;
  const server = await loopbackServer((socket, _request, index) => {
    requests++;
    if (index === 0) socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    else socket.destroy();
  });
  return { ...server, requests: () => requests };
}

test("a request a server closed its kept-alive connection on without answering is sent again on a new one", async (t) => {
  const server = await closingServer();
  const client = new HttpClient({ cacheName: "local", maxSockets: 1, timeoutMs: 10_000, authHint: "" });
  t.after(async () => {
    client.close();
    await server.close();
  });
  for (let i = 0; i < 3; i++) {
    const answer = await client.request(server.url, { method: "GET" });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.toString(), "ok");
  }
  // Each request after the first went out twice: on the closed connection, then on a new one.
  assert.equal(server.requests(), 5);
});

test("a request closed on without an answer on a new connection is a failure, not sent again", async (t) => {
  const server = await closingServer();
  const client = new HttpClient({ cacheName: "local", maxSockets: 1, timeoutMs: 10_000, authHint: "" });
  t.after(async () => {
    client.close();
    await server.close();
  });
  const url = new URL("/nar/x.nar", server.url);
  // The first request on a connection is answered; a PUT's body is a stream here: it cannot go again.
  await client.request(url, { method: "GET" });
  const { Readable } = await import("node:stream");
  await assert.rejects(
    client.request(url, {
      method: "PUT",
      body: Readable.from([Buffer.from("nar")]),
      headers: { "content-length": "3" },
    }),
    /cache local is unreachable at http:\/\/127\.0\.0\.1:\d+: /,
  );
});

/**
 * A server that answers the first request on each connection with the size of the body it got,
 * and closes the connection on the second without answering, as a server at its keep-alive
 * limit may.
 */
async function bodyCountingServer() {
  const seen: string[] = [];
  const server = await loopbackServer((socket, { method, body }, index) => {
    if (index > 0) {
      socket.destroy();
      return;
    }
    seen.push(`${method} ${body.toString()}`);
    const text = `got ${body.length}`;
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
  });
  return { ...server, seen };
}

test("a PUT sent again on a new connection sends its body again, with and without 100-continue", async (t) => {
  const server = await bodyCountingServer();
  const client = new HttpClient({ cacheName: "local", maxSockets: 1, timeoutMs: 3_000, authHint: "" });
  t.after(async () => {
    client.close();
    await server.close();
  });
  for (const [body, expectContinue] of [
    [Buffer.from("StorePath: x\n"), false],
    ["StorePath: y\n", false],
    [Buffer.from("nar bytes"), true],
  ] as const) {
    await client.request(server.url, { method: "GET" });
    const answer = await client.request(server.url, { method: "PUT", body, expectContinue });
    assert.equal(answer.body.toString(), `got ${Buffer.byteLength(body)}`);
  }
  assert.deepEqual(server.seen, ["GET ", "PUT StorePath: x\n", "GET ", "PUT StorePath: y\n", "GET ", "PUT nar bytes"]);
});

test("a MKCOL a server closed its kept-alive connection on is not sent again: it may have been done", async (t) => {
  const server = await bodyCountingServer();
  const client = new HttpClient({ cacheName: "local", maxSockets: 1, timeoutMs: 3_000, authHint: "" });
  t.after(async () => {
    client.close();
    await server.close();
  });
  await client.request(server.url, { method: "GET" });
  await assert.rejects(
    client.request(new URL("/claims/x/", server.url), { method: "MKCOL" }),
    /cache local is unreachable at http:\/\/127\.0\.0\.1:\d+: /,
  );
  assert.deepEqual(server.seen, ["GET "]);
});

test("a request waiting in the queue for a connection is bounded from when it goes out, not from when it was asked for", async (t) => {
  // Each answer comes 1.5 s after its request; one connection, a 2.5 s bound: the second request
  // waits 1.5 s for the connection, then is answered 1.5 s later, within its own bound.
  const server = await loopbackServer((socket) => {
    setTimeout(() => socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), 1500);
  });
  const client = new HttpClient({ cacheName: "local", maxSockets: 1, timeoutMs: 2500, authHint: "" });
  t.after(async () => {
    client.close();
    await server.close();
  });
  const answers = await Promise.all([
    client.request(server.url, { method: "GET" }),
    client.request(server.url, { method: "GET" }),
  ]);
  assert.deepEqual(
    answers.map((answer) => answer.status),
    [200, 200],
  );
});
