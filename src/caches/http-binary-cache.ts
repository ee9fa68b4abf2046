/**
 * An HTTP binary cache, spoken to directly over keep-alive connections.
 *
 * Asking: `HEAD <hash>.narinfo`, with bounded concurrency. Nix's narinfo disk
 * cache is never consulted: it trusts positive answers for 30 days, so a path
 * the cache lost would never be sent again (nix#6056).
 *
 * Uploading, as `nix copy` would but without its questions: each path's NAR
 * is read from the store, checked against the hash the store recorded,
 * compressed, and PUT to `nar/`; its narinfo (signed, if a key is configured)
 * is PUT only once every reference's narinfo is there, so the cache never
 * offers a path whose closure it lacks, even after a crash. Where the cache is
 * a fleet's (`fleet: true`) and takes MKCOL, each path is claimed first and
 * hosts that push at once upload it once between them (claims.ts).
 */
import { createHash } from "node:crypto";
import { setMaxListeners } from "node:events";
import { availableParallelism } from "node:os";
import { Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setImmediate as nextTurn } from "node:timers/promises";
import { formatNix32, toNix32 } from "../nix/hash.js";
import { dumpPath, narIntoSync } from "../nix/nar.js";
import type { NarinfoFields, PathInfo } from "../nix/path-info.js";
import { hashPart, STORE_DIR, type StorePath } from "../nix/store-path.js";
import { uploadAllowanceMs } from "../runtime/bounds.js";
import { GenpushError } from "../runtime/errors.js";
import { type RetryOptions, withRetry } from "../runtime/retry.js";
import { Fleet, type ListedClaim, WebDavClaims } from "./claims.js";
import { type Compression, SMALL_NAR_BYTES } from "./compression.js";
import type { HttpAnswer, HttpClient } from "./http.js";
import { checkNarinfo, type TrustedKey } from "./narinfo.js";
import { fingerprint, type SigningKey, signFingerprint } from "./signing.js";
import type { PushMissingEvents, PushProgress } from "./types.js";

export interface HttpBinaryCacheOptions {
  cacheName: string;
  /** Questions and narinfo uploads in flight at once. */
  concurrency: number;
  retry: RetryOptions;
  /** A request's bound (the cache's `timeoutSeconds`); a NAR upload adds the time its bytes may take. */
  timeoutMs: number;
  /** A narinfo refused (counted as missing): a sentence for the log, at warning priority. */
  onRefused?: (message: string) => void;
  /** A sentence for the debug log (a cache that takes no claims). */
  onDebug?: (message: string) => void;
  /** Claim each path before uploading it (the cache's `fleet`, claims.ts); otherwise no claim, nor the probe for them. */
  fleet: boolean;
}

export interface UploadOptions {
  compression: Compression;
  key?: SigningKey;
}

/**
 * A NAR in flight takes a slot per this many bytes (at least one): a few big
 * NARs at once, each with its compressor (xz -6 takes up to 100 MB), or many
 * small ones.
 */
const NAR_BYTES_PER_SLOT = 8 * 1024 * 1024;

/** A path that can be uploaded: its narinfo fields are known. */
export type UploadablePath = PathInfo & { narinfo: NarinfoFields };

interface NarFile {
  url: string;
  fileHash: string;
  fileSize: number;
}

export class HttpBinaryCache {
  private readonly base: URL;
  private readonly claims: WebDavClaims;

  constructor(
    storeUri: string,
    private readonly http: HttpClient,
    private readonly options: HttpBinaryCacheOptions,
  ) {
    const url = new URL(storeUri);
    url.search = "";
    url.hash = "";
    if (!url.pathname.endsWith("/")) url.pathname += "/";
    this.base = url;
    this.claims = new WebDavClaims(url, http, options.retry, (at) => this.notThere(at));
  }

  /** The claims in the cache's `claims/`; undefined where it gives no index of it (WebDavClaims.list). */
  listClaims(signal: AbortSignal): Promise<ListedClaim[] | undefined> {
    return this.claims.list(signal);
  }

  /** Start reading what the first request needs (HttpClient.warm). */
  warm(): void {
    this.http.warm(this.base);
  }

  /** The subset of `hashes` whose narinfo the cache does not have: one HEAD each. */
  async missing(hashes: readonly string[], signal?: AbortSignal): Promise<Set<string>> {
    const found = await this.lacking(hashes, (hash, stop) => this.has(hash, stop), signal);
    return new Set(found);
  }

