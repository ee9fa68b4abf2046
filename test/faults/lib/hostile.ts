// A hostile binary cache of the suite's own, in front of the harness's real nginx: every
// request is forwarded as it came, except the ones its mode picks, which it answers the way a
// broken server or proxy does. Only this can play them: nginx answers honestly.
//
// - trickle-headers: every request gets a status line, then one header byte every `trickleMs`,
//   never a blank line (the socket is never idle, so an idle time-out never fires);
// - trickle-puts: the same, for PUTs only (uploads, as `nix copy` makes them);
// - trickle-cache-info: `GET /nix-cache-info` gets honest headers and one body byte every
//   `trickleMs` of a body announced as 1 MB;
// - endless-cache-info: `GET /nix-cache-info` gets a chunked body that never ends (stopped
//   after `endlessLimit` bytes, so a client that reads it all cannot take the machine down);
// - early-nar: `PUT /nar/...` is answered 200 at once, and its body is never read;
// - in any mode, the next `failPuts` PUTs (NARs and narinfos alike) fail before reaching nginx:
//   answered 503, or, every other one, the connection reset.
// Everything it does is bounded: `close()` ends every socket and timer.
import http from "node:http";
import type { Socket } from "node:net";

export type HostileMode =
  | "forward"
  | "trickle-headers"
  | "trickle-puts"
  | "trickle-cache-info"
  | "endless-cache-info"
  | "early-nar";

export interface Hostile {
  url: string;
  mode: HostileMode;
  trickleMs: number;
  endlessLimit: number;
  /** the next this many PUTs fail (503, or a reset connection, alternately) */
  failPuts: number;
  /** requests answered the hostile way, per mode */
  served: Record<string, number>;
  /** bytes of endless body written */
  endlessBytes: number;
  close(): Promise<void>;
}

export async function startHostile(targetPort: number): Promise<Hostile> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const every = (ms: number, tick: () => boolean) => {
    const timer = setInterval(() => {
      if (!tick()) {
        clearInterval(timer);
        timers.delete(timer);
      }
    }, ms);
    timers.add(timer);
  };
  const count = (mode: string) => {
    hostile.served[mode] = (hostile.served[mode] ?? 0) + 1;
  };

  const server = http.createServer((req, res) => {
    const mode = hostile.mode;
    const url = req.url ?? "/";
    const socket = req.socket;
    if (req.method === "PUT" && hostile.failPuts > 0) {
      hostile.failPuts--;
      const how = (hostile.served["fail-puts"] ?? 0) % 2 === 0 ? "503" : "reset";
      count("fail-puts");
      if (how === "reset") socket.destroy();
      else res.writeHead(503, { "content-length": "0", connection: "close" }).end();
      return;
    }
    if (mode === "trickle-headers" || (mode === "trickle-puts" && req.method === "PUT")) {
      count(mode);
      socket.write("HTTP/1.1 200 OK\r\nX-Slow: ");
      every(hostile.trickleMs, () => !socket.destroyed && socket.write("a"));
      return;
    }
    if (mode === "trickle-cache-info" && req.method === "GET" && url === "/nix-cache-info") {
      count(mode);
      res.writeHead(200, { "content-type": "text/x-nix-cache-info", "content-length": "1000000" });
      res.write("S");
      every(hostile.trickleMs, () => !socket.destroyed && res.write("t"));
      return;
    }
    if (mode === "endless-cache-info" && req.method === "GET" && url === "/nix-cache-info") {
      count(mode);
      res.writeHead(200, { "content-type": "text/x-nix-cache-info" });
      const chunk = Buffer.alloc(64 * 1024, "StoreDir: /nix/store\n");
      const pump = () => {
        while (!socket.destroyed && hostile.endlessBytes < hostile.endlessLimit) {
          hostile.endlessBytes += chunk.length;
          if (!res.write(chunk)) {
            res.once("drain", pump);
            return;
          }
        }
        socket.destroy();
      };
      pump();
      return;
    }
    if (mode === "early-nar" && req.method === "PUT" && url.startsWith("/nar/")) {
      count(mode);
      // Never read the body: answer on the raw socket, as a server that does not wait for it.
      socket.pause();
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    const upstream = http.request(
      { host: "127.0.0.1", port: targetPort, method: req.method, path: url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => socket.destroy());
    req.pipe(upstream);
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const hostile: Hostile = {
    url: `http://127.0.0.1:${port}`,
    mode: "forward",
    trickleMs: 500,
    failPuts: 0,
    endlessLimit: 256 * 1024 * 1024,
    served: {},
    endlessBytes: 0,
    close: () =>
      new Promise((ok) => {
        for (const timer of timers) clearInterval(timer);
        for (const socket of sockets) socket.destroy();
        server.close(() => ok());
      }),
  };
  return hostile;
}
