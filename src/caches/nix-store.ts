/**
 * `type: nix`: any store URI `nix copy --to` accepts. An HTTP(S) cache is
 * spoken to directly — HEAD requests to ask, and genpush's own uploader
 * (NARs read from the store, checked, compressed as `compression=` asks,
 * narinfos signed with the configured key). A file:// cache is asked with a
 * directory look-up. Where the cache is a fleet's (`fleet: true`), each path is
 * claimed first (MKCOL over HTTP, `mkdir` in a file:// cache's directory before
 * `nix copy` uploads it), so hosts that push at once upload each once
 * (claims.ts). Everything else — other stores, and store URI settings
 * genpush's uploader does not implement — is asked with
 * `nix-store --check-validity` and uploaded with `nix copy`, which needs
 * every reference of a path in the cache first: whole closures only.
 */
import { setMaxListeners } from "node:events";
import { existsSync } from "node:fs";
import { access, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NixCacheConfig } from "../config/config.js";
import { nixCopySetting } from "../config/store-uri.js";
import { copyPaths, invalidPaths } from "../nix/cli.js";
import type { PathInfo } from "../nix/path-info.js";
import { hashPart, type StorePath } from "../nix/store-path.js";
import { uploadAllowanceMs } from "../runtime/bounds.js";
import { GenpushError } from "../runtime/errors.js";
import { withRetry } from "../runtime/retry.js";
import { FileClaims, Fleet, type ListedClaim } from "./claims.js";
import { nixFailure, UNSIGNED } from "./client-process.js";
import { findCompression } from "./compression.js";
import { HttpClient } from "./http.js";
import { HttpBinaryCache, type UploadablePath, type UploadOptions } from "./http-binary-cache.js";
import { checkNarinfo, type TrustedKey, trustedKey } from "./narinfo.js";
import { nixNetrcAuthorization } from "./netrc.js";
import { type CacheOptions, retryOptions } from "./options.js";
import { readSigningKey } from "./signing.js";
import type { Cache, PushMissingEvents, PushProgress } from "./types.js";

/** Nix's default for HTTP binary caches. */
const DEFAULT_COMPRESSION = "xz";

export class NixStoreCache implements Cache {
  readonly name: string;
  readonly wholeClosures = true;
  private http: HttpBinaryCache | undefined;
  private upload: Promise<Omit<UploadOptions, "key"> | undefined> | undefined;
  /** A local store's root, and what of it was there before this run first touched it. */
  private localRoot: { root: string; rootBefore: boolean; nixBefore: boolean } | undefined;

  constructor(
    readonly config: NixCacheConfig,
    private readonly options: CacheOptions,
  ) {
    this.name = config.name;
    // Nix's settings for the first request, read while the closure is.
    if (isHttp(config.store)) this.httpCache().warm();
  }

  /**
   * Which of `paths` the cache lacks: a HEAD of each narinfo for an HTTP cache, a look-up on
   * disk for a file:// cache, `nix-store --check-validity` for other stores.
   */
  async missing(paths: readonly StorePath[], signal?: AbortSignal): Promise<StorePath[]> {
    if (paths.length === 0) return [];
    const { store } = this.config;
    if (isHttp(store)) {
      const lacking = await this.httpCache().missing(paths.map(hashPart), signal);
      return paths.filter((path) => lacking.has(hashPart(path)));
    }
    const dir = this.fileCacheDir();
    if (dir) {
      const present = await Promise.all(paths.map((path) => fileExists(join(dir, `${hashPart(path)}.narinfo`))));
      return paths.filter((_, i) => !present[i]);
    }
    return this.invalid(paths, signal);
  }

  /**
   * Which of `paths` the cache lacks whole (what verify asks): no narinfo, a narinfo that is
   * not the path as the local store holds it (checkNarinfo, with the cache's signing key
   * where it has one), or a narinfo whose NAR is gone. An HTTP cache: a GET of each narinfo
   * and a HEAD of the NAR it names; a file:// cache: the same read on disk. Other stores keep
   * a path whole or not at all, and check it themselves: `nix-store --check-validity`.
   */
  async incomplete(paths: readonly PathInfo[], signal?: AbortSignal): Promise<StorePath[]> {
    if (paths.length === 0) return [];
    if (isHttp(this.config.store)) {
      const lacking = await this.httpCache().incomplete(paths, await this.trustedKey(), signal);
      return paths.filter((info) => lacking.has(info.path)).map((info) => info.path);
    }
    const dir = this.fileCacheDir();
    if (dir) {
      const key = await this.trustedKey();
      const present = await Promise.all(paths.map((info) => this.fileHoldsWhole(dir, info, key)));
      return paths.filter((_, i) => !present[i]).map((info) => info.path);
    }
    return this.invalid(
      paths.map((info) => info.path),
      signal,
    );
  }