  /**
   * Ask which of `paths` (dependencies first) the cache lacks, one HEAD each, and upload those,
   * each path's NAR as soon as its answer says it is missing: the questions go out at once and
   * the uploads do not wait for the last answer. `onMissing` is told the paths found missing,
   * dependencies first, once every answer is in; the same paths are returned once all are up.
   * Each narinfo still waits for its references' (those found missing) and every claim is taken
   * before its upload, as in `upload`. No NAR is read before `events.rooted` settles (the paths'
   * GC root made: Cache.pushMissing).
   */
  async uploadMissing(
    paths: readonly UploadablePath[],
    upload: UploadOptions,
    events: PushMissingEvents<UploadablePath>,
    signal?: AbortSignal,
  ): Promise<UploadablePath[]> {
    // First in the client's queue: no NAR goes to a cache of another store directory.
    const cacheInfo = this.ensureCacheInfo(signal);
    const ready = events.rooted ? Promise.all([cacheInfo, events.rooted]).then(() => {}) : cacheInfo;
    ready.catch(() => {});
    const { each, all } = this.answers(paths, (info, stop) => this.has(hashPart(info.path), stop), signal);
    const lacks = new Map(paths.map((info, i) => [info.path, each[i] as Promise<boolean>]));
    const asked = all.then(async () => {
      const lacking = await Promise.all(each);
      const missing = paths.filter((_, i) => lacking[i]);
      events.onMissing?.(missing);
      return missing;
    });
    asked.catch(() => {});
    try {
      await this.send(paths, lacks, asked, upload, events, ready, signal);
    } catch (error) {
      // A cache that fails its questions too (one that does not answer) is told as `missing` would
      // tell it: the questions' failure wins; answered, what is missing is counted. Each question
      // is bounded, so this wait is.
      throw await asked.then(
        () => error,
        (asking: unknown) => asking,
      );
    }
    return asked;
  }

  /**
   * The paths of `infos` the cache does not have whole: no narinfo, a narinfo that does not
   * pass checkNarinfo (another path, other content, not signed by `key`), or one whose NAR
   * file is gone. Two requests each: GET the narinfo, HEAD the NAR it names.
   */
  async incomplete(infos: readonly PathInfo[], key?: TrustedKey, signal?: AbortSignal): Promise<Set<StorePath>> {
    const found = await this.lacking(infos, (info, stop) => this.hasWhole(info, key, stop), signal);
    return new Set(found.map((info) => info.path));
  }

  /** Upload `paths` (dependencies first). */
  async upload(
    paths: readonly UploadablePath[],
    upload: UploadOptions,
    events: PushProgress,
    signal?: AbortSignal,
  ): Promise<void> {
    const all = Promise.resolve(true);
    const ready = this.ensureCacheInfo(signal);
    ready.catch(() => {});
    await this.send(
      paths,
      new Map(paths.map((info) => [info.path, all])),
      Promise.resolve(paths),
      upload,
      events,
      ready,
      signal,
    );
  }

