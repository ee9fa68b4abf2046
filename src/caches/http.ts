/**
 * Plain HTTP/1.1 for cache APIs, genpush's own client over `net`/`tls` sockets: a fixed set of
 * keep-alive connections per origin (at most `maxSockets`, and as many again for questions, which
 * never wait behind uploads), one timer per connection, and
 * every request bounded — an idle time-out (no byte moving; once a body was handed to the
 * system whole, longer by what may still be on its way: idleAfterSendMs in
 * src/runtime/bounds.ts), a total deadline (a server that trickles its headers or body a byte
 * at a time still ends by it), and a cap on the body read (no honest cache answers a narinfo
 * query or `nix-cache-info` with megabytes). Redirects are never followed (a 3xx is an
 * answer like any other). Answers are classified once: 401/403 an authentication error
 * naming the cache, 429 and 5xx retryable (with `Retry-After`), connection failures
 * retryable. A request a server closed its kept-alive connection on without answering any
 * of it (nginx closes one after 1,000 requests) is sent again on a new connection, once.
 *
 * Trust and credentials are Nix's own, looked up only when a cache is used:
 * HTTPS trusts the CA bundle Nix would (`ssl-cert-file`, `NIX_SSL_CERT_FILE`,
 * `SSL_CERT_FILE`), and a credential from Nix's netrc is sent from the first
 * request on, as Nix (curl with CURLOPT_NETRC) sends it: to each host the
 * credential netrc names for that host (a NAR a narinfo places on another host
 * never gets the cache's).
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { isIP, connect as netConnect, type Socket } from "node:net";
import type { Readable } from "node:stream";
import { nixSetting } from "../nix/cli.js";
import { idleAfterSendMs, MIN_UPLOAD_BYTES_PER_SECOND } from "../runtime/bounds.js";
import { GenpushError } from "../runtime/errors.js";
import { formatBytes, formatSeconds } from "../runtime/format.js";
import { parseRetryAfter, RetryableError } from "../runtime/retry.js";

/** The largest answer body read unless a request allows more. */
export const DEFAULT_MAX_BODY = 1024 * 1024;

/** The most an answer's status line and headers may take: no cache sends more. */
const MAX_HEAD_BYTES = 64 * 1024;

export interface HttpClientOptions {
  cacheName: string;
  /** Connections per origin. */
  maxSockets: number;
  /**
   * No byte moving for this long fails a request (after a body was handed to the system
   * whole: idleAfterSendMs); so does a request not done by then (unless it sets its own deadline).
   */
  timeoutMs: number;
  /** What to do about a refused credential. */
  authHint: string;
  /**
   * The `Authorization` value to send to `url`'s host (or undefined for none), looked up
   * once per host name, before the first request to it: netrc's match, by host name.
   */
  credentials?: (url: URL) => Promise<string | undefined>;
}

export interface HttpRequest {
  method: string;
  headers?: Record<string, string>;
  /**
   * A string is sent as JSON (unless `content-type` says otherwise); a buffer as it is; a
   * stream as it comes (chunked unless `content-length` is set).
   */
  body?: string | Buffer | Readable;
  accept?: number[];
  signal?: AbortSignal;
  /** The whole request, answer body included, ends by this long after it began (default: the client's time-out). */
  deadlineMs?: number;
  /** The largest answer body read (default DEFAULT_MAX_BODY). */
  maxBodyBytes?: number;
  /**
   * A question (a narinfo's HEAD or GET): it goes on connections of the questions' own (as many
   * again as `maxSockets`), so that it never waits in the queue behind uploads, which on a slow
   * uplink can hold every connection for longer than a question may take.
   */
  question?: boolean;
  /**
   * Catch a 2xx to an upload the server did not read (`Expect: 100-continue`). The body goes
   * once the server asks for it, as curl does, or after CONTINUE_WAIT_MS without an answer:
   * a 2xx before the whole body went out answers an upload the server never read, and fails.
   * Once the server has asked for a body (its first 100 Continue), a body of at most
   * EAGER_BODY_BYTES goes at once with its head, still expecting 100-continue: a 2xx with no
   * 100 Continue before it is then the sign of a server that did not read it, and the upload
   * goes again the first way, as does every upload to that server from then on. Without
   * Expect: 100-continue, a small body is with the system whole before any answer can come,
   * and no answer could be seen to be early.
   */
  expectContinue?: boolean;
}

