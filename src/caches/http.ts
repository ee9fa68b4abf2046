/**
 * Plain HTTP for cache APIs: keep-alive agents, and every request bounded —
 * an idle time-out (no byte moving; once a body was handed to the system whole,
 * longer by what may still be on its way: idleAfterSendMs in src/runtime/bounds.ts), a
 * total deadline (a server that trickles its headers or body a byte at a time
 * still ends by it), and a cap on the body read (no honest cache answers a
 * narinfo query or `nix-cache-info` with megabytes). Answers are classified once: 401/403 an authentication error
 * naming the cache, 429 and 5xx retryable (with `Retry-After`), connection
 * failures retryable.
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
import type * as Http from "node:http";
import type * as Https from "node:https";
import { createRequire } from "node:module";
import type { Readable } from "node:stream";
import { nixSetting } from "../nix/cli.js";
import { idleAfterSendMs, MIN_UPLOAD_BYTES_PER_SECOND } from "../runtime/bounds.js";
import { GenpushError } from "../runtime/errors.js";
import { parseRetryAfter, RetryableError } from "../runtime/retry.js";

// Required, not imported: Node 22's ESM view of node:http reads every export, and its
// WebSocket, CloseEvent and MessageEvent getters load undici (about 40 ms of start-up).
const require = createRequire(import.meta.url);
const http = require("node:http") as typeof Http;
const https = require("node:https") as typeof Https;

/** The largest answer body read unless a request allows more. */
export const DEFAULT_MAX_BODY = 1024 * 1024;

export interface HttpClientOptions {
  cacheName: string;
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
  /** A string is sent as JSON; a stream as it comes (chunked unless `content-length` is set). */
  body?: string | Readable;
  accept?: number[];
  signal?: AbortSignal;
  /** The whole request, answer body included, ends by this long after it began (default: the client's time-out). */
  deadlineMs?: number;
  /** The largest answer body read (default DEFAULT_MAX_BODY). */
  maxBodyBytes?: number;
  /**
   * Send a stream body only once the server asks for it (`Expect: 100-continue`), as curl
   * does, or after CONTINUE_WAIT_MS without an answer: a 2xx before that is then known to
   * be an answer to an upload the server never read, however small the body.
   */
  expectContinue?: boolean;
}

/** How long a server that does not speak 100-continue is waited for before the body goes anyway (curl's 1 s). */
const CONTINUE_WAIT_MS = 1000;

export interface HttpAnswer {
  status: number;
  body: Buffer;
}

export class HttpClient {
  private agents: Promise<Record<"http:" | "https:", Http.Agent>> | undefined;
  private readonly authorizations = new Map<string, Promise<string | undefined>>();

  constructor(private readonly options: HttpClientOptions) {}