  /**
   * Upload those of `candidates` (dependencies first) whose answer in `lacks` says the cache
   * lacks them, each as soon as its answer is in; `missing` is all of them, once every answer
   * is (progress counts them). Nothing is sent before `ready` (the cache's `nix-cache-info`).
   */
  private async send(
    candidates: readonly UploadablePath[],
    lacks: ReadonlyMap<StorePath, Promise<boolean>>,
    missing: Promise<readonly UploadablePath[]>,
    upload: UploadOptions,
    events: PushProgress,
    ready: Promise<void>,
    signal?: AbortSignal,
  ): Promise<void> {
    await ready;
    const narSlots = new Slots(this.options.concurrency);
    const narinfoSlots = new Slots(this.options.concurrency);
    const producing = new AbortController();
    const onAbort = () => producing.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const smallNars = new SmallNars(
      candidates.filter((info) => info.narSize <= SMALL_NAR_BYTES),
      lacks,
      upload,
      producing.signal,
    );
    const published = new Map<StorePath, Promise<void>>();
    // Paths other hosts upload: waited for once this host's own are under way (src/caches/claims.ts).
    const waits: Promise<void>[] = [];
    const waiting = new AbortController();
    const fleet = this.options.fleet
      ? await Fleet.open(
          this.claims,
          { timeoutMs: this.options.timeoutMs, ...(this.options.onDebug ? { onDebug: this.options.onDebug } : {}) },
          producing.signal,
        )
      : undefined;
    if (!fleet && this.options.fleet)
      this.options.onDebug?.(
        `cache ${this.options.cacheName} takes no MKCOL: uploading without claims (hosts that push at once may upload the same paths)`,
      );
    // Without claims, large NARs are sent largest first, as soon as slots are free (as Nix 2.35 orders
    // its uploads): the longest uploads do not start last. With claims, each waits for its path's claim
    // and goes in dependency order. Each path's narinfo still waits for its NAR and its references.
    const largeNars = fleet
      ? undefined
      : this.sendLarge(
          candidates.filter((info) => info.narSize > SMALL_NAR_BYTES),
          lacks,
          upload,
          narSlots,
          producing.signal,
        );
    let done = 0;
    let narBytes = 0;
    // How many there are to upload is known once every answer is in: progress is told from then on.
    let total: number | undefined;
    missing
      .then((all) => {
        total = all.length;
        if (done > 0) events.onProgress?.(done, total, narBytes);
      })
      .catch(() => {});
    const finished = (info: UploadablePath) => {
      narBytes += info.narSize;
      done++;
      if (total !== undefined) events.onProgress?.(done, total, narBytes);
    };
    /** Upload one path: its NAR (streamed, or prepared with its group), then its narinfo after its references'. */
    const send = async (info: UploadablePath, stop: AbortSignal, streamed: boolean): Promise<void> => {
      const retry = { ...this.options.retry, signal: stop };
      const weight = 1 + Math.floor(info.narSize / NAR_BYTES_PER_SLOT);
      const allowance = uploadAllowanceMs(info.narSize);
      let file: NarFile;
      const large = largeNars?.get(info.path);
      if (large) {
        file = await large;
      } else if (streamed || info.narSize > SMALL_NAR_BYTES) {
        file = await narSlots.run(
          () => withRetry((tries) => this.putNar(info, upload, tries, allowance), { ...retry, extraMs: allowance }),
          weight,
        );
      } else {
        // Read, checked and compressed with its group, before it takes a slot; each try sends the same bytes.
        const prepared = await smallNars.take(info.path);
        await narSlots.run(() =>
          withRetry((tries) => this.putNarFile(prepared.url, prepared.body, tries), {
            ...retry,
            extraMs: allowance,
          }),
        );
        smallNars.sent(prepared.body.length);
        file = { url: prepared.url, fileHash: prepared.fileHash, fileSize: prepared.body.length };
      }
      await Promise.all(info.references.map((ref) => (ref === info.path ? undefined : published.get(ref))));
      const narinfo = renderNarinfo(info, file, upload);
      const name = `${hashPart(info.path)}.narinfo`;
      await narinfoSlots.run(() => withRetry((tries) => this.put(name, narinfo, NARINFO_TYPE, tries), retry));
      finished(info);
    };
    try {
      await runAll(
        candidates,
        (info, stop) => {
          const hash = hashPart(info.path);
          let decided = () => {};
          const claimed = new Promise<void>((resolve) => {
            decided = resolve;
          });
          const task = (async () => {
            // The cache has it: nothing to send, and a narinfo that refers to it need not wait.
            if (!(await lacks.get(info.path))) return;
            const answer = fleet ? await fleet.claim(hash, stop) : "mine";
            if (answer === "mine") {
              try {
                await send(info, stop, false);
              } finally {
                await fleet?.release(hash);
              }
              return;
            }
            // Another host's: this one goes on with its own, and waits for it at the end.
            smallNars.skip(info.path);
            decided();
            const until = AbortSignal.any([stop, producing.signal, waiting.signal]);
            let ours = false;
            if (answer === "held") {
              await fleet?.waitFor(
                hash,
                info.narSize,
                () => {
                  ours = true;
                  return send(info, until, true);
                },
                until,
              );
            } else finished(info);
            if (!ours) events.onWaited?.(info.narSize);
          })();
          published.set(info.path, task);
          const waited = task.catch((error: unknown) => {
            waiting.abort(error);
            throw error;
          });
          // Settled below, or never looked at when the upload failed first: no unhandled rejection.
          waited.catch(() => {});
          waits.push(waited);
          return Promise.race([task, claimed]);
        },
        signal,
        // Enough to keep the NAR and the narinfo uploads full while some wait for references.
        4 * this.options.concurrency,
      );
      const failed = (await Promise.allSettled(waits)).find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
      await missing;
    } finally {
      fleet?.close();
      producing.abort();
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Upload `paths`' NARs (each larger than SMALL_NAR_BYTES), largest first, each taking its
   * weight of `slots`: what each uploaded to, by path. Stopped (`signal`) or failed, every NAR
   * not uploaded by then fails with that reason.
   */
  private sendLarge(
    paths: readonly UploadablePath[],
    lacks: ReadonlyMap<StorePath, Promise<boolean>>,
    upload: UploadOptions,
    slots: Slots,
    signal: AbortSignal,
  ): Map<StorePath, Promise<NarFile>> {
    const files = new Map<StorePath, Promise<NarFile>>();
    const settle = new Map<StorePath, { resolve: (file: NarFile) => void; reject: (error: unknown) => void }>();
    for (const info of paths) {
      const file = new Promise<NarFile>((resolve, reject) => settle.set(info.path, { resolve, reject }));
      // Awaited by its path's task, or never when the upload stopped first: no unhandled rejection either way.
      file.catch(() => {});
      files.set(info.path, file);
    }
    const largest = [...paths].sort((a, b) => b.narSize - a.narSize);
    runAll(
      largest,
      async (info, stop) => {
        const allowance = uploadAllowanceMs(info.narSize);
        const weight = 1 + Math.floor(info.narSize / NAR_BYTES_PER_SLOT);
        const retry = { ...this.options.retry, signal: stop, extraMs: allowance };
        try {
          // The cache has it: nothing waits for this NAR.
          if (!(await lacks.get(info.path))) return;
          const file = await slots.run(
            () => withRetry((tries) => this.putNar(info, upload, tries, allowance), retry),
            weight,
          );
          settle.get(info.path)?.resolve(file);
        } catch (error) {
          settle.get(info.path)?.reject(error);
          throw error;
        }
      },
      signal,
      this.options.concurrency,
    ).catch((reason: unknown) => {
      for (const { reject } of settle.values()) reject(reason);
    });
    return files;
  }

  /** Release its connections. */
  close(): void {
    this.http.close();
  }

  private async lacking<T>(
    items: readonly T[],
    has: (item: T, signal: AbortSignal) => Promise<boolean>,
    signal?: AbortSignal,
  ): Promise<T[]> {
    const { each, all } = this.answers(items, has, signal);
    await all;
    const lacking = await Promise.all(each);
    return items.filter((_, i) => lacking[i]);
  }

  /**
   * Ask about each of `items` (`has`), all at once: the client sends as many at a time as it
   * has connections and queues the rest (at most QUESTIONS_QUEUED handed to it at once).
   * `each`: whether the cache lacks each item, settled as its answer comes; `all`: settled once
   * every question is, failed with the first failure (the others are stopped, and any item not
   * answered by then fails with it).
   */
  private answers<T>(
    items: readonly T[],
    has: (item: T, signal: AbortSignal) => Promise<boolean>,
    signal?: AbortSignal,
  ): { each: Promise<boolean>[]; all: Promise<void> } {
    const settle: { resolve: (lacking: boolean) => void; reject: (error: unknown) => void }[] = [];
    const each = items.map(() => {
      const answer = new Promise<boolean>((resolve, reject) => settle.push({ resolve, reject }));
      // Awaited where it is used, or never when the asking failed first: no unhandled rejection.
      answer.catch(() => {});
      return answer;
    });
    const indexes = items.map((_, i) => i);
    const all = runAll(
      indexes,
      async (i, stop) => {
        const lacking = !(await has(items[i] as T, stop));
        settle[i]?.resolve(lacking);
      },
      signal,
      QUESTIONS_QUEUED,
    );
    all.catch((reason: unknown) => {
      for (const { reject } of settle) reject(reason);
    });
    return { each, all };
  }

  private async hasWhole(info: PathInfo, key: TrustedKey | undefined, signal: AbortSignal): Promise<boolean> {
    const answer = await this.ask(`${hashPart(info.path)}.narinfo`, "GET", signal);
    if (!answer) return false;
    const narinfo = checkNarinfo(answer.body.toString("utf8"), info, key);
    if (typeof narinfo === "string") {
      this.options.onRefused?.(
        `cache ${this.options.cacheName}: the narinfo of ${info.path} ${narinfo}; counted as missing`,
      );
      return false;
    }
    return (await this.ask(narinfo.url, "HEAD", signal)) !== undefined;
  }

  private async has(hash: string, signal: AbortSignal): Promise<boolean> {
    return (await this.ask(`${hash}.narinfo`, "HEAD", signal)) !== undefined;
  }

  /** One retried question about a file of the cache: its answer, or undefined when it is not there. */
  private async ask(name: string, method: string, signal: AbortSignal): Promise<HttpAnswer | undefined> {
    const url = new URL(name, this.base);
    const accept = await this.notThere(url);
    const answer = await withRetry(
      (tries) => this.http.request(url, { method, accept, signal: tries, question: true }),
      {
        ...this.options.retry,
        signal,
      },
    );
    return accept.includes(answer.status) ? undefined : answer;
  }

  /**
   * What Nix's HTTP binary cache reads as "no such file": 404, 410, and 403 —
   * S3-style servers answer it for a missing object — but only where no
   * credential is sent to `url`'s host: a 403 to a request that carried one is a
   * refusal, and reading it as "not there" would re-upload everything a private
   * cache holds.
   */
  private async notThere(url: URL): Promise<number[]> {
    return (await this.http.hasCredential(url)) ? [404, 410] : [403, 404, 410];
  }

  /** Like `nix copy`, give a new cache its `nix-cache-info`; refuse one for another store directory. */
  private async ensureCacheInfo(signal?: AbortSignal): Promise<void> {
    const url = new URL("nix-cache-info", this.base);
    const retry = { ...this.options.retry, ...(signal ? { signal } : {}) };
    const accept = await this.notThere(url);
    const answer = await withRetry(
      (tries) => this.http.request(url, { method: "GET", accept, signal: tries, maxBodyBytes: CACHE_INFO_MAX }),
      retry,
    );
    if (accept.includes(answer.status)) {
      await withRetry(
        (tries) => this.put("nix-cache-info", `StoreDir: ${STORE_DIR}\n`, "text/x-nix-cache-info", tries),
        retry,
      );
      return;
    }
    const storeDir = /^StoreDir: (.*)$/m.exec(answer.body.toString())?.[1]?.trim();
    if (storeDir && storeDir !== STORE_DIR) {
      throw new GenpushError(`cache ${this.options.cacheName} holds paths of ${storeDir}, not ${STORE_DIR}`, {
        hint: "check the cache's URL in the configuration",
      });
    }
  }

  private async put(name: string, body: string, type: string, signal?: AbortSignal): Promise<void> {
    await this.http.request(new URL(name, this.base), {
      method: "PUT",
      headers: { "content-type": type },
      body,
      ...(signal ? { signal } : {}),
    });
  }

  /** A NAR read and compressed whole, sent with its length. */
  private async putNarFile(url: string, body: Buffer, signal: AbortSignal): Promise<void> {
    await this.http.request(new URL(url, this.base), {
      method: "PUT",
      headers: { "content-type": "application/x-nix-nar" },
      body,
      signal,
      deadlineMs: this.options.timeoutMs + uploadAllowanceMs(body.length),
      expectContinue: true,
    });
  }

  /** Stream one NAR: store, hash check, compressor, cache. */
  private async putNar(
    info: UploadablePath,
    upload: UploadOptions,
    signal: AbortSignal,
    allowanceMs: number,
  ): Promise<NarFile> {
    signal.throwIfAborted();
    const { compression } = upload;
    const url = narUrl(info, upload);
    const compressor = await compression.stream(info.narSize);
    const file = new Digest();
    const streams = [
      Readable.from(dumpPath(info.path), { objectMode: false }),
      new NarCheck(info),
      ...(compressor ? [compressor] : []),
      file,
    ];
    const piped = pipeline(streams, { signal });
    const sent = this.http.request(new URL(url, this.base), {
      method: "PUT",
      headers: {
        "content-type": "application/x-nix-nar",
        ...(compressor ? {} : { "content-length": String(info.narSize) }),
      },
      body: file,
      signal,
      deadlineMs: this.options.timeoutMs + allowanceMs,
      expectContinue: true,
    });
    try {
      await Promise.all([sent, piped]);
    } catch (error) {
      for (const stream of streams) stream.destroy();
      throw error;
    }
    return { url, fileHash: `sha256:${toNix32(file.hash.digest())}`, fileSize: file.size };
  }
}

const NARINFO_TYPE = "text/x-nix-narinfo";
/**
 * Questions (narinfo HEADs and GETs) handed to the HTTP client at once: it sends as many at a
 * time as it has connections for questions (`queryConcurrency`) and queues the rest, so those
 * connections never wait for the next question; the bound keeps what a closure of many
 * thousands of paths holds in flight small. The questions' connections are their own: no
 * question waits behind an upload (HttpRequest.question).
 */
const QUESTIONS_QUEUED = 1024;
/** `nix-cache-info` is three short lines: anything near this is not one. */
const CACHE_INFO_MAX = 64 * 1024;

function renderNarinfo(info: UploadablePath, file: NarFile, upload: UploadOptions): string {
  const { narinfo } = info;
  const signatures = new Set(narinfo.signatures);
  if (upload.key)
    signatures.add(signFingerprint(upload.key, fingerprint(info.path, narinfo, info.narSize, info.references)));
  const lines = [
    `StorePath: ${info.path}`,
    `URL: ${file.url}`,
    `Compression: ${upload.compression.method}`,
    `FileHash: ${file.fileHash}`,
    `FileSize: ${file.fileSize}`,
    `NarHash: ${formatNix32(narinfo.narHash)}`,
    `NarSize: ${info.narSize}`,
    `References: ${info.references
      .map((ref) => ref.slice(STORE_DIR.length + 1))
      .sort()
      .join(" ")}`,
    ...(narinfo.deriver ? [`Deriver: ${narinfo.deriver.slice(STORE_DIR.length + 1)}`] : []),
    ...[...signatures].map((sig) => `Sig: ${sig}`),
    ...(narinfo.ca ? [`CA: ${narinfo.ca}`] : []),
  ];
  return `${lines.join("\n")}\n`;
}

/** Where a path's NAR goes: named after its NAR hash. */
function narUrl(info: UploadablePath, upload: UploadOptions): string {
  return `nar/${toNix32(info.narinfo.narHash.digest)}.nar${upload.compression.extension}`;
}

/**
 * A small NAR read whole from the store into one buffer of the size Nix recorded (each piece
 * copied once), checked against that size and the hash.
 */
function readNar(info: UploadablePath): Buffer {
  const nar = Buffer.allocUnsafe(info.narSize);
  const size = narIntoSync(info.path, nar);
  // A NAR of another size fails on its size: its hash need not be computed.
  const digest = size === info.narSize ? createHash("sha256").update(nar).digest() : Buffer.alloc(0);
  const mismatch = narMismatch(info, size, digest);
  if (mismatch) throw mismatch;
  return nar;
}

/** The error for a NAR whose size or hash is not what the store recorded, if it is not. */
function narMismatch(info: UploadablePath, size: number, digest: Buffer): GenpushError | undefined {
  const { narinfo, narSize, path } = info;
  if (size === narSize && digest.equals(narinfo.narHash.digest) && narinfo.narHash.algorithm === "sha256") return;
  return new GenpushError(
    `${path} in the local store does not match the hash Nix recorded for it; it was not uploaded`,
    {
      hint: `check the store with \`nix-store --verify --check-contents\`, then repair the path (\`nix-store --repair-path ${path}\`)`,
    },
  );
}

/**
 * Passes the NAR through while hashing it, holding the last chunk back until
 * the hash and size match what the store recorded: a NAR that does not match
 * never reaches the cache whole.
 */
class NarCheck extends Transform {
  private readonly hash = createHash("sha256");
  private size = 0;
  private held: Buffer | undefined;

  constructor(private readonly info: UploadablePath) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    if (this.held) this.push(this.held);
    this.held = chunk;
    done();
  }

  override _flush(done: TransformCallback): void {
    const mismatch = narMismatch(this.info, this.size, this.hash.digest());
    if (mismatch) done(mismatch);
    else done(null, this.held);
  }
}

/** Passes bytes through, counting and hashing them: the file as the cache stores it. */
class Digest extends Transform {
  readonly hash = createHash("sha256");
  size = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    done(null, chunk);
  }
}