/** How long a server that does not speak 100-continue is waited for before the body goes anyway (curl's 1 s). */
const CONTINUE_WAIT_MS = 1000;
/**
 * The largest body sent with its head to a server known to ask for bodies: what a refusal (401,
 * 413) lets go in vain. Larger ones (a large NAR) wait for the server's ask, as before.
 */
export const EAGER_BODY_BYTES = 1024 * 1024;

export interface HttpAnswer {
  status: number;
  body: Buffer;
}

/** What an HTTPS connection needs: node:tls (loaded only for an https:// cache), and the CAs Nix trusts. */
type Trust = { ca?: Buffer; connect: typeof import("node:tls")["connect"] };

export class HttpClient {
  private trust: Promise<Trust> | undefined;
  private readonly authorizations = new Map<string, Promise<string | undefined>>();
  private readonly pools = new Map<string, Pool>();
  private closed = false;

  constructor(private readonly options: HttpClientOptions) {}

  /**
   * Start looking up what the first request to `url` needs (Nix's settings: the netrc file,
   * the CA bundle), so that it is ready by then; a failure shows at that request.
   */
  warm(url: URL): void {
    this.credential(url).catch(() => {});
    if (url.protocol === "https:") this.trustFor().catch(() => {});
  }

  /** Whether a credential is sent to `url`'s host (looked up now if it was not yet). */
  async hasCredential(url: URL): Promise<boolean> {
    return (await this.credential(url)) !== undefined;
  }

  /**
   * One request. Resolves for 2xx and for the statuses in `accept` (such as
   * 404 for "not there"); anything else is an error, retryable where it may pass.
   */
  async request(url: URL, init: HttpRequest): Promise<HttpAnswer> {
    const authorization = await this.credential(url);
    const trust = url.protocol === "https:" ? await this.trustFor() : undefined;
    init.signal?.throwIfAborted();
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new GenpushError(`cache ${this.options.cacheName}: cannot fetch ${url.protocol} URLs`, {
        hint: "use an http:// or https:// URL",
      });
    }
    const key = init.question ? `${url.origin} questions` : url.origin;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new Pool(url, this.options.maxSockets, trust);
      this.pools.set(key, pool);
    }
    const exchange = new Exchange(this, url, init, authorization);
    if (this.closed) exchange.fail(exchange.unreachable("the client was closed"));
    else pool.enqueue(exchange);
    return exchange.answer;
  }

  /** The credential for `url`'s host name: each host gets its own, never another host's. */
  private credential(url: URL): Promise<string | undefined> {
    let authorization = this.authorizations.get(url.hostname);
    if (!authorization) {
      authorization = this.options.credentials?.(url) ?? Promise.resolve(undefined);
      this.authorizations.set(url.hostname, authorization);
    }
    return authorization;
  }

  private trustFor(): Promise<Trust> {
    this.trust ??= nixTrust();
    return this.trust;
  }

  close(): void {
    this.closed = true;
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
  }

  /** @internal */ get settings(): HttpClientOptions {
    return this.options;
  }

  /** @internal */ statusError(status: number, retryAfter: string | undefined, url: URL, method: string): GenpushError {
    const where = `cache ${this.options.cacheName}`;
    const what = `${method} ${url.pathname}`;
    if (status === 401 || status === 403) {
      return new GenpushError(`${where} refused authentication (HTTP ${status} for ${url.origin}${url.pathname})`, {
        hint: this.options.authHint,
      });
    }
    // A server that takes no uploads says so the same way every time: no retry.
    if (method === "PUT" && (status === 405 || status === 501)) {
      return new GenpushError(`${where} takes no uploads: it answered ${what} with HTTP ${status}`, {
        hint: "point `store:` at the cache's upload URL, or enable uploads on the server (nginx: `dav_methods PUT; create_full_put_path on;`)",
      });
    }
    if (status === 501 || status === 505) {
      return new GenpushError(`${where} does not implement ${what} (HTTP ${status})`, {
        hint: "check that the URL is the binary cache's, not another server's",
      });
    }
    if (status === 429 || status >= 500) {
      const hint =
        method === "PUT"
          ? "the cache's server failed to store an upload: its log says why (often: it may not write where the cache's files are)"
          : "the cache's server failed: its log says why";
      return new RetryableError(`${where} answered ${what} with HTTP ${status}`, parseRetryAfter(retryAfter), hint);
    }
    return new GenpushError(`${where} answered ${what} with HTTP ${status}`, {
      hint: "check the cache's URL and name in the configuration",
    });
  }
}

