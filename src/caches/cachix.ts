/**
 * `type: cachix`. Ask with Cachix's bulk narinfo query (a JSON list of store
 * hashes in, the missing ones out, at most 32,768 per request); upload with
 * `cachix push`, the token and the optional signing key handed to that
 * process only, through its environment (CACHIX_AUTH_TOKEN,
 * CACHIX_SIGNING_KEY), never its argv. Cachix accepts paths whose references
 * it lacks, so the upstream filter applies.
 */
import { type CachixCacheConfig, DEFAULT_CACHIX_ENDPOINT } from "../config/config.js";
import type { PathInfo } from "../nix/path-info.js";
import { BulkQueryCache, type BulkQueryShape } from "./bulk-query.js";
import { baseEnvironment, findClient, uploadInChunks } from "./client-process.js";
import { type CacheOptions, retryOptions } from "./options.js";
import { readSecret } from "./secret.js";
import type { PushProgress } from "./types.js";

export const CACHIX_BATCH = 32_768;
const UPLOAD_CHUNK = 500;

export class CachixCache extends BulkQueryCache<CachixCacheConfig> {
  constructor(config: CachixCacheConfig, options: CacheOptions) {
    super(config, options, `check ${config.tokenFile}: the token must allow writing to ${config.cache}`);
  }

  protected query(): BulkQueryShape {
    const endpoint = this.config.endpoint.replace(/\/+$/, "");
    return {
      url: new URL(`${endpoint}/api/v1/cache/${encodeURIComponent(this.config.cache)}/narinfo`),
      batchSize: CACHIX_BATCH,
      body: (hashes) => hashes,
      missingFrom: (answer) => answer,
    };
  }

  async push(paths: readonly PathInfo[], events: PushProgress, signal?: AbortSignal): Promise<void> {
    const cachix = await findClient("cachix", this.config.cachixPath, this.name, "nix profile install nixpkgs#cachix");
    const token = await readSecret(this.config.tokenFile, this.name, "token");
    const signingKey = this.config.signingKeyFile
      ? await readSecret(this.config.signingKeyFile, this.name, "signing key")
      : undefined;
    const env = {
      ...baseEnvironment(),
      CACHIX_AUTH_TOKEN: token,
      ...(signingKey ? { CACHIX_SIGNING_KEY: signingKey } : {}),
    };
    await uploadInChunks(paths, UPLOAD_CHUNK, events, retryOptions(this.options, signal), (chunk) => ({
      file: cachix,
      args: [...this.hostArgs(), "push", this.config.cache, ...chunk],
      env,
      cacheName: this.name,
      doing: `cachix push of ${chunk.length} paths`,
      timeoutSeconds: this.config.timeoutSeconds,
      ...(signal ? { signal } : {}),
    }));
  }

  /** The client talks to cachix.org unless told otherwise: the same API the query used. */
  private hostArgs(): string[] {
    return this.config.endpoint === DEFAULT_CACHIX_ENDPOINT ? [] : ["--host", this.config.endpoint];
  }
}