  private invalid(paths: readonly StorePath[], signal?: AbortSignal): Promise<StorePath[]> {
    this.noteLocalRoot();
    return invalidPaths(paths, this.config.store, signal, this.config.timeoutSeconds).catch((error) => {
      throw nixFailure(error, this.name);
    });
  }

  /** The public half of the cache's signing key, which its narinfos must be signed by; none without one. */
  private async trustedKey(): Promise<TrustedKey | undefined> {
    const keyFile = this.signingKeyFile();
    return keyFile ? trustedKey(await readSigningKey(keyFile, this.name)) : undefined;
  }

  /** A file:// cache's narinfo for `info` is there, passes checkNarinfo, and the NAR file it names is there. */
  private async fileHoldsWhole(dir: string, info: PathInfo, key: TrustedKey | undefined): Promise<boolean> {
    return (await this.fileNarinfo(dir, info, key)) === "whole";
  }

  /**
   * What a file:// cache holds of `info`: no narinfo ("absent"), one that offers it whole, or
   * one that does not ("broken": refused by checkNarinfo, or its NAR file gone).
   */
  private async fileNarinfo(
    dir: string,
    info: PathInfo,
    key: TrustedKey | undefined,
  ): Promise<"absent" | "whole" | "broken"> {
    let text: string;
    try {
      text = await readFile(join(dir, `${hashPart(info.path)}.narinfo`), "utf8");
    } catch {
      return "absent";
    }
    const narinfo = checkNarinfo(text, info, key);
    if (typeof narinfo === "string") {
      this.options.onRefused?.(`cache ${this.name}: the narinfo of ${info.path} ${narinfo}; counted as missing`);
      return "broken";
    }
    return (await fileExists(join(dir, narinfo.url))) ? "whole" : "broken";
  }

  /**
   * The claims a fleet left, in a cache configured as a fleet's (`fleet: true`): an HTTP cache
   * genpush uploads to itself lists `claims/` if its server gives a JSON index of it
   * ("unlisted" if not), a file:// cache reads the directory; other caches take no claims.
   */
  async claims(signal?: AbortSignal): Promise<ListedClaim[] | "unlisted" | undefined> {
    if (!this.config.fleet) return undefined;
    if (isHttp(this.config.store)) {
      if (!(await this.nativeUpload())) return undefined;
      return (await this.httpCache().listClaims(signal ?? new AbortController().signal)) ?? "unlisted";
    }
    const dir = this.fileCacheDir();
    return dir ? new FileClaims(dir).list() : undefined;
  }

  /**
   * An HTTP cache genpush uploads to itself: its HEADs go out at once (on connections of their
   * own), and each missing path's upload starts on its answer.
   */
  async pushMissing(
    paths: readonly PathInfo[],
    events: PushMissingEvents,
    signal?: AbortSignal,
  ): Promise<PathInfo[] | undefined> {
    const upload = await this.nativeUploadOf(paths);
    if (!upload) return undefined;
    if (paths.length === 0) {
      events.onMissing?.([]);
      return [];
    }
    return this.httpCache().uploadMissing(paths as UploadablePath[], upload, events, signal);
  }

  async push(paths: readonly PathInfo[], events: PushProgress, signal?: AbortSignal): Promise<void> {
    const upload = await this.nativeUploadOf(paths);
    if (upload) {
      await this.httpCache().upload(paths as UploadablePath[], upload, events, signal);
      return;
    }
    // nix reads the netrc and the signing key itself; reading them here lets genpush scrub
    // them from whatever nix or the server says (and finds a bad key before any upload).
    if (isHttp(this.config.store)) {
      // Only where genpush's uploader cannot run here (its compressor missing): the configuration refuses the rest.
      if (this.config.fleet)
        this.options.onDebug?.(
          `cache ${this.name}: \`nix copy\` uploads these paths, without claims (hosts that push at once may upload the same paths)`,
        );
      await nixNetrcAuthorization(new URL(this.config.store));
    }
    const keyFile = this.signingKeyFile();
    const key = keyFile ? trustedKey(await readSigningKey(keyFile, this.name)) : undefined;
    const dir = this.fileCacheDir();
    // `nix copy` takes a path whose narinfo is there for uploaded, so a narinfo that does not
    // offer the path whole (its NAR lost, or refused by checkNarinfo) goes first. Only one read
    // as such: a narinfo found absent may be written by another host the next moment, whole.
    if (dir)
      await Promise.all(
        paths.map(async (info) => {
          if ((await this.fileNarinfo(dir, info, key)) === "broken")
            await rm(join(dir, `${hashPart(info.path)}.narinfo`), { force: true });
        }),
      );
    const fleet = dir && this.config.fleet ? await this.openFleet(dir, signal) : undefined;
    if (fleet) {
      try {
        await this.fleetCopy(fleet, paths, events, signal);
      } finally {
        fleet.close();
      }
      return;
    }
    this.noteLocalRoot();
    await this.copy(paths, (done) => events.onProgress?.(done, paths.length), signal).catch(async (error: unknown) => {
      throw error instanceof GenpushError && UNSIGNED.test(error.message) ? await this.refusedUnsigned(error) : error;
    });
  }