/** A small NAR read, checked and compressed: what its PUT sends. */
interface PreparedNar {
  url: string;
  body: Buffer;
  fileHash: string;
}

/** Small NARs in a group: at most this many... */
const GROUP_NARS = 64;
/** ... fewer in the first groups where they are compressed in process (Compression.inProcess): 4, 8, 16, ... */
const FIRST_GROUP_NARS = 4;
/** ... and this many bytes before compression. */
const GROUP_BYTES = 8 * 1024 * 1024;
/** Compressed small NARs waiting for their upload: no new group is read while more wait... */
const AHEAD_BYTES = 16 * 1024 * 1024;
/** ... or while more than this many do (tiny NARs would otherwise all be read ahead). */
const AHEAD_NARS = 4 * GROUP_NARS;

/**
 * The small NARs of an upload, read from the store, checked against the hashes Nix recorded
 * and compressed a group at a time (one compressor run per group where a program compresses),
 * in upload order, as many groups at once as there are cores, and no further ahead of the
 * uploads than AHEAD_BYTES.
 */
class SmallNars {
  private readonly ready = new Map<StorePath, Promise<PreparedNar>>();
  private readonly settle = new Map<StorePath, { resolve: (p: PreparedNar) => void; reject: (e: unknown) => void }>();
  private readonly skipped = new Set<StorePath>();
  private waiting = 0;
  private waitingNars = 0;
  private wakers: (() => void)[] = [];

