/**
 * Ask an HTTP binary cache which paths it has: `HEAD <hash>.narinfo`, over
 * keep-alive connections with bounded concurrency. Nix's own narinfo disk
 * cache is never consulted: it trusts positive answers for 30 days, so a path
 * the cache lost would never be sent again (nix#6056).
 */
import http from "node:http";
import https from "node:https";
import { GenpushError } from "../errors.js";

export interface NarinfoQueryOptions {
  cacheName: string;
  concurrency: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

export class NarinfoClient {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;

  constructor(
    storeUri: string,
    private readonly options: NarinfoQueryOptions,
  ) {
    const url = new URL(storeUri);
    url.search = "";
    url.hash = "";
    if (!url.pathname.endsWith("/")) url.pathname += "/";
    this.base = url;
    const secure = url.protocol === "https:";
    const Agent = secure ? https.Agent : http.Agent;
    this.agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
    this.request = secure ? https.request : http.request;
  }

  /** The subset of `hashes` whose narinfo the cache does not have. */
  async missing(hashes: readonly string[]): Promise<Set<string>> {
    const missing = new Set<string>();
    let next = 0;
    let failure: unknown;
    const worker = async () => {
      while (next < hashes.length && failure === undefined) {
        const hash = hashes[next++] as string;
        try {
          if (!(await this.has(hash))) missing.add(hash);
        } catch (error) {
          failure ??= error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, hashes.length) }, worker));
    if (failure !== undefined) throw failure;
    return missing;
  }

  close(): void {
    this.agent.destroy();
  }

  private has(hash: string): Promise<boolean> {
    const url = new URL(`${hash}.narinfo`, this.base);
    const where = `cache ${this.options.cacheName}`;
    return new Promise((resolve, reject) => {
      const req = this.request(url, {
        method: "HEAD",
        agent: this.agent,
        timeout: this.options.timeoutMs,
        ...(this.options.signal ? { signal: this.options.signal } : {}),
      });
      req.on("response", (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        if (status === 200) resolve(true);
        else if (status === 404 || status === 410) resolve(false);
        else if (status === 401 || status === 403) {
          reject(
            new GenpushError(`${where} refused access (HTTP ${status} for ${url.origin}${url.pathname})`, {
              hint: "check the cache's credentials (netrc-file in nix.conf) and that this host may read it",
            }),
          );
        } else reject(new GenpushError(`${where} answered HTTP ${status} for ${url.pathname}`, { hint: RETRY_HINT }));
      });
      req.on("timeout", () => {
        req.destroy(
          new GenpushError(`${where} did not answer within ${this.options.timeoutMs / 1000}s`, { hint: RETRY_HINT }),
        );
      });
      req.on("error", (error) => {
        reject(
          error instanceof GenpushError
            ? error
            : new GenpushError(`${where} is unreachable at ${url.origin}: ${error.message}`, { hint: RETRY_HINT }),
        );
      });
      req.end();
    });
  }
}

const RETRY_HINT = "the generation stays pending; the next `genpush push` retries it";
