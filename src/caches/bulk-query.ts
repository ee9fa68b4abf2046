/**
 * The bulk existence query of Attic and Cachix: store hashes in, the missing
 * ones out, as JSON over HTTP with a bearer token, in batches small enough for
 * the server and any proxy in front of it (attic#220), each batch retried.
 */
import type { AtticCacheConfig, CachixCacheConfig } from "../config/config.js";
import type { PathInfo } from "../nix/path-info.js";
import { hashPart, type StorePath } from "../nix/store-path.js";
import { GenpushError } from "../runtime/errors.js";
import { type RetryOptions, withRetry } from "../runtime/retry.js";
import { DEFAULT_MAX_BODY, HttpClient } from "./http.js";
import { type CacheOptions, retryOptions } from "./options.js";
import { readSecret } from "./secret.js";
import type { Cache, PushProgress } from "./types.js";

export interface BulkQuery {
  cacheName: string;
  http: HttpClient;
  url: URL;
  token: string;
  batchSize: number;
  /** The request body for one batch of hashes. */
  body(hashes: string[]): unknown;
  /** The missing hashes from one answer. */
  missingFrom(answer: unknown): unknown;
  retry: RetryOptions;
  signal?: AbortSignal;
}

export async function bulkMissing(paths: readonly StorePath[], query: BulkQuery): Promise<StorePath[]> {
  const missing = new Set<string>();
  const hashes = paths.map(hashPart);
  for (let i = 0; i < hashes.length; i += query.batchSize) {
    const batch = hashes.slice(i, i + query.batchSize);
    const answer = await withRetry(
      (tries) =>
        query.http.request(query.url, {
          method: "POST",
          headers: { authorization: `Bearer ${query.token}`, accept: "application/json" },
          body: JSON.stringify(query.body(batch)),
          signal: tries,
          // The missing hashes of one batch, as JSON: about 40 bytes each.
          maxBodyBytes: DEFAULT_MAX_BODY + batch.length * 64,
        }),
      query.retry,
    );
    for (const hash of parseHashes(query, answer.body)) missing.add(hash);
  }
  return paths.filter((path) => missing.has(hashPart(path)));
}

function parseHashes(query: BulkQuery, body: Buffer): string[] {
  let list: unknown;
  try {
    list = query.missingFrom(JSON.parse(body.toString("utf8")));
  } catch {
    list = undefined;
  }
  if (!Array.isArray(list) || !list.every((h) => typeof h === "string")) {
    throw new GenpushError(`cache ${query.cacheName} answered the missing-paths query with something unexpected`, {
      hint: "check that the endpoint is the cache's API, not a web page or a proxy's error",
    });
  }
  return list;
}

/** What differs between Attic's and Cachix's query: where, how many at once, and the JSON. */
export type BulkQueryShape = Pick<BulkQuery, "url" | "batchSize" | "body" | "missingFrom">;

/**
 * A cache asked through a bulk query with a token from `tokenFile`, and sent
 * paths whose references it may lack (the upstream filter applies).
 */
export abstract class BulkQueryCache<C extends AtticCacheConfig | CachixCacheConfig> implements Cache {
  readonly name: string;
  readonly wholeClosures = false;
  private readonly http: HttpClient;

  constructor(
    readonly config: C,
    protected readonly options: CacheOptions,
    /** What to check when the token is refused. */
    authHint: string,
  ) {
    this.name = config.name;
    this.http = new HttpClient({ cacheName: config.name, maxSockets: 4, timeoutMs: options.timeoutMs, authHint });
  }

  protected abstract query(): BulkQueryShape;

  abstract push(paths: readonly PathInfo[], events: PushProgress, signal?: AbortSignal): Promise<void>;

  async missing(paths: readonly StorePath[], signal?: AbortSignal): Promise<StorePath[]> {
    if (paths.length === 0) return [];
    return bulkMissing(paths, {
      ...this.query(),
      cacheName: this.name,
      http: this.http,
      token: await readSecret(this.config.tokenFile, this.name, "token"),
      retry: retryOptions(this.options, signal),
      ...(signal ? { signal } : {}),
    });
  }

  /** Attic and Cachix keep a path's NAR with its narinfo on the server: asking for the narinfo is enough. */
  incomplete(paths: readonly PathInfo[], signal?: AbortSignal): Promise<StorePath[]> {
    return this.missing(
      paths.map((info) => info.path),
      signal,
    );
  }

  close(): void {
    this.http.close();
  }
}