  constructor(
    paths: readonly UploadablePath[],
    /** Whether the cache lacks each path: a group is read once its paths' answers are in, without those it has. */
    private readonly lacks: ReadonlyMap<StorePath, Promise<boolean>>,
    private readonly upload: UploadOptions,
    private readonly signal: AbortSignal,
  ) {
    for (const info of paths) {
      const promise = new Promise<PreparedNar>((resolve, reject) => this.settle.set(info.path, { resolve, reject }));
      // Taken by its task, or never when the upload stopped first: no unhandled rejection either way.
      promise.catch(() => {});
      this.ready.set(info.path, promise);
    }
    signal.addEventListener("abort", () => this.wakeAll(), { once: true });
    // Stopped: what was not prepared never will be (a prepared NAR's promise stays resolved).
    runAll(
      groups(paths, upload.compression.inProcess ? FIRST_GROUP_NARS : GROUP_NARS),
      async (group, stop) => {
        while (this.full() && !stop.aborted) await new Promise<void>((wake) => this.wakers.push(wake));
        stop.throwIfAborted();
        await this.prepare(group);
      },
      signal,
      availableParallelism(),
    ).catch((reason: unknown) => {
      for (const { reject } of this.settle.values()) reject(reason);
    });
  }

  /** A path's prepared NAR, once: then it is forgotten, and its bytes go with its upload. */
  take(path: StorePath): Promise<PreparedNar> {
    const prepared = this.ready.get(path) as Promise<PreparedNar>;
    this.ready.delete(path);
    return prepared;
  }

