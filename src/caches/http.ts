/**
 * Plain HTTP for cache APIs: keep-alive agents, a time-out per request (for
 * an upload: a time-out without a byte moving), and answers classified once —
 * 401/403 an authentication error naming the cache, 429 and 5xx retryable
 * (with `Retry-After`), connection failures retryable.
 */
import http from "node:http";
import https from "node:https";
import type { Readable } from "node:stream";
import { GenpushError } from "../errors.js";
import { parseRetryAfter, RetryableError } from "../retry.js";

export interface HttpClientOptions {
  cacheName: string;
  maxSockets: number;
  timeoutMs: number;
  /** What to do about a refused credential. */
  authHint: string;
  /**
   * Where a credential may come from when the cache asks for one (an
   * `Authorization` value, or undefined for none): looked up once, on the
   * first 401 or when `authorize()` is called, and sent on every request after.
   */
  credentials?: () => Promise<string | undefined>;
}

export interface HttpRequest {
  method: string;
  headers?: Record<string, string>;
  /** A string is sent as JSON; a stream as it comes (chunked unless `content-length` is set). */
  body?: string | Readable;
  accept?: number[];
  signal?: AbortSignal;
}

export interface HttpAnswer {
  status: number;
  body: Buffer;
}

/** 401/403: to be tried once more with a credential, if one turns up. */
class AuthRefused extends GenpushError {}

export class HttpClient {
  private readonly agents: Record<"http:" | "https:", http.Agent>;
  private authorization: Promise<string | undefined> | undefined;

  constructor(private readonly options: HttpClientOptions) {
    this.agents = {
      "http:": new http.Agent({ keepAlive: true, maxSockets: options.maxSockets }),
      "https:": new https.Agent({ keepAlive: true, maxSockets: options.maxSockets }),
    };
  }

  /** Look the credential up now (before a body that cannot be sent twice). */
  async authorize(): Promise<void> {
    if (this.options.credentials) this.authorization ??= this.options.credentials();
    await this.authorization;
  }

  /**
   * One request. Resolves for 2xx and for the statuses in `accept` (such as
   * 404 for "not there"); anything else is an error, retryable where it may pass.
   * A 401 to a request without a stream body is sent once more with the
   * credential, if one turns up.
   */
  async request(url: URL, init: HttpRequest): Promise<HttpAnswer> {
    const firstLookup = this.options.credentials !== undefined && this.authorization === undefined;
    try {
      return await this.send(url, init, await this.authorization);
    } catch (error) {
      if (!(error instanceof AuthRefused && firstLookup && typeof init.body !== "object")) throw error;
      await this.authorize();
      const authorization = await this.authorization;
      if (authorization === undefined) throw error;
      return this.send(url, init, authorization);
    }
  }

  private send(url: URL, init: HttpRequest, authorization: string | undefined): Promise<HttpAnswer> {
    const where = `cache ${this.options.cacheName}`;
    const send = url.protocol === "https:" ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = send(url, {
        method: init.method,
        agent: this.agents[url.protocol as "http:" | "https:"],
        timeout: this.options.timeoutMs,
        headers: {
          ...(typeof init.body === "string" ? { "content-type": "application/json" } : {}),
          ...(authorization === undefined ? {} : { authorization }),
          ...init.headers,
        },
        ...(init.signal ? { signal: init.signal } : {}),
      });
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", (error) => reject(new RetryableError(`${where}: the answer broke off: ${error.message}`)));
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          const body = Buffer.concat(chunks);
          if ((status >= 200 && status < 300) || init.accept?.includes(status)) resolve({ status, body });
          else reject(this.statusError(status, res.headers["retry-after"], url));
          // Answered before the whole body was sent (413, 5xx): free the connection now.
          if (!req.writableFinished) req.destroy();
        });
      });
      req.on("timeout", () => {
        req.destroy(
          new RetryableError(`${where} did not answer within ${this.options.timeoutMs / 1000}s (${url.origin})`),
        );
      });
      req.on("error", (error) => {
        reject(
          error instanceof GenpushError
            ? error
            : new RetryableError(`${where} is unreachable at ${url.origin}: ${error.message}`),
        );
      });
      if (typeof init.body === "object") {
        // An error of the body's own (a NAR that does not match its hash) is the one to report.
        init.body.on("error", (error) => {
          reject(
            error instanceof GenpushError ? error : new GenpushError(`${where}: the upload failed: ${error.message}`),
          );
          req.destroy();
        });
        init.body.pipe(req);
      } else {
        req.end(init.body);
      }
    });
  }

  close(): void {
    this.agents["http:"].destroy();
    this.agents["https:"].destroy();
  }

  private statusError(status: number, retryAfter: string | undefined, url: URL): GenpushError {
    const where = `cache ${this.options.cacheName}`;
    if (status === 401 || status === 403) {
      return new AuthRefused(`${where} refused authentication (HTTP ${status} for ${url.origin}${url.pathname})`, {
        hint: this.options.authHint,
      });
    }
    if (status === 429 || status >= 500) {
      return new RetryableError(`${where} answered HTTP ${status} for ${url.pathname}`, parseRetryAfter(retryAfter));
    }
    return new GenpushError(`${where} answered HTTP ${status} for ${url.pathname}`, {
      hint: "check the cache's URL and name in the configuration",
    });
  }
}
