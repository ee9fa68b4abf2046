/**
 * src/caches/: one backend per file behind one interface (types.ts):
 * genpush's own HTTP binary-cache uploader (http-binary-cache.ts over http.ts),
 * `nix copy` to any other store (nix-store.ts), Attic and Cachix through their
 * clients; compression, netrc, signing, and which cache the bytes land in
 * (identity.ts). Here: opening the configured caches.
 */
import type { CacheConfig, CacheType } from "../config/config.js";
import { retryPolicy } from "../runtime/retry.js";
import { AtticCache } from "./attic.js";
import { CachixCache } from "./cachix.js";
import { NixStoreCache } from "./nix-store.js";
import type { CacheOptions } from "./options.js";
import type { Cache } from "./types.js";

export type { CacheOptions } from "./options.js";
export type { Cache, PushProgress } from "./types.js";

type Backends = { [K in CacheType]: (config: Extract<CacheConfig, { type: K }>, options: CacheOptions) => Cache };

/** One backend per cache type: a missing one is a type error. */
const backends = {
  nix: (config, options) => new NixStoreCache(config, options),
  attic: (config, options) => new AtticCache(config, options),
  cachix: (config, options) => new CachixCache(config, options),
} satisfies Backends;

export function openCache(config: CacheConfig, options: Partial<CacheOptions> = {}): Cache {
  const timeoutMs = options.timeoutMs ?? config.timeoutSeconds * 1000;
  const full: CacheOptions = { retry: retryPolicy(timeoutMs), timeoutMs, ...options };
  return (backends[config.type] as (c: CacheConfig, o: CacheOptions) => Cache)(config, full);
}
