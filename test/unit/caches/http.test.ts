// genpush's HTTP client against a server of the test's own, on loopback: what it does when a
// server ends a kept-alive connection (nginx does after 1,000 requests, and after 75 s idle).
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { type TestContext, test } from "node:test";
import { EAGER_BODY_BYTES, HttpClient } from "../../../src/caches/http.js";

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

/**
 * A server that takes uploads (`Expect: 100-continue`, a Content-Length body), and records for
 * each whether its body came before the server asked for it: it asks 50 ms after the head, so a
 * body sent with its head is there by then. `answer` says, per upload (counted from 0), whether
 * the server asks for the body and answers 201 once it is in, answers 200 at once without
 * asking, never reading it (a broken server or proxy), or refuses it at once with 413 and goes
 * on reading the connection, the body it did not read included.
 */
type UploadAnswer = "ask" | "early" | "refuse";
async function uploadServer(answer: (index: number) => UploadAnswer) {
  const uploads: { eager: boolean; bytes: number }[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    connections++;
    let pending = Buffer.alloc(0);
    let body: { length: number; asked: boolean; eager: boolean } | undefined;
    const serve = () => {
      if (!body) {
        const end = pending.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = pending.toString("latin1", 0, end);
        pending = pending.subarray(end + 4);
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        const how = answer(uploads.length);
        if (how === "early") {
          uploads.push({ eager: pending.length > 0, bytes: 0 });
          socket.pause();
          socket.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
          return;
        }
        if (how === "refuse") {
          uploads.push({ eager: pending.length > 0, bytes: 0 });
          socket.write("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n");
          serve();
          return;
        }
        const upload = { length, asked: false, eager: false };
        body = upload;
        setTimeout(() => {
          upload.eager = pending.length > 0;
          upload.asked = true;
          socket.write("HTTP/1.1 100 Continue\r\n\r\n");
          serve();
        }, 50);
      }
      if (!body.asked || pending.length < body.length) return;
      uploads.push({ eager: body.eager, bytes: body.length });
      pending = pending.subarray(body.length);
      body = undefined;
      socket.write("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
      serve();
    };
    socket.on("data", (data) => {
      pending = Buffer.concat([pending, data]);
      serve();
    });
    socket.on("error", () => socket.destroy());
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: new URL(`http://127.0.0.1:${port}/nar/x.nar.zst`),
    uploads,
    connections: () => connections,
    close: () =>
      new Promise<void>((ok) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => ok());
      }),
  };
}

/** An upload server, and a client with one connection to it, both closed when the test ends. */
async function uploadClient(t: TestContext, answer: (index: number) => UploadAnswer, maxSockets = 1) {
  const server = await uploadServer(answer);
  const client = new HttpClient({ cacheName: "local", maxSockets, timeoutMs: 3_000, authHint: "" });
  t.after(async () => {
    client.close();
    await server.close();
  });
  return { server, client };
}

const nar = (bytes: number) => ({ method: "PUT", body: Buffer.alloc(bytes, 1), expectContinue: true });

test("once a server has asked for a body, a small one goes with its head; a larger one, or a stream, waits for the ask", async (t) => {
  const { server, client } = await uploadClient(t, () => "ask");
  const { Readable } = await import("node:stream");
  for (const init of [
    nar(100),
    nar(100),
    nar(EAGER_BODY_BYTES),
    nar(EAGER_BODY_BYTES + 1),
    { ...nar(0), body: Readable.from([Buffer.alloc(100, 1)]), headers: { "content-length": "100" } },
    nar(100),
  ]) {
    assert.equal((await client.request(server.url, init)).status, 201);
  }
  assert.deepEqual(server.uploads, [
    // The server's first ask: until then nothing shows it asks.
    { eager: false, bytes: 100 },
    { eager: true, bytes: 100 },
    { eager: true, bytes: EAGER_BODY_BYTES },
    { eager: false, bytes: EAGER_BODY_BYTES + 1 },
    { eager: false, bytes: 100 },
    { eager: true, bytes: 100 },
  ]);
});

test("a 2xx to a body sent with its head, without the ask, is not taken: the upload goes again waiting for the ask, as every one after it", async (t) => {
  const { server, client } = await uploadClient(t, (index) => (index === 1 ? "early" : "ask"));
  for (let i = 0; i < 3; i++) assert.equal((await client.request(server.url, nar(100))).status, 201);
  assert.deepEqual(server.uploads, [
    { eager: false, bytes: 100 },
    // Answered 200 at once, unread: sent again, and this server is not trusted with a body unasked again.
    { eager: true, bytes: 0 },
    { eager: false, bytes: 100 },
    { eager: false, bytes: 100 },
  ]);
});

test("a server that answers a body sent with its head without the ask, and the upload sent again before its body: the upload fails as early", async (t) => {
  const { server, client } = await uploadClient(t, (index) => (index === 0 ? "ask" : "early"));
  assert.equal((await client.request(server.url, nar(100))).status, 201);
  await assert.rejects(
    client.request(server.url, nar(100)),
    /cache local answered PUT \/nar\/x\.nar\.zst with HTTP 200 before receiving the whole upload/,
  );
  assert.deepEqual(server.uploads, [
    { eager: false, bytes: 100 },
    { eager: true, bytes: 0 },
    { eager: false, bytes: 0 },
  ]);
});

test("uploads in flight with their heads when a server answers one without the ask each go again once, waiting for it", async (t) => {
  const { server, client } = await uploadClient(t, (index) => (index >= 1 && index <= 3 ? "early" : "ask"), 3);
  assert.equal((await client.request(server.url, nar(100))).status, 201);
  const answers = await Promise.all([1, 2, 3].map(() => client.request(server.url, nar(100))));
  assert.deepEqual(
    answers.map((answer) => answer.status),
    [201, 201, 201],
  );
  assert.deepEqual(server.uploads, [
    { eager: false, bytes: 100 },
    ...Array(3).fill({ eager: true, bytes: 0 }),
    ...Array(3).fill({ eager: false, bytes: 100 }),
  ]);
});

test("a refusal of a body sent with its head, without the ask, ends its connection: the body may be unread", async (t) => {
  const { server, client } = await uploadClient(t, (index) => (index === 1 ? "refuse" : "ask"));
  assert.equal((await client.request(server.url, nar(100))).status, 201);
  await assert.rejects(
    client.request(server.url, nar(100)),
    /cache local answered PUT \/nar\/x\.nar\.zst with HTTP 413/,
  );
  // A refusal says nothing of whether bodies are read: the next still goes with its head, on a new connection.
  assert.equal((await client.request(server.url, nar(100))).status, 201);
  assert.deepEqual(server.uploads, [
    { eager: false, bytes: 100 },
    { eager: true, bytes: 0 },
    { eager: true, bytes: 100 },
  ]);
  assert.equal(server.connections(), 2);
});