  /** `nix copy` of `paths` (dependencies first, each one's references in the cache or among them). */
  private copy(paths: readonly PathInfo[], onProgress: (done: number) => void, signal?: AbortSignal): Promise<void> {
    const narBytes = paths.reduce((sum, info) => sum + info.narSize, 0);
    // Each try asks the cache again first, so what an earlier try uploaded is not sent twice.
    return withRetry(
      (tries) =>
        copyPaths(
          paths.map((info) => info.path),
          this.config.store,
          this.uploadUri(),
          { signal: tries, timeoutSeconds: this.config.timeoutSeconds, onProgress },
        ).catch((error) => {
          throw nixFailure(error, this.name);
        }),
      { ...retryOptions(this.options, signal), extraMs: uploadAllowanceMs(narBytes) },
    );
  }

  /** The claims of a file:// cache (`mkdir` in its directory); undefined where this host cannot make them. */
  private async openFleet(dir: string, signal?: AbortSignal): Promise<Fleet | undefined> {
    const fleet = await Fleet.open(
      new FileClaims(dir),
      { timeoutMs: this.options.timeoutMs, ...(this.options.onDebug ? { onDebug: this.options.onDebug } : {}) },
      signal ?? new AbortController().signal,
    );
    if (!fleet)
      this.options.onDebug?.(
        `cache ${this.name}: cannot make directories under ${join(dir, "claims")}: uploading without claims (hosts that push at once may upload the same paths)`,
      );
    return fleet;
  }

  /**
   * A fleet's upload to a file:// cache (caches/claims.ts): every path is claimed first. This
   * host's paths go up in waves of `nix copy`, each wave the claimed paths whose references
   * are in the cache or in the wave, so that Nix never copies a path another host holds; the
   * paths other hosts hold are waited for meanwhile, and taken over (with their references
   * first) when their claim goes stale.
   */
  private async fleetCopy(
    fleet: Fleet,
    paths: readonly PathInfo[],
    events: PushProgress,
    signal?: AbortSignal,
  ): Promise<void> {
    const stop = signal ?? new AbortController().signal;
    const missing = new Set(paths.map((info) => info.path));
    const up = new Map<StorePath, { done: Promise<void>; resolve: () => void }>();
    for (const info of paths) {
      let resolve = () => {};
      const done = new Promise<void>((ok) => {
        resolve = ok;
      });
      up.set(info.path, { done, resolve });
    }
    const settled = new Set<StorePath>();
    let done = 0;
    const settle = (info: PathInfo) => {
      settled.add(info.path);
      up.get(info.path)?.resolve();
      events.onProgress?.(++done, paths.length);
    };
    const refsUp = (info: PathInfo) =>
      Promise.all(
        info.references.filter((ref) => ref !== info.path && missing.has(ref)).map((ref) => up.get(ref)?.done),
      );
    const waiting = new AbortController();
    const until = AbortSignal.any([stop, waiting.signal]);
    // Every path waited for listens to it at once.
    setMaxListeners(paths.length + 10, until);
    const held = new Map<StorePath, Promise<void>>();
    let left: PathInfo[] = [];
    for (const info of paths) {
      const answer = await fleet.claim(hashPart(info.path), stop);
      if (answer === "mine") left.push(info);
      else if (answer === "present") {
        settle(info);
        events.onWaited?.(info.narSize);
      } else {
        let ours = false;
        const task = fleet
          .waitFor(
            hashPart(info.path),
            info.narSize,
            async () => {
              ours = true;
              await refsUp(info);
              await this.copy([info], () => {}, until);
            },
            until,
          )
          .then(() => {
            held.delete(info.path);
            settle(info);
            if (!ours) events.onWaited?.(info.narSize);
          });
        task.catch(() => {});
        held.set(info.path, task);
      }
    }
    try {
      while (left.length > 0) {
        // The claimed paths whose references are all up or in this wave, dependencies first.
        const wave = new Set<StorePath>();
        const ready: PathInfo[] = [];
        for (const info of left) {
          const blocked = info.references.some(
            (ref) => ref !== info.path && missing.has(ref) && !wave.has(ref) && !settled.has(ref),
          );
          if (blocked) continue;
          wave.add(info.path);
          ready.push(info);
        }
        if (ready.length === 0) {
          // Waiting for another host's path that this host's need.
          await Promise.race(held.values());
          continue;
        }
        const base = done;
        try {
          await this.copy(ready, (copied) => events.onProgress?.(base + copied, paths.length), stop);
        } finally {
          for (const info of ready) await fleet.release(hashPart(info.path));
        }
        for (const info of ready) settle(info);
        left = left.filter((info) => !wave.has(info.path));
      }
      await Promise.all(held.values());
    } catch (error) {
      waiting.abort(error);
      for (const info of left) await fleet.release(hashPart(info.path));
      throw error;
    }
  }

