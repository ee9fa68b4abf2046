/**
 * `type: nix`: any store URI `nix copy --to` accepts. An HTTP(S) cache is
 * spoken to directly — HEAD requests to ask, and genpush's own uploader
 * (NARs read from the store, checked, compressed as `compression=` asks,
 * narinfos signed with the configured key). A file:// cache is asked with a
 * directory look-up. Everything else — other stores, and store URI settings
 * genpush's uploader does not implement — is asked with
 * `nix-store --check-validity` and uploaded with `nix copy`, which needs
 * every reference of a path in the cache first: whole closures only.
 */
import { access, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { uploadAllowanceMs } from "../bounds.js";
import type { NixCacheConfig } from "../config.js";
import { copyPaths, invalidPaths } from "../nix.js";
import type { PathInfo } from "../path-info.js";
import { withRetry } from "../retry.js";
import { hashPart, type StorePath } from "../store-path.js";
import { nixFailure } from "./client-process.js";
import { findCompression } from "./compression.js";
import { HttpClient } from "./http.js";
import { HttpBinaryCache, type UploadablePath, type UploadOptions } from "./http-binary-cache.js";
import { nixNetrcAuthorization } from "./netrc.js";
import { type CacheOptions, retryOptions } from "./options.js";
import { readSigningKey } from "./signing.js";
import type { Cache, PushProgress } from "./types.js";

/** Store URI settings genpush's own uploader honours; any other leaves the upload to `nix copy`. */
const NATIVE_SETTINGS = new Set(["compression", "parallel-compression", "secret-key", "priority", "want-mass-query"]);
/** Nix's default for HTTP binary caches. */
const DEFAULT_COMPRESSION = "xz";

export class NixStoreCache implements Cache {
  readonly name: string;
  readonly wholeClosures = true;
  private http: HttpBinaryCache | undefined;
  private upload: Promise<Omit<UploadOptions, "key"> | undefined> | undefined;

  constructor(
    readonly config: NixCacheConfig,
    private readonly options: CacheOptions,
  ) {
    this.name = config.name;
    // Nix's settings for the first request, read while the closure is.
    if (isHttp(config.store)) this.httpCache().warm();
  }

  missing(paths: readonly StorePath[], signal?: AbortSignal): Promise<StorePath[]> {
    return this.lacking(paths, false, signal);
  }

  incomplete(paths: readonly StorePath[], signal?: AbortSignal): Promise<StorePath[]> {
    return this.lacking(paths, true, signal);
  }

  /**
   * Which of `paths` the cache lacks; `whole`: or holds only the narinfo of (what verify
   * asks). An HTTP cache: a HEAD of each narinfo, or a GET of it and a HEAD of the NAR it
   * names. A file:// cache: the same looked up on disk. Other stores keep a path whole or
   * not at all: `nix-store --check-validity` either way.
   */
  private async lacking(paths: readonly StorePath[], whole: boolean, signal?: AbortSignal): Promise<StorePath[]> {
    if (paths.length === 0) return [];
    const { store } = this.config;
    if (isHttp(store)) {
      const hashes = paths.map(hashPart);
      const http = this.httpCache();
      const lacking = await (whole ? http.incomplete(hashes, signal) : http.missing(hashes, signal));
      return paths.filter((path) => lacking.has(hashPart(path)));
    }
    const dir = this.fileCacheDir();
    if (dir) {
      const present = await Promise.all(
        paths.map((path) =>
          whole ? fileNarPresent(dir, hashPart(path)) : fileExists(join(dir, `${hashPart(path)}.narinfo`)),
        ),
      );
      return paths.filter((_, i) => !present[i]);
    }
    return invalidPaths(paths, store, signal, this.config.timeoutSeconds).catch((error) => {
      throw nixFailure(error, this.name);
    });
  }

  async push(paths: readonly PathInfo[], events: PushProgress, signal?: AbortSignal): Promise<void> {
    const upload = paths.every((info) => info.narinfo) ? await this.nativeUpload() : undefined;
    if (upload) {
      const keyFile = this.signingKeyFile();
      const key = keyFile ? await readSigningKey(keyFile, this.name) : undefined;
      await this.httpCache().upload(paths as UploadablePath[], { ...upload, ...(key ? { key } : {}) }, events, signal);
      return;
    }
    // nix reads the netrc and the signing key itself; reading them here lets genpush scrub
    // them from whatever nix or the server says (and finds a bad key before any upload).
    if (isHttp(this.config.store)) await nixNetrcAuthorization(new URL(this.config.store));
    const keyFile = this.signingKeyFile();
    if (keyFile) await readSigningKey(keyFile, this.name);
    const dir = this.fileCacheDir();
    if (dir) await dropDanglingNarinfos(dir, paths);
    const narBytes = paths.reduce((sum, info) => sum + info.narSize, 0);
    // Each try asks the cache again first, so what an earlier try uploaded is not sent twice.
    await withRetry(
      (tries) =>
        copyPaths(
          paths.map((info) => info.path),
          this.config.store,
          this.uploadUri(),
          {
            signal: tries,
            timeoutSeconds: this.config.timeoutSeconds,
            onProgress: (done, total) => events.onProgress?.(done, total),
          },
        ).catch((error) => {
          throw nixFailure(error, this.name);
        }),
      { ...retryOptions(this.options, signal), extraMs: uploadAllowanceMs(narBytes) },
    );
  }

  close(): void {
    this.http?.close();
  }

  /** A file:// cache's directory; undefined for any other store. */
  private fileCacheDir(): string | undefined {
    const { store } = this.config;
    return store.startsWith("file://") ? fileURLToPath(store.replace(/\?.*$/, "")) : undefined;
  }

  private httpCache(): HttpBinaryCache {
    this.http ??= new HttpBinaryCache(
      this.config.store,
      new HttpClient({
        cacheName: this.name,
        maxSockets: this.config.queryConcurrency,
        timeoutMs: this.options.timeoutMs,
        authHint: "check the cache's credentials (netrc-file in nix.conf) and that this host may use it",
        credentials: (url) => nixNetrcAuthorization(url),
      }),
      {
        cacheName: this.name,
        concurrency: this.config.queryConcurrency,
        retry: retryOptions(this.options),
        timeoutMs: this.options.timeoutMs,
      },
    );
    return this.http;
  }

  /** How genpush uploads to this cache itself; undefined when `nix copy` must. */
  private nativeUpload(): Promise<Omit<UploadOptions, "key"> | undefined> {
    this.upload ??= (async () => {
      const { store } = this.config;
      if (!isHttp(store)) return undefined;
      const settings = new URL(store).searchParams;
      if ([...settings.keys()].some((key) => !NATIVE_SETTINGS.has(key))) return undefined;
      const method = settings.get("compression") ?? DEFAULT_COMPRESSION;
      const compression = await findCompression(method, settings.get("parallel-compression") === "true");
      return compression ? { compression } : undefined;
    })();
    return this.upload;
  }

  private signingKeyFile(): string | undefined {
    const { store } = this.config;
    // Not `new URL`: `local?root=…` and `daemon` are store URIs but no URLs.
    const query = store.includes("?") ? store.slice(store.indexOf("?") + 1) : "";
    return this.config.signingKeyFile ?? new URLSearchParams(query).get("secret-key") ?? undefined;
  }

  /** The store URI with `secret-key=` added, so nix signs each path as it uploads it. */
  private uploadUri(): string {
    const { store, signingKeyFile } = this.config;
    if (!signingKeyFile) return store;
    // signingKeyFile wins over a secret-key= already in the URI.
    const rest = store.replace(/([?&])secret-key=[^&]*(&|$)/, (_, before: string, after: string) =>
      after ? before : "",
    );
    return `${rest}${rest.includes("?") ? "&" : "?"}secret-key=${encodeURIComponent(signingKeyFile)}`;
  }
}

function isHttp(store: string): boolean {
  return /^https?:\/\//.test(store);
}

/**
 * `nix copy` takes a path whose narinfo is there for uploaded, so a NAR lost behind its
 * narinfo would never be sent again: a file:// cache's narinfo that names no NAR on disk
 * goes first (it offers nothing a substituter could fetch anyway).
 */
async function dropDanglingNarinfos(dir: string, paths: readonly PathInfo[]): Promise<void> {
  await Promise.all(
    paths.map(async ({ path }) => {
      if (!(await fileNarPresent(dir, hashPart(path))))
        await rm(join(dir, `${hashPart(path)}.narinfo`), { force: true });
    }),
  );
}

/** A file:// cache's narinfo for `hash` is there, and so is the NAR file it names. */
async function fileNarPresent(dir: string, hash: string): Promise<boolean> {
  let narinfo: string;
  try {
    narinfo = await readFile(join(dir, `${hash}.narinfo`), "utf8");
  } catch {
    return false;
  }
  const nar = /^URL: (\S+)$/m.exec(narinfo)?.[1];
  return nar !== undefined && (await fileExists(join(dir, nar)));
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