/** The connections to one origin: at most `max`, requests waiting in their order. */
class Pool {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly queue: Exchange[] = [];
  /**
   * Whether the server asks for an upload's body (100 Continue) before it answers: unknown
   * (undefined) until it first does; false for good once it answered a body sent with its head
   * with a 2xx without asking (HttpRequest.expectContinue).
   */
  asksForBodies: boolean | undefined;

  constructor(
    readonly url: URL,
    private readonly max: number,
    readonly trust: Trust | undefined,
  ) {}

  enqueue(exchange: Exchange, first = false): void {
    if (first) this.queue.unshift(exchange);
    else this.queue.push(exchange);
    this.dispatch();
  }

  /** Give waiting requests to free connections, opening new ones up to the bound. */
  dispatch(): void {
    while (this.queue.length > 0) {
      const next = this.queue[0] as Exchange;
      if (next.settled) {
        this.queue.shift();
        continue;
      }
      let connection = this.idle.pop();
      if (!connection) {
        if (this.all.size >= this.max) return;
        connection = new Connection(this);
        this.all.add(connection);
      }
      this.queue.shift();
      connection.start(next);
    }
  }

  /** A connection finished an exchange and may serve another. */
  free(connection: Connection): void {
    this.idle.push(connection);
    this.dispatch();
  }

  /** A connection ended. */
  gone(connection: Connection): void {
    this.all.delete(connection);
    const at = this.idle.indexOf(connection);
    if (at >= 0) this.idle.splice(at, 1);
    this.dispatch();
  }

  close(): void {
    for (const exchange of this.queue) exchange.fail(exchange.unreachable("the client was closed"));
    this.queue.length = 0;
    for (const connection of [...this.all]) connection.destroy();
  }
}

/** One request and its answer, as far as it got. */
class Exchange {
  readonly answer: Promise<HttpAnswer>;
  settled = false;
  /** A final answer's status line arrived. */
  answering = false;
  /** The body began to go out (a stream's cannot be sent again). */
  bodyStarted = false;
  /** The whole request was written to the connection (some of it may still be queued). */
  written = false;
  /** The whole request was handed to the system. */
  sentWhole = false;
  /** Its body went with its head, to a server known to ask for bodies (HttpRequest.expectContinue). */
  eager = false;
  /** The server asked for its body (100 Continue). */
  continued = false;
  /** Bytes of the body handed to the system. */
  sent = 0;
  /** Once the whole body was handed over: the idle time-out from then on. */
  idleAfterSend: number | undefined;
  /** When it went out on a connection: its deadline counts from then, not from its wait for one. */
  startedAt = performance.now();
  readonly deadlineMs: number;
  readonly maxBody: number;
  readonly head: string;
  readonly streamed: boolean;
  /** Sent again once already: a second close without an answer is the answer. */
  resent = false;
  private resolve!: (answer: HttpAnswer) => void;
  private reject!: (error: unknown) => void;
  private onAbort: (() => void) | undefined;
  connection: Connection | undefined;

