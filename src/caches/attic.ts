/**
 * `type: attic`. Ask with `POST /_api/v1/get-missing-paths` in batches of
 * 1,000 hashes (one request for a large closure exceeds proxy body limits:
 * attic#220); upload with `attic push --no-closure`, given the server, cache
 * and token file through a private attic configuration for that process only,
 * so the user's own attic login is neither needed nor touched, and the token
 * is never on a command line. Attic accepts paths whose references it lacks,
 * so the upstream filter applies.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AtticCacheConfig } from "../config/config.js";
import type { PathInfo } from "../nix/path-info.js";
import { BulkQueryCache, type BulkQueryShape } from "./bulk-query.js";
import { baseEnvironment, findClient, uploadInChunks } from "./client-process.js";
import { type CacheOptions, retryOptions } from "./options.js";
import { readSecret } from "./secret.js";
import type { PushProgress } from "./types.js";

export const ATTIC_BATCH = 1000;
const UPLOAD_CHUNK = 500;

export class AtticCache extends BulkQueryCache<AtticCacheConfig> {
  constructor(config: AtticCacheConfig, options: CacheOptions) {
    super(config, options, `check ${config.tokenFile}: the token must allow pushing to ${config.cache}`);
  }

  protected query(): BulkQueryShape {
    return {
      url: new URL(`${this.config.endpoint.replace(/\/+$/, "")}/_api/v1/get-missing-paths`),
      batchSize: ATTIC_BATCH,
      body: (hashes) => ({ cache: this.config.cache, store_path_hashes: hashes }),
      missingFrom: (answer) => (answer as { missing_paths?: unknown }).missing_paths,
    };
  }

  async push(paths: readonly PathInfo[], events: PushProgress, signal?: AbortSignal): Promise<void> {
    const attic = await findClient(
      "attic",
      this.config.atticPath,
      this.name,
      "nix profile install nixpkgs#attic-client",
    );
    // attic reads the token file itself; reading it here too checks it first, and remembers the
    // token as a secret to scrub from whatever attic prints.
    await readSecret(this.config.tokenFile, this.name, "token");
    const home = await mkdtemp(join(tmpdir(), "genpush-attic-"));
    try {
      await mkdir(join(home, "attic"), { mode: 0o700 });
      await writeFile(join(home, "attic", "config.toml"), this.atticConfig(), { mode: 0o600, flag: "wx" });
      await uploadInChunks(paths, UPLOAD_CHUNK, events, retryOptions(this.options, signal), (chunk) => ({
        file: attic,
        args: [
          "push",
          `genpush:${this.config.cache}`,
          "--no-closure",
          "--ignore-upstream-cache-filter",
          "--",
          ...chunk,
        ],
        env: { ...baseEnvironment(), XDG_CONFIG_HOME: home },
        cacheName: this.name,
        doing: `attic push of ${chunk.length} paths`,
        timeoutSeconds: this.config.timeoutSeconds,
        ...(signal ? { signal } : {}),
      }));
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }

  /** attic's client configuration: the server and a token *file*, never the token. */
  private atticConfig(): string {
    return [
      'default-server = "genpush"',
      "[servers.genpush]",
      `endpoint = ${JSON.stringify(this.config.endpoint)}`,
      `token-file = ${JSON.stringify(this.config.tokenFile)}`,
      "",
    ].join("\n");
  }
}