  /**
   * A path this upload does not send from here (another host holds it): it is not read, or,
   * read already, its bytes no longer wait.
   */
  skip(path: StorePath): void {
    const prepared = this.ready.get(path);
    this.ready.delete(path);
    const settle = this.settled(path);
    if (settle) {
      this.skipped.add(path);
      settle.reject(new Error("not sent from here"));
    } else prepared?.then((nar) => this.sent(nar.body.length)).catch(() => {});
  }

  /** A prepared NAR was sent: its bytes no longer wait. */
  sent(bytes: number): void {
    this.waiting -= bytes;
    this.waitingNars--;
    if (!this.full()) this.wakeAll();
  }

  private full(): boolean {
    return readAheadFull(this.waiting, this.waitingNars);
  }

  private wakeAll(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const wake of wakers) wake();
  }

  /** How to settle a path's promise, taken out of the map (it is settled once). */
  private settled(path: StorePath) {
    const settle = this.settle.get(path);
    this.settle.delete(path);
    return settle;
  }

  private async prepare(all: UploadablePath[]): Promise<void> {
    const group: UploadablePath[] = [];
    try {
      const lacking = await Promise.all(all.map((info) => this.lacks.get(info.path)));
      for (const [i, info] of all.entries()) {
        if (lacking[i] && !this.skipped.has(info.path)) group.push(info);
        // The cache has it: nothing takes it.
        else if (!lacking[i]) this.settled(info.path)?.reject(new Error("the cache has it"));
      }
      if (group.length === 0) return;
      // Read synchronously (narIntoSync), one NAR at a time, the event loop's turn between two:
      // it is held for one small NAR at most.
      const nars: Buffer[] = [];
      for (const info of group) {
        nars.push(readNar(info));
        await nextTurn();
      }
      const bodies = await this.upload.compression.compressMany(nars, this.signal);
      for (const [i, info] of group.entries()) {
        const body = bodies[i] as Buffer;
        // Skipped while it was read: nothing waits for it.
        const settle = this.settled(info.path);
        if (!settle) continue;
        this.waiting += body.length;
        this.waitingNars++;
        settle.resolve({
          url: narUrl(info, this.upload),
          body,
          fileHash: `sha256:${toNix32(createHash("sha256").update(body).digest())}`,
        });
      }
    } catch (error) {
      for (const info of all) this.settled(info.path)?.reject(error);
    }
  }
}