  constructor(
    readonly client: HttpClient,
    readonly url: URL,
    readonly init: HttpRequest,
    authorization: string | undefined,
  ) {
    this.answer = new Promise<HttpAnswer>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    const { timeoutMs } = client.settings;
    this.deadlineMs = init.deadlineMs ?? timeoutMs;
    this.maxBody = init.maxBodyBytes ?? DEFAULT_MAX_BODY;
    const body = init.body;
    this.streamed = body !== undefined && typeof body === "object" && !Buffer.isBuffer(body);
    const headers: Record<string, string> = {};
    if (typeof body === "string") headers["content-type"] = "application/json";
    for (const [name, value] of Object.entries(init.headers ?? {})) headers[name.toLowerCase()] = value;
    if (authorization !== undefined) headers.authorization = authorization;
    if (init.expectContinue && body !== undefined) headers.expect = "100-continue";
    if (typeof body === "string") headers["content-length"] = String(Buffer.byteLength(body));
    else if (Buffer.isBuffer(body)) headers["content-length"] = String(body.length);
    else if (body === undefined && (init.method === "PUT" || init.method === "POST")) headers["content-length"] = "0";
    else if (this.streamed && headers["content-length"] === undefined) headers["transfer-encoding"] = "chunked";
    let head = `${init.method} ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    this.head = `${head}\r\n`;
    const signal = init.signal;
    if (signal) {
      this.onAbort = () => {
        const reason = signal.reason;
        const error =
          reason instanceof GenpushError
            ? new RetryableError(`${this.where}: ${reason.message} (${this.what})`)
            : reason;
        this.fail(error);
        this.connection?.destroy();
      };
      signal.addEventListener("abort", this.onAbort, { once: true });
    }
    if (this.streamed) {
      // An error of the body's own (a NAR that does not match its hash) is the one to report.
      (body as Readable).on("error", (error) => {
        this.fail(
          error instanceof GenpushError
            ? error
            : new GenpushError(`${this.where}: the upload failed: ${error.message}`),
        );
        this.connection?.destroy();
      });
    }
  }

  get where(): string {
    return `cache ${this.client.settings.cacheName}`;
  }

  get what(): string {
    return `${this.init.method} ${this.url.pathname}`;
  }

  /**
   * Whether it may go again on a new connection: nothing of it answered, its method one a
   * server may see twice (RFC 9110 §9.2.2: a MKCOL or POST that did its work and lost its
   * answer would be refused or done again), and its body one that can be sent again.
   */
  get resendable(): boolean {
    return (
      !this.settled &&
      !this.answering &&
      !this.resent &&
      IDEMPOTENT.has(this.init.method) &&
      !(this.streamed && this.bodyStarted)
    );
  }

  /** It goes out on a connection (again, when resent): what a try sent and saw starts afresh. */
  begin(): void {
    this.startedAt = performance.now();
    this.answering = false;
    this.bodyStarted = false;
    this.written = false;
    this.sentWhole = false;
    this.eager = false;
    this.continued = false;
    this.sent = 0;
    this.idleAfterSend = undefined;
  }

  succeed(answer: HttpAnswer): void {
    if (this.settled) return;
    this.settled = true;
    this.detach();
    this.resolve(answer);
  }

  fail(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.detach();
    this.reject(error);
  }

  private detach(): void {
    if (this.onAbort) this.init.signal?.removeEventListener("abort", this.onAbort);
  }

  unreachable(message: string): RetryableError {
    return new RetryableError(
      `${this.where} is unreachable at ${this.url.origin}: ${message}`,
      undefined,
      reachHint(this.url),
    );
  }

  /** The error for the one timer's verdict: no byte moving for `idleMs`, or past the deadline. */
  timedOut(deadline: boolean): RetryableError {
    const { timeoutMs } = this.client.settings;
    let message: string;
    if (deadline) {
      const verb = this.answering ? "did not finish answering" : "did not answer";
      message = `${this.where} ${verb} ${this.what} within ${formatSeconds(this.deadlineMs)}`;
    } else if (this.idleAfterSend === undefined) {
      message = `${this.where} did not answer ${this.what} within ${formatSeconds(timeoutMs)}`;
    } else {
      message = `${this.where} did not answer ${this.what} within ${formatSeconds(this.idleAfterSend)} after the last of its ${formatBytes(this.sent)} was sent (${formatSeconds(timeoutMs)}, plus the time what may still have been on its way needs at ${MIN_UPLOAD_BYTES_PER_SECOND / 1024} KiB/s)`;
    }
    return new RetryableError(message, undefined, reachHint(this.url));
  }
}

/** Methods a server may receive twice with the effect of once: the only ones resent unasked. */
const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);

/** The state of an answer being read. */
enum Read {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  UntilClose,
}

/** One kept-alive connection: one exchange at a time, one timer for its bounds. */
class Connection {
  private socket: Socket | undefined;
  private connected = false;
  private exchange: Exchange | undefined;
  /** Exchanges answered on it: a close before any byte of the next answer is the server's keep-alive end. */
  private served = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastActivity = 0;
  private destroyed = false;
  // The answer being read.
  private state = Read.Head;
  private pending: Buffer | undefined;
  private status = 0;
  private retryAfter: string | undefined;
  private keepAlive = true;
  private remaining = 0;
  private chunks: Buffer[] = [];
  private size = 0;
  private received = false;
  private continueTimer: NodeJS.Timeout | undefined;

  constructor(private readonly pool: Pool) {}

  start(exchange: Exchange): void {
    exchange.begin();
    this.exchange = exchange;
    exchange.connection = this;
    this.state = Read.Head;
    this.pending = undefined;
    this.chunks = [];
    this.size = 0;
    this.received = false;
    this.retryAfter = undefined;
    this.keepAlive = true;
    this.lastActivity = performance.now();
    this.arm();
    if (!this.socket) this.open();
    else {
      this.socket.ref();
      this.send();
    }
  }

  private open(): void {
    const { url, trust } = this.pool;
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    const port = Number(url.port) || (url.protocol === "https:" ? 443 : 80);
    const socket =
      url.protocol === "https:" && trust
        ? trust.connect({
            host,
            port,
            ...(isIP(host) ? {} : { servername: host }),
            ...(trust?.ca ? { ca: trust.ca } : {}),
            ALPNProtocols: ["http/1.1"],
          })
        : netConnect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on(url.protocol === "https:" ? "secureConnect" : "connect", () => {
      this.connected = true;
      this.touch();
      this.send();
    });
    socket.on("data", (data: Buffer) => this.onData(data));
    socket.on("drain", () => this.touch());
    socket.on("end", () => this.onClose(undefined));
    socket.on("error", (error) => this.onClose(error));
    socket.on("close", () => this.onClose(undefined));
  }

  /** Something moved: the idle time-out starts again. */
  private touch(): void {
    this.lastActivity = performance.now();
  }

  /** The one timer: fires at the earlier of the idle time-out and the deadline, and judges then. */
  private arm(): void {
    const exchange = this.exchange;
    if (!exchange) return;
    const now = performance.now();
    const idle = exchange.idleAfterSend ?? exchange.client.settings.timeoutMs;
    const deadlineIn = exchange.startedAt + exchange.deadlineMs - now;
    const idleIn = this.lastActivity + idle - now;
    if (deadlineIn <= 0 || idleIn <= 0) {
      this.timer = undefined;
      exchange.fail(exchange.timedOut(deadlineIn <= 0));
      this.destroy();
      return;
    }
    this.timer = setTimeout(() => this.arm(), Math.min(deadlineIn, idleIn) + 1);
  }

  private send(): void {
    const exchange = this.exchange;
    const socket = this.socket;
    if (!exchange || !socket || !this.connected) return;
    if (exchange.settled) {
      this.finish(false);
      return;
    }
    const body = exchange.init.body;
    exchange.eager =
      exchange.init.expectContinue === true &&
      this.pool.asksForBodies === true &&
      Buffer.isBuffer(body) &&
      body.length <= EAGER_BODY_BYTES;
    if (body === undefined || (exchange.init.expectContinue && !exchange.eager)) {
      exchange.written = body === undefined;
      socket.write(exchange.head, "latin1", () => {
        this.touch();
        if (body === undefined) this.sentWhole(exchange);
      });
      if (body !== undefined) this.continueTimer = setTimeout(() => this.sendBody(), CONTINUE_WAIT_MS);
      return;
    }
    socket.cork();
    socket.write(exchange.head, "latin1");
    this.sendBody();
    socket.uncork();
  }

  private sendBody(): void {
    clearTimeout(this.continueTimer);
    this.continueTimer = undefined;
    const exchange = this.exchange;
    const socket = this.socket;
    if (!exchange || !socket || exchange.bodyStarted || exchange.answering || exchange.settled) return;
    exchange.bodyStarted = true;
    const body = exchange.init.body as string | Buffer | Readable;
    if (typeof body === "string" || Buffer.isBuffer(body)) {
      const bytes = typeof body === "string" ? Buffer.from(body) : body;
      exchange.written = true;
      socket.write(bytes, () => {
        exchange.sent = bytes.length;
        this.touch();
        this.sentWhole(exchange);
      });
      return;
    }
    const chunked = exchange.head.includes("\r\ntransfer-encoding: chunked\r\n");
    const onData = (chunk: Buffer) => {
      if (exchange.settled || this.exchange !== exchange) return;
      if (chunked) socket.write(`${chunk.length.toString(16)}\r\n`, "latin1");
      let more = socket.write(chunk);
      if (chunked) more = socket.write("\r\n", "latin1");
      exchange.sent += chunk.length;
      if (!more) {
        body.pause();
        socket.once("drain", () => body.resume());
      }
    };
    const onEnd = () => {
      if (exchange.settled || this.exchange !== exchange) return;
      exchange.written = true;
      socket.write(chunked ? "0\r\n\r\n" : "", "latin1", () => {
        this.touch();
        this.sentWhole(exchange);
      });
    };
    body.on("data", onData);
    body.once("end", onEnd);
  }

  /** The whole request is with the system: what it buffered moves on unseen (src/runtime/bounds.ts). */
  private sentWhole(exchange: Exchange): void {
    if (this.exchange !== exchange || exchange.settled) return;
    exchange.sentWhole = true;
    if (exchange.sent > 0) {
      exchange.idleAfterSend = idleAfterSendMs(exchange.client.settings.timeoutMs, exchange.sent);
    }
  }

  private onData(data: Buffer): void {
    const exchange = this.exchange;
    if (!exchange) {
      // Bytes nobody asked for: the connection cannot be trusted with the next request.
      this.destroy();
      return;
    }
    this.touch();
    this.received = true;
    let at = 0;
    let buffer = data;
    if (this.pending) {
      buffer = Buffer.concat([this.pending, data]);
      this.pending = undefined;
    }
    while (at < buffer.length && this.exchange === exchange && !exchange.settled) {
      switch (this.state) {
        case Read.Head: {
          const end = buffer.indexOf("\r\n\r\n", at, "latin1");
          if (end < 0) {
            if (buffer.length - at > MAX_HEAD_BYTES) {
              this.broken(exchange, "its answer's headers are too long");
              return;
            }
            this.pending = buffer.subarray(at);
            return;
          }
          const head = buffer.toString("latin1", at, end);
          at = end + 4;
          if (!this.parseHead(exchange, head)) return;
          break;
        }
        case Read.Length: {
          const take = Math.min(this.remaining, buffer.length - at);
          if (!this.take(exchange, buffer.subarray(at, at + take))) return;
          at += take;
          this.remaining -= take;
          if (this.remaining === 0) this.complete(exchange);
          break;
        }
        case Read.UntilClose: {
          if (!this.take(exchange, buffer.subarray(at))) return;
          at = buffer.length;
          break;
        }
        case Read.ChunkSize:
        case Read.ChunkEnd:
        case Read.Trailers: {
          const end = buffer.indexOf("\r\n", at, "latin1");
          if (end < 0) {
            if (buffer.length - at > MAX_HEAD_BYTES) {
              this.broken(exchange, "its chunked answer is malformed");
              return;
            }
            this.pending = buffer.subarray(at);
            return;
          }
          const line = buffer.toString("latin1", at, end);
          at = end + 2;
          if (this.state === Read.ChunkEnd) {
            if (line !== "") {
              this.broken(exchange, "its chunked answer is malformed");
              return;
            }
            this.state = Read.ChunkSize;
          } else if (this.state === Read.Trailers) {
            if (line === "") this.complete(exchange);
          } else {
            const size = Number.parseInt(line, 16);
            if (!/^[0-9a-fA-F]+/.test(line) || !Number.isSafeInteger(size)) {
              this.broken(exchange, "its chunked answer is malformed");
              return;
            }
            this.remaining = size;
            this.state = size === 0 ? Read.Trailers : Read.ChunkData;
          }
          break;
        }
        case Read.ChunkData: {
          const take = Math.min(this.remaining, buffer.length - at);
          if (!this.take(exchange, buffer.subarray(at, at + take))) return;
          at += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = Read.ChunkEnd;
          break;
        }
      }
    }
    // Bytes past the end of an answer: no request asked for them.
    if (at < buffer.length && this.exchange !== exchange && !this.destroyed) this.destroy();
  }

  /** The status line and headers; false when the exchange ended on them. */
  private parseHead(exchange: Exchange, head: string): boolean {
    const lines = head.split("\r\n");
    const statusLine = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? "");
    if (!statusLine) {
      this.broken(exchange, "it did not answer in HTTP/1.1");
      return false;
    }
    const status = Number(statusLine[2]);
    let length: number | undefined;
    let chunked = false;
    let connection = statusLine[1] === "0" ? "close" : "keep-alive";
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === "content-length") length = Number(value);
      else if (name === "transfer-encoding") chunked = value.toLowerCase().includes("chunked");
      else if (name === "connection") connection = value.toLowerCase();
      else if (name === "retry-after") this.retryAfter = value;
    }
    if (status >= 100 && status < 200) {
      // 100 Continue: the server asks for the body (sent now, unless it went with the head).
      // Any other 1xx is skipped.
      if (status === 100) {
        exchange.continued = true;
        this.pool.asksForBodies ??= true;
        this.sendBody();
      }
      return true;
    }
    clearTimeout(this.continueTimer);
    this.continueTimer = undefined;
    exchange.answering = true;
    this.status = status;
    this.keepAlive = !connection.includes("close");
    if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
      this.broken(exchange, "its answer's Content-Length is malformed");
      return false;
    }
    const noBody = exchange.init.method === "HEAD" || status === 204 || status === 304;
    if (noBody) this.complete(exchange);
    else if (chunked) this.state = Read.ChunkSize;
    else if (length !== undefined) {
      this.remaining = length;
      this.state = Read.Length;
      if (length === 0) this.complete(exchange);
    } else {
      this.keepAlive = false;
      this.state = Read.UntilClose;
    }
    return true;
  }

  /** A piece of the answer's body: false when it is more than the request reads. */
  private take(exchange: Exchange, piece: Buffer): boolean {
    if (piece.length === 0) return true;
    this.size += piece.length;
    if (this.size > exchange.maxBody) {
      this.tooLarge(exchange);
      return false;
    }
    this.chunks.push(piece);
    return true;
  }

  private tooLarge(exchange: Exchange): void {
    exchange.fail(
      new GenpushError(`${exchange.where} answered ${exchange.what} with more than ${formatBytes(exchange.maxBody)}`, {
        hint: "no binary cache answers that much here: check that the URL is the cache's, not another server or a proxy's page",
      }),
    );
    this.destroy();
  }

  private broken(exchange: Exchange, why: string): void {
    exchange.fail(
      new RetryableError(
        `${exchange.where} answered ${exchange.what} in a way HTTP does not allow: ${why}`,
        undefined,
        reachHint(exchange.url),
      ),
    );
    this.destroy();
  }

  /** The whole answer is in. */
  private complete(exchange: Exchange): void {
    const status = this.status;
    const { init } = exchange;
    // Judged as the answer ends: by then a small body has gone out too, early or not.
    const early = init.body !== undefined && init.expectContinue === true && !exchange.sentWhole;
    // A body sent with its head, and answered without the server asking for it: nothing shows
    // the server read it. Neither the answer nor the connection (it may hold the body unread)
    // is taken: the upload goes again, first in the queue, on another connection, waiting for
    // the ask, as every upload to this server does from now on.
    const unasked = exchange.eager && !exchange.continued;
    const ok = status >= 200 && status < 300;
    if (unasked && ok) {
      this.pool.asksForBodies = false;
      this.handBack(exchange);
      this.destroy();
      return;
    }
    if (early && ok) {
      // A 2xx before the whole body was sent is no proof the cache has it: a failure, never "uploaded".
      exchange.fail(
        new GenpushError(
          `${exchange.where} answered ${exchange.what} with HTTP ${status} before receiving the whole upload`,
          {
            hint: "the server (or a proxy before it) does not read uploads: check its request-body settings",
          },
        ),
      );
    } else if (ok || init.accept?.includes(status)) {
      const chunks = this.chunks;
      exchange.succeed({ status, body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks) });
    } else {
      exchange.fail(exchange.client.statusError(status, this.retryAfter, exchange.url, init.method));
    }
    // Answered before the whole body was sent (413, 5xx, or early), or without asking for a body
    // sent with its head (it may be unread): the connection cannot go on.
    this.finish(this.keepAlive && exchange.written && !unasked);
  }

  /** The exchange is over: keep the connection for the next, or end it. */
  private finish(reuse: boolean): void {
    clearTimeout(this.timer);
    clearTimeout(this.continueTimer);
    this.timer = undefined;
    this.continueTimer = undefined;
    if (this.exchange) this.exchange.connection = undefined;
    this.exchange = undefined;
    this.chunks = [];
    if (!reuse || this.destroyed) {
      this.destroy();
      return;
    }
    this.served++;
    // A kept connection does not keep the process alive.
    this.socket?.unref();
    // Not at once: the bytes read with the answer's end are judged first (onData: bytes past an
    // answer end the connection), before a next request could go out on it.
    queueMicrotask(() => {
      if (!this.destroyed) this.pool.free(this);
    });
  }

  /** The connection ended or failed: the exchange on it ends with it, or goes again. */
  private onClose(error: Error | undefined): void {
    const exchange = this.exchange;
    if (exchange && !exchange.settled) {
      if (this.state === Read.UntilClose && error === undefined && this.received) {
        // An answer without a length ends with its connection.
        this.complete(exchange);
      } else if (this.served > 0 && !this.received && exchange.resendable) {
        // The server ended a kept-alive connection this request went out on, and answered none of it.
        exchange.resent = true;
        this.handBack(exchange);
      } else {
        exchange.fail(
          exchange.unreachable(
            error?.message ?? (this.received ? "the answer broke off" : "the connection closed without an answer"),
          ),
        );
      }
    }
    this.destroy();
  }

  /** The exchange goes again, first in the pool's queue, on another connection than this one. */
  private handBack(exchange: Exchange): void {
    this.exchange = undefined;
    exchange.connection = undefined;
    this.pool.enqueue(exchange, true);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    clearTimeout(this.timer);
    clearTimeout(this.continueTimer);
    const exchange = this.exchange;
    this.exchange = undefined;
    if (exchange && !exchange.settled) exchange.fail(exchange.unreachable("the connection was closed"));
    this.socket?.destroy();
    this.pool.gone(this);
  }
}

/**
 * The CA bundle Nix trusts for HTTPS, as Nix picks it: its `ssl-cert-file`
 * setting (newer Nix has it; it already reads the variables below), else
 * NIX_SSL_CERT_FILE, SSL_CERT_FILE, then the system bundle. Nothing found:
 * Node's own roots.
 */
async function nixTrust(): Promise<Trust> {
  const setting = await nixSetting("ssl-cert-file").catch(() => undefined);
  const candidates = [
    setting,
    process.env.NIX_SSL_CERT_FILE,
    process.env.SSL_CERT_FILE,
    "/etc/ssl/certs/ca-certificates.crt",
  ];
  const { connect } = await import("node:tls");
  const file = candidates.find((f): f is string => Boolean(f) && existsSync(f as string));
  if (!file) return { connect };
  try {
    return { ca: await readFile(file), connect };
  } catch (error) {
    throw new GenpushError(`cannot read the CA bundle ${file}: ${(error as NodeJS.ErrnoException).code}`, {
      hint: "check NIX_SSL_CERT_FILE / SSL_CERT_FILE (or Nix's ssl-cert-file setting)",
    });
  }
}

/** What to check when a cache cannot be reached or does not answer. */
function reachHint(url: URL): string {
  return `check that the cache answers (\`curl -sSI ${url.origin}${url.pathname.replace(/[^/]*$/, "")}nix-cache-info\`), that its server runs, and the URL in the configuration`;
}