  /**
   * Start looking up what the first request to `url` needs (Nix's settings: the netrc file,
   * the CA bundle), so that it is ready by then; a failure shows at that request.
   */
  warm(url: URL): void {
    this.credential(url).catch(() => {});
    this.agentsFor().catch(() => {});
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
    const [agents, authorization] = await Promise.all([this.agentsFor(), this.credential(url)]);
    return this.send(url, init, agents[url.protocol as "http:" | "https:"], authorization);
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

  private agentsFor(): Promise<Record<"http:" | "https:", Http.Agent>> {
    this.agents ??= (async () => {
      const { maxSockets } = this.options;
      return {
        "http:": new http.Agent({ keepAlive: true, maxSockets }),
        "https:": new https.Agent({ keepAlive: true, maxSockets, ...(await nixTrust()) }),
      };
    })();
    return this.agents;
  }

  private send(url: URL, init: HttpRequest, agent: Http.Agent, authorization: string | undefined): Promise<HttpAnswer> {
    const where = `cache ${this.options.cacheName}`;
    const what = `${init.method} ${url.pathname}`;
    const deadlineMs = init.deadlineMs ?? this.options.timeoutMs;
    const maxBody = init.maxBodyBytes ?? DEFAULT_MAX_BODY;
    const streamed = typeof init.body === "object";
    let bodySent = false;
    // Bytes of the body handed to the request; once it finished, what the idle time-out allows for.
    let sent = typeof init.body === "string" ? Buffer.byteLength(init.body) : 0;
    let idleAfterSend: number | undefined;
    const send = url.protocol === "https:" ? https.request : http.request;
    return new Promise<HttpAnswer>((resolve, reject) => {
      const req = send(url, {
        method: init.method,
        agent,
        timeout: this.options.timeoutMs,
        headers: {
          ...(typeof init.body === "string" ? { "content-type": "application/json" } : {}),
          ...(authorization === undefined ? {} : { authorization }),
          ...(streamed && init.expectContinue ? { expect: "100-continue" } : {}),
          ...init.headers,
        },
        ...(init.signal ? { signal: init.signal } : {}),
      });
      // The total bound: the idle time-out alone lets a server that sends a byte now and then go on forever.
      let answering = false;
      const deadline = setTimeout(() => {
        const verb = answering ? "did not finish answering" : "did not answer";
        req.destroy(
          new RetryableError(`${where} ${verb} ${what} within ${seconds(deadlineMs)}`, undefined, reachHint(url)),
        );
      }, deadlineMs);
      const settle = () => clearTimeout(deadline);
      req.on("close", settle);
      req.on("response", (res) => {
        answering = true;
        const status = res.statusCode ?? 0;
        // Judged as the answer arrives: by its end, a small body has gone out too, early or not.
        const early = streamed && (!bodySent || !req.writableFinished);
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBody) {
            req.destroy(
              new GenpushError(`${where} answered ${what} with more than ${formatSize(maxBody)}`, {
                hint: "no binary cache answers that much here: check that the URL is the cache's, not another server or a proxy's page",
              }),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on("error", (error) => reject(new RetryableError(`${where}: the answer broke off: ${error.message}`)));
        res.on("end", () => {
          settle();
          // A 2xx before the whole body was sent is no proof the cache has it: a failure, never "uploaded".
          if (early && status >= 200 && status < 300) {
            reject(
              new GenpushError(`${where} answered ${what} with HTTP ${status} before receiving the whole upload`, {
                hint: "the server (or a proxy before it) does not read uploads: check its request-body settings",
              }),
            );
          } else if ((status >= 200 && status < 300) || init.accept?.includes(status)) {
            resolve({ status, body: Buffer.concat(chunks) });
          } else {
            reject(this.statusError(status, res.headers["retry-after"], url, init.method));
          }
          // Answered before the whole body was sent (413, 5xx, or early): free the connection now.
          if (!req.writableFinished) req.destroy();
        });
      });
      // The body is with the system whole: what it buffered moves on unseen (src/runtime/bounds.ts).
      req.on("finish", () => {
        if (sent === 0) return;
        idleAfterSend = idleAfterSendMs(this.options.timeoutMs, sent);
        req.setTimeout(idleAfterSend);
      });
      req.on("timeout", () => {
        const message =
          idleAfterSend === undefined
            ? `${where} did not answer ${what} within ${seconds(this.options.timeoutMs)}`
            : `${where} did not answer ${what} within ${seconds(idleAfterSend)} after the last of its ${formatSize(sent)} was sent (${seconds(this.options.timeoutMs)}, plus the time what may still have been on its way needs at ${MIN_UPLOAD_BYTES_PER_SECOND / 1024} KiB/s)`;
        req.destroy(new RetryableError(message, undefined, reachHint(url)));
      });
      req.on("error", (error) => {
        settle();
        const reason = init.signal?.aborted ? init.signal.reason : undefined;
        if (reason instanceof GenpushError) reject(new RetryableError(`${where}: ${reason.message} (${what})`));
        else if (error instanceof GenpushError) reject(error);
        else
          reject(
            new RetryableError(`${where} is unreachable at ${url.origin}: ${error.message}`, undefined, reachHint(url)),
          );
      });
      if (typeof init.body === "object") {
        const body = init.body;
        // An error of the body's own (a NAR that does not match its hash) is the one to report.
        body.on("error", (error) => {
          reject(
            error instanceof GenpushError ? error : new GenpushError(`${where}: the upload failed: ${error.message}`),
          );
          req.destroy();
        });
        const sendBody = () => {
          clearTimeout(unasked);
          if (bodySent || req.destroyed) return;
          bodySent = true;
          body.on("data", (chunk: Buffer) => {
            sent += chunk.length;
          });
          body.pipe(req);
        };
        const unasked = setTimeout(sendBody, init.expectContinue ? CONTINUE_WAIT_MS : 0);
        req.on("continue", sendBody);
        req.on("response", () => clearTimeout(unasked));
        req.on("close", () => clearTimeout(unasked));
        if (init.expectContinue) req.flushHeaders();
        else sendBody();
      } else {
        req.end(init.body);
      }
    });
  }

  close(): void {
    void this.agents?.then((agents) => {
      agents["http:"].destroy();
      agents["https:"].destroy();
    });
  }

  private statusError(status: number, retryAfter: string | undefined, url: URL, method: string): GenpushError {
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

/**
 * The CA bundle Nix trusts for HTTPS, as Nix picks it: its `ssl-cert-file`
 * setting (newer Nix has it; it already reads the variables below), else
 * NIX_SSL_CERT_FILE, SSL_CERT_FILE, then the system bundle. Nothing found:
 * Node's own roots.
 */
async function nixTrust(): Promise<{ ca?: Buffer }> {
  const setting = await nixSetting("ssl-cert-file").catch(() => undefined);
  const candidates = [
    setting,
    process.env.NIX_SSL_CERT_FILE,
    process.env.SSL_CERT_FILE,
    "/etc/ssl/certs/ca-certificates.crt",
  ];
  const file = candidates.find((f): f is string => Boolean(f) && existsSync(f as string));
  if (!file) return {};
  try {
    return { ca: await readFile(file) };
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

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

function formatSize(bytes: number): string {
  const [size, unit] = bytes >= 1024 * 1024 ? [bytes / (1024 * 1024), "MiB"] : [bytes / 1024, "KiB"];
  return `${Number.isInteger(size) ? size : size.toFixed(1)} ${unit}`;
}