/**
 * Whether `bytes` in `nars` compressed small NARs waiting for their upload are more than the
 * read-ahead holds (AHEAD_BYTES or AHEAD_NARS): then no new group is read.
 */
export function readAheadFull(bytes: number, nars: number): boolean {
  return bytes > AHEAD_BYTES || nars > AHEAD_NARS;
}

/**
 * Paths split into groups of at most GROUP_NARS and GROUP_BYTES (before compression), in their
 * order; the first group holds at most `first` NARs, and each next one twice as many as the one
 * before, up to GROUP_NARS (small first groups: the first uploads need not wait for 64 NARs).
 */
export function groups(paths: readonly UploadablePath[], first = GROUP_NARS): UploadablePath[][] {
  const out: UploadablePath[][] = [];
  let current: UploadablePath[] = [];
  let bytes = 0;
  let most = Math.min(first, GROUP_NARS);
  for (const info of paths) {
    if (current.length > 0 && (current.length >= most || bytes + info.narSize > GROUP_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
      most = Math.min(2 * most, GROUP_NARS);
    }
    current.push(info);
    bytes += info.narSize;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * `size` slots; a task takes `weight` of them (all of them at most) and
 * tasks start in the order they came.
 */
class Slots {
  private readonly waiting: { weight: number; start: () => void }[] = [];
  private free: number;

  constructor(private readonly size: number) {
    this.free = size;
  }

  async run<T>(task: () => Promise<T>, weight = 1): Promise<T> {
    const taken = Math.min(weight, this.size);
    if (this.waiting.length === 0 && this.free >= taken) this.free -= taken;
    else await new Promise<void>((start) => this.waiting.push({ weight: taken, start }));
    try {
      return await task();
    } finally {
      this.free += taken;
      for (let next = this.waiting[0]; next && this.free >= next.weight; next = this.waiting[0]) {
        this.waiting.shift();
        this.free -= next.weight;
        next.start();
      }
    }
  }
}

/**
 * Run a task for each item, in their order, at most `window` at once (each holds its item and
 * whatever it waits for: twenty thousand at once held hundreds of megabytes); the first to fail
 * stops the others (their signal aborts) and starts no more, and once all have settled its
 * error is thrown.
 */
async function runAll<T>(
  items: readonly T[],
  run: (item: T, signal: AbortSignal) => Promise<void>,
  outer: AbortSignal | undefined,
  window: number,
): Promise<void> {
  const stop = new AbortController();
  // Every request in flight listens to it: no "possible leak" warning for that.
  setMaxListeners(0, stop.signal);
  const onAbort = () => stop.abort(outer?.reason);
  if (outer?.aborted) onAbort();
  outer?.addEventListener("abort", onAbort, { once: true });
  let failure: { error: unknown } | undefined;
  let next = 0;
  const worker = async () => {
    while (next < items.length && !failure && !stop.signal.aborted) {
      const item = items[next++] as T;
      await run(item, stop.signal).catch((error: unknown) => {
        failure ??= { error };
        stop.abort();
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(window, items.length)) }, worker));
  outer?.removeEventListener("abort", onAbort);
  if (failure) throw failure.error;
  // Stopped from outside before every item ran: that is the run's failure.
  if (next < items.length) throw stop.signal.reason ?? new GenpushError("stopped");
}
