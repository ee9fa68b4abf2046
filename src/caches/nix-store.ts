/**
 * `type: nix`: any store URI `nix copy --to` accepts. Existence queries are
 * answered natively where the store allows it — HEAD requests for http(s),
 * a directory look-up for file:// — and by `nix-store --check-validity`
 * against the store otherwise. Uploads go through `nix copy`, which needs
 * every reference of a path in the cache first: whole closures only.
 */
import { access } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NixCacheConfig } from "../config.js";
import { copyPaths, invalidPaths } from "../nix.js";
import type { PathInfo } from "../path-info.js";
import { withRetry } from "../retry.js";
import { hashPart, type StorePath } from "../store-path.js";
import { nixFailure } from "./client-process.js";
import { NarinfoClient } from "./http-narinfo.js";
import { type CacheOptions, retryOptions } from "./options.js";
import type { Cache, PushProgress } from "./types.js";

export class NixStoreCache implements Cache {
  readonly name: string;
  readonly wholeClosures = true;
  private http: NarinfoClient | undefined;

  constructor(
    readonly config: NixCacheConfig,
    private readonly options: CacheOptions,
  ) {
    this.name = config.name;
  }

  async missing(paths: readonly StorePath[], signal?: AbortSignal): Promise<StorePath[]> {
    if (paths.length === 0) return [];
    const { store } = this.config;
    if (/^https?:\/\//.test(store)) {
      this.http ??= new NarinfoClient(store, {
        cacheName: this.name,
        concurrency: this.config.queryConcurrency,
        timeoutMs: this.options.timeoutMs,
        retry: retryOptions(this.options, signal),
      });
      const missing = await this.http.missing(paths.map(hashPart), signal);
      return paths.filter((path) => missing.has(hashPart(path)));
    }
    if (store.startsWith("file://")) {
      const dir = fileURLToPath(store.replace(/\?.*$/, ""));
      const present = await Promise.all(paths.map((path) => fileExists(join(dir, `${hashPart(path)}.narinfo`))));
      return paths.filter((_, i) => !present[i]);
    }
    return invalidPaths(paths, store, signal, this.config.timeoutSeconds).catch((error) => {
      throw nixFailure(error, this.name);
    });
  }

  async push(paths: readonly PathInfo[], events: PushProgress, signal?: AbortSignal): Promise<void> {
    // Each try asks the cache again first, so what an earlier try uploaded is not sent twice.
    await withRetry(
      () =>
        copyPaths(
          paths.map((info) => info.path),
          this.config.store,
          this.uploadUri(),
          {
            ...(signal ? { signal } : {}),
            timeoutSeconds: this.config.timeoutSeconds,
            onProgress: (done, total) => events.onProgress?.(done, total),
          },
        ).catch((error) => {
          throw nixFailure(error, this.name);
        }),
      retryOptions(this.options, signal),
    );
  }

  close(): void {
    this.http?.close();
  }

  /** The store URI with `secret-key=` added, so nix signs each path as it uploads it. */
  private uploadUri(): string {
    const { store, signingKeyFile } = this.config;
    if (!signingKeyFile) return store;
    return `${store}${store.includes("?") ? "&" : "?"}secret-key=${encodeURIComponent(signingKeyFile)}`;
  }
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
