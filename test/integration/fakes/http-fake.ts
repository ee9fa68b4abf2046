// The machinery every fake server of the test suite shares: node `http` on
// 127.0.0.1 (a free port), a request log that never holds a token, a body
// limit like a reverse proxy's, and fault injection (fail or hang the next
// requests). Each fake answers its own protocol in `route`.
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface LoggedRequest {
  method: string;
  /** path and query, as sent */
  path: string;
  /** the status answered; 0 while unanswered (a hung request) */
  status: number;
  /** whether an Authorization header came, and whether it held the right token (never the text) */
  auth: "none" | "wrong" | "ok";
  /** request body size in bytes */
  bytes: number;
  /** the store hashes a query or upload carried, when the fake understood it */
  hashes?: string[];
  /** hashes.length */
  batch?: number;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  /** an object is sent as JSON; a string or Buffer as is */
  body?: unknown;
}

export interface Incoming {
  method: string;
  url: URL;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  auth: LoggedRequest["auth"];
  /** this request's log entry: a route may add `hashes` */
  entry: LoggedRequest;
}

type Fault = { kind: "fail"; status: number; headers: Record<string, string> } | { kind: "hang" };

export interface FakeServerOptions {
  /** the bearer token that authorizes; undefined: no token checks (a proxy) */
  token?: string;
  /** bodies above this many bytes are refused with 413, as nginx's client_max_body_size does */
  maxBodyBytes?: number;
}

export abstract class FakeHttpServer {
  url = "";
  port = 0;
  /** every request since start or clearLog(), in arrival order */
  requests: LoggedRequest[] = [];
  token: string | undefined;
  maxBodyBytes: number;
  private readonly faults: Fault[] = [];
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();

  constructor(options: FakeServerOptions = {}) {
    this.token = options.token;
    this.maxBodyBytes = options.maxBodyBytes ?? Number.POSITIVE_INFINITY;
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  /** The protocol: answer one request whose body has been read. */
  protected abstract route(req: Incoming): Reply | Promise<Reply>;

  /** The body of an error this server makes up itself (a fault, 413), in its own style. */
  protected abstract errorBody(status: number): unknown;

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  /** The next `n` requests are answered `status` (with `headers`, e.g. Retry-After) before anything else. */
  failNext(n: number, status: number, headers: Record<string, string> = {}): void {
    for (let i = 0; i < n; i++) this.faults.push({ kind: "fail", status, headers });
  }

  /** The next `n` requests are read and never answered. */
  hangNext(n: number): void {
    for (let i = 0; i < n; i++) this.faults.push({ kind: "hang" });
  }

  clearLog(): void {
    this.requests = [];
  }

  /** Requests to `path` (exact pathname) by `method`. */
  requestsTo(method: string, path: string | RegExp): LoggedRequest[] {
    return this.requests.filter(
      (r) => r.method === method && (typeof path === "string" ? r.path.split("?")[0] === path : path.test(r.path)),
    );
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private authOf(header: string | undefined): LoggedRequest["auth"] {
    if (header === undefined) return "none";
    const m = /^bearer\s+(.+)$/i.exec(header.trim());
    return m && this.token !== undefined && m[1] === this.token ? "ok" : "wrong";
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const entry: LoggedRequest = {
      method: req.method ?? "",
      path: req.url ?? "",
      status: 0,
      auth: this.authOf(req.headers.authorization),
      bytes: 0,
    };
    this.requests.push(entry);
    // Read the whole body first (keeping at most the limit), so an early answer never breaks the client's write.
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        entry.bytes += chunk.length;
        if (entry.bytes <= this.maxBodyBytes) chunks.push(chunk);
      }
    } catch {
      return; // the client went away mid-body: nothing to answer
    }
    const fault = this.faults.shift();
    if (fault?.kind === "hang") return;
    let reply: Reply;
    if (fault) reply = { status: fault.status, headers: fault.headers, body: this.errorBody(fault.status) };
    else if (entry.bytes > this.maxBodyBytes) {
      reply = { status: 413, headers: { connection: "close" }, body: NGINX_413 };
    } else {
      try {
        const url = new URL(entry.path, this.url);
        const body = Buffer.concat(chunks);
        reply = await this.route({ method: entry.method, url, headers: req.headers, body, auth: entry.auth, entry });
      } catch (error) {
        reply = { status: 500, body: `fake server bug: ${(error as Error).message}` };
      }
    }
    if (entry.hashes) entry.batch = entry.hashes.length;
    entry.status = reply.status;
    send(res, reply);
  }
}

function send(res: http.ServerResponse, reply: Reply): void {
  const headers = { ...reply.headers };
  let body: Buffer | string = "";
  if (Buffer.isBuffer(reply.body) || typeof reply.body === "string") body = reply.body;
  else if (reply.body !== undefined) {
    body = JSON.stringify(reply.body);
    headers["content-type"] ??= "application/json";
  }
  res.writeHead(reply.status, headers);
  res.end(body);
}

const NGINX_413 =
  "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n" +
  "<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/** nix-base32 store hashes, as Attic's StorePathHash accepts them. */
export const STORE_HASH_RE = /^[0123456789abcdfghijklmnpqrsvwxyz]{32}$/;

export function isJson(req: Incoming): boolean {
  return /^application\/json\b/i.test(req.headers["content-type"] ?? "");
}
