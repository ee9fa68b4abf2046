import type { CacheConfig, CacheType } from "../config.js";
import { NixStoreCache } from "./nix-store.js";
import type { Cache } from "./types.js";

export type { Cache, PushProgress } from "./types.js";

/** One backend per cache type: a missing one is a type error. */
const backends = {
  nix: (config) => new NixStoreCache(config),
} satisfies Record<CacheType, (config: CacheConfig) => Cache>;

export function openCache(config: CacheConfig): Cache {
  return backends[config.type](config);
}
