/**
 * Ask an HTTP binary cache which paths it has: `HEAD <hash>.narinfo`, over
 * keep-alive connections with bounded concurrency. Nix's own narinfo disk
 * cache is never consulted: it trusts positive answers for 30 days, so a path
 * the cache lost would never be sent again (nix#6056).
 */
import { type RetryOptions, withRetry } from "../retry.js";
import { HttpClient } from "./http.js";

export interface NarinfoQueryOptions {
  cacheName: string;
  concurrency: number;
  timeoutMs: number;
  retry: RetryOptions;
}

export class NarinfoClient {
  private readonly base: URL;
  private readonly http: HttpClient;

  constructor(
    storeUri: string,
    private readonly options: NarinfoQueryOptions,
  ) {
    const url = new URL(storeUri);
    url.search = "";
    url.hash = "";
    if (!url.pathname.endsWith("/")) url.pathname += "/";
    this.base = url;
    this.http = new HttpClient({
      cacheName: options.cacheName,
      maxSockets: options.concurrency,
      timeoutMs: options.timeoutMs,
      authHint: "check the cache's credentials (netrc-file in nix.conf) and that this host may read it",
    });
  }

  /** The subset of `hashes` whose narinfo the cache does not have. */
  async missing(hashes: readonly string[], signal?: AbortSignal): Promise<Set<string>> {
    const missing = new Set<string>();
    let next = 0;
    let failure: unknown;
    const worker = async () => {
      while (next < hashes.length && failure === undefined) {
        const hash = hashes[next++] as string;
        try {
          if (!(await this.has(hash, signal))) missing.add(hash);
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
    this.http.close();
  }

  private async has(hash: string, signal?: AbortSignal): Promise<boolean> {
    const url = new URL(`${hash}.narinfo`, this.base);
    const answer = await withRetry(
      () => this.http.request(url, { method: "HEAD", accept: [404, 410], ...(signal ? { signal } : {}) }),
      this.options.retry,
    );
    return answer.status < 300;
  }
}
