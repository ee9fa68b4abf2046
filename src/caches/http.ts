/**
 * Plain HTTP for cache APIs: keep-alive agents, a time-out per request, and
 * answers classified once — 401/403 an authentication error naming the cache,
 * 429 and 5xx retryable (with `Retry-After`), connection failures retryable.
 */
import http from "node:http";
import https from "node:https";
import { GenpushError } from "../errors.js";
import { parseRetryAfter, RetryableError } from "../retry.js";

export interface HttpClientOptions {
  cacheName: string;
  maxSockets: number;
  timeoutMs: number;
  /** What to do about a refused credential. */
  authHint: string;
}

export interface HttpAnswer {
  status: number;
  body: Buffer;
}

export class HttpClient {
  private readonly agents: Record<"http:" | "https:", http.Agent>;

  constructor(private readonly options: HttpClientOptions) {
    this.agents = {
      "http:": new http.Agent({ keepAlive: true, maxSockets: options.maxSockets }),
      "https:": new https.Agent({ keepAlive: true, maxSockets: options.maxSockets }),
    };
  }

  /**
   * One request. Resolves for 2xx and for the statuses in `accept` (such as
   * 404 for "not there"); anything else is an error, retryable where it may pass.
   */
  request(
    url: URL,
    init: { method: string; headers?: Record<string, string>; body?: string; accept?: number[]; signal?: AbortSignal },
  ): Promise<HttpAnswer> {
    const where = `cache ${this.options.cacheName}`;
    const send = url.protocol === "https:" ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = send(url, {
        method: init.method,
        agent: this.agents[url.protocol as "http:" | "https:"],
        timeout: this.options.timeoutMs,
        headers: { ...init.headers, ...(init.body === undefined ? {} : { "content-type": "application/json" }) },
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
      req.end(init.body);
    });
  }

  close(): void {
    this.agents["http:"].destroy();
    this.agents["https:"].destroy();
  }

  private statusError(status: number, retryAfter: string | undefined, url: URL): GenpushError {
    const where = `cache ${this.options.cacheName}`;
    if (status === 401 || status === 403) {
      return new GenpushError(`${where} refused authentication (HTTP ${status} for ${url.origin}${url.pathname})`, {
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
