// A `type: nix` cache as the configuration loader returns it, with the loader's defaults: the
// unit tests that need one name only what they vary.
import type { NixCacheConfig } from "../../../src/config/config.js";

export function nixCacheConfig(store: string, overrides: Partial<NixCacheConfig> = {}): NixCacheConfig {
  return {
    name: "lan",
    type: "nix",
    store,
    systems: [],
    hosts: [],
    systemFeatures: [],
    queryConcurrency: 32,
    timeoutSeconds: 30,
    fleet: false,
    ...overrides,
  };
}