  /**
   * A local store (`/dir`, `local?root=/dir`) refused an unsigned path: what this run made of
   * the store (Nix makes `<root>/nix` when genpush first asks it) goes, so a mistaken `--to`
   * leaves nothing behind; and the hint says what the user most likely meant.
   */
  private async refusedUnsigned(error: GenpushError): Promise<GenpushError> {
    const local = this.localRoot;
    if (!local) return error;
    const made = !local.rootBefore ? local.root : !local.nixBefore ? join(local.root, "nix") : undefined;
    if (made) await rm(made, { recursive: true, force: true });
    const left = made
      ? `; removed ${made}, which Nix had made for this push`
      : `; the store at ${local.root} was there before this push and is left as it is`;
    return new GenpushError(`${error.message}${left}`, {
      hint:
        `for a binary cache in that directory, which other machines substitute from: \`file://${local.root}\`; ` +
        `for a Nix store there that takes unsigned paths: \`${local.root}?require-sigs=false\``,
      cause: error,
    });
  }

  /** Before this run's first command to a local store: whether its root and `<root>/nix` were there. */
  private noteLocalRoot(): void {
    if (this.localRoot) return;
    const root = localStoreRoot(this.config.store);
    if (root) this.localRoot = { root, rootBefore: existsSync(root), nixBefore: existsSync(join(root, "nix")) };
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
        fleet: this.config.fleet,
        ...(this.options.onRefused ? { onRefused: this.options.onRefused } : {}),
        ...(this.options.onDebug ? { onDebug: this.options.onDebug } : {}),
      },
    );
    return this.http;
  }

  /** How genpush uploads `paths` to this cache itself, with the signing key read; undefined when `nix copy` must. */
  private async nativeUploadOf(paths: readonly PathInfo[]): Promise<UploadOptions | undefined> {
    const upload = paths.every((info) => info.narinfo) ? await this.nativeUpload() : undefined;
    if (!upload) return undefined;
    const keyFile = this.signingKeyFile();
    const key = keyFile ? await readSigningKey(keyFile, this.name) : undefined;
    return { ...upload, ...(key ? { key } : {}) };
  }

  /** How genpush uploads to this cache itself; undefined when `nix copy` must. */
  private nativeUpload(): Promise<Omit<UploadOptions, "key"> | undefined> {
    this.upload ??= (async () => {
      const { store } = this.config;
      if (!isHttp(store)) return undefined;
      const settings = new URL(store).searchParams;
      if (nixCopySetting(settings)) return undefined;
      const method = settings.get("compression") ?? DEFAULT_COMPRESSION;
      const compression = await findCompression(
        method,
        settings.get("parallel-compression") === "true",
        this.config.timeoutSeconds * 1000,
      );
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

/** The root directory of a local store in another place: `/dir` or `local?root=/dir`; undefined for any other store. */
function localStoreRoot(store: string): string | undefined {
  const at = store.indexOf("?");
  const base = at < 0 ? store : store.slice(0, at);
  if (base.startsWith("/")) return base;
  const root = new URLSearchParams(at < 0 ? "" : store.slice(at + 1)).get("root");
  return base === "local" && root?.startsWith("/") ? root : undefined;
}

function isHttp(store: string): boolean {
  return /^https?:\/\//.test(store);
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
