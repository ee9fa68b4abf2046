/**
 * A fleet pushes each path once: hosts that switch together claim a path before uploading it,
 * with the cache's own atomic create-if-absent, and the others wait for its narinfo.
 *
 * The design:
 *
 * - **The claim** of the path with hash part H is the collection `claims/H/`: a prefix Nix never
 *   reads (it reads `H.narinfo`, `nar/`, `nix-cache-info`, `log/`, `realisations/`,
 *   `debuginfo/`), so a claim is never taken for content. It is made with WebDAV `MKCOL`:
 *   nginx answers 201 to the first and 405 to every later one for the same collection, so the
 *   MKCOL decides who holds it (`claims/` itself is made first; nginx answers 409 under a
 *   missing parent). A backend with another primitive (S3's `PUT` with `If-None-Match: *`,
 *   a file:// cache's `mkdir`) implements ClaimStore and the rest is the same.
 * - **The holder** writes `claims/H/holder`: a line `host=… boot=… pid=… time=… seq=…` (its
 *   hostname, kernel boot id, process id, the time, a counter). While its upload of the path is
 *   under way it writes it again every quarter of the stale bound with the counter raised: the
 *   lease. Once the narinfo is up — or the upload failed — it removes the claim (DELETE of the
 *   collection).
 * - **The others** upload the paths they could claim, and wait for the claimed ones: each
 *   waiter polls the narinfo (HEAD), backing off from 200 ms to a quarter of the stale bound,
 *   and reads the holder file each time. A path is in the cache only when its narinfo is: a
 *   claim never makes it look present, and a path whose reference is claimed by another host
 *   gets its narinfo only once that reference's narinfo is in the cache.
 * - **Stale**: a waiter that has seen the holder file unchanged (or absent) for the stale
 *   bound, by its own clock (no clocks of two hosts are compared), takes the claim over:
 *   it reads the holder once more, and if it is still what it saw, DELETEs the collection
 *   and MKCOLs it again; that MKCOL decides who wins. Two waiters that both see it stale may
 *   both DELETE; the second DELETE can remove the first's fresh claim, and both then upload:
 *   the same bytes twice, never a narinfo before its NAR. A holder killed (-9, power loss)
 *   costs the others at most the stale bound.
 * - **Leftover claims** (a holder killed, its claim never taken over because no other host
 *   needed the path) are claims like any other: the next host that needs the path finds it
 *   stale and takes it over.
 * - **A cache without the primitive** (MKCOL refused: 405, 403, 501; or 409, as nginx answers
 *   where the parent cannot be made; or a DELETE refused, so a claim could never go) is found
 *   by a probe of a fresh collection `claims/probe-<pid>-<random>/` at the start of each
 *   upload (MKCOL, then DELETE): then there is no coordination, one debug line, and the upload
 *   goes on as it would alone.
 */
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { type RetryOptions, withRetry } from "../runtime/retry.js";
import type { HttpClient } from "./http.js";

/** A claim's holder line is short: anything larger is not one. */
const HOLDER_MAX = 4096;
/** The first back-off of a waiter's poll. */
const FIRST_POLL_MS = 200;

/** The atomic create-if-absent of one kind of cache, and the few reads and writes around it. */
export interface ClaimStore {
  /** Whether the cache has the primitive (a probe, once per upload). */
  supported(signal: AbortSignal): Promise<boolean>;
  /** Create the claim if it is absent: true when this call created it. */
  create(hash: string, signal: AbortSignal): Promise<boolean>;
  writeHolder(hash: string, text: string, signal?: AbortSignal): Promise<void>;
  /** The holder file's text; undefined when there is none. */
  readHolder(hash: string, signal: AbortSignal): Promise<string | undefined>;
  /** Remove the claim (whatever it holds); no error when it is gone already. */
  remove(hash: string, signal?: AbortSignal): Promise<void>;
  /** Whether the path's narinfo is in the cache. */
  present(hash: string, signal: AbortSignal): Promise<boolean>;
}

/** What a claim attempt found. */
export type ClaimAnswer = "mine" | "held" | "present";

/**
 * `staleMs`: a holder whose file has not changed for this long is taken over (twice the cache's
 * timeoutSeconds: a minute by default). The lease is renewed every quarter of it.
 */
export interface FleetOptions {
  staleMs: number;
  /** A sentence for the debug log. */
  onDebug?: (message: string) => void;
}

/** One upload's claims on one cache. */
export class Fleet {
  private readonly renewing = new Map<string, { timer: NodeJS.Timeout; seq: number }>();

  private constructor(
    private readonly store: ClaimStore,
    private readonly options: FleetOptions,
    private readonly holder: string,
  ) {}

  /** The fleet of an upload, or undefined where the cache has no atomic create (one debug line). */
  static async open(store: ClaimStore, options: FleetOptions, signal: AbortSignal): Promise<Fleet | undefined> {
    if (!(await store.supported(signal))) return undefined;
    return new Fleet(store, options, await holderIdentity());
  }

  /** Claim a path: "mine" (upload it, then release), "held" by another host, or "present" already. */
  async claim(hash: string, signal: AbortSignal): Promise<ClaimAnswer> {
    if (!(await this.store.create(hash, signal))) return "held";
    const entry = { timer: setInterval(() => this.renew(hash), this.renewMs()), seq: 0 };
    entry.timer.unref();
    this.renewing.set(hash, entry);
    try {
      await this.store.writeHolder(hash, this.holderLine(0), signal);
      // Its holder may have finished and removed its claim since this host asked.
      if (await this.store.present(hash, signal)) {
        await this.release(hash);
        return "present";
      }
    } catch (error) {
      await this.release(hash);
      throw error;
    }
    return "mine";
  }

  /** The upload of a claimed path ended (its narinfo is up, or it failed): the lease ends, the claim goes. */
  async release(hash: string): Promise<void> {
    const entry = this.renewing.get(hash);
    if (!entry) return;
    clearInterval(entry.timer);
    this.renewing.delete(hash);
    await this.store
      .remove(hash)
      .catch((error: unknown) =>
        this.options.onDebug?.(`could not remove the claim on ${hash}: ${String(error)}; it goes stale`),
      );
  }

  /**
   * Wait for a path another host holds: until its narinfo is in the cache, or its claim goes
   * stale or away and this host gets it: then `upload` it here (and release the claim).
   */
  async waitFor(hash: string, upload: () => Promise<void>, signal: AbortSignal): Promise<void> {
    let seen: string | undefined;
    let since = performance.now();
    let delay = FIRST_POLL_MS;
    for (;;) {
      signal.throwIfAborted();
      if (await this.store.present(hash, signal)) return;
      const now = await this.store.readHolder(hash, signal);
      let answer: ClaimAnswer | undefined;
      if (now === undefined) {
        // Removed (its holder is done, or gave up), or made but its holder not written yet.
        answer = await this.claim(hash, signal);
      }
      if (answer === undefined || answer === "held") {
        if (now !== seen) {
          seen = now;
          since = performance.now();
        } else if (performance.now() - since >= this.options.staleMs) {
          answer = await this.takeOver(hash, seen, signal);
          since = performance.now();
        }
      }
      if (answer === "present") return;
      if (answer === "mine") {
        try {
          await upload();
        } finally {
          await this.release(hash);
        }
        return;
      }
      await sleep(delay, undefined, { signal });
      delay = Math.min(2 * delay, this.renewMs());
    }
  }

  /** Stop every lease (the upload is over); claims not released go stale. */
  close(): void {
    for (const { timer } of this.renewing.values()) clearInterval(timer);
    this.renewing.clear();
  }

  private async takeOver(hash: string, seen: string | undefined, signal: AbortSignal): Promise<ClaimAnswer> {
    const again = await this.store.readHolder(hash, signal);
    if (again !== seen) return "held";
    this.options.onDebug?.(
      `the claim on ${hash} made no progress for ${Math.round(this.options.staleMs / 1000)} s (${seen?.trim() ?? "no holder written"}): taking it over`,
    );
    await this.store.remove(hash, signal);
    return this.claim(hash, signal);
  }

  private renew(hash: string): void {
    const entry = this.renewing.get(hash);
    if (!entry) return;
    entry.seq++;
    this.store
      .writeHolder(hash, this.holderLine(entry.seq))
      .catch((error: unknown) => this.options.onDebug?.(`could not renew the claim on ${hash}: ${String(error)}`));
  }

  private renewMs(): number {
    return Math.max(FIRST_POLL_MS, Math.floor(this.options.staleMs / 4));
  }

  private holderLine(seq: number): string {
    return `${this.holder} time=${new Date().toISOString()} seq=${seq}\n`;
  }
}

/** host=<hostname> boot=<kernel boot id> pid=<pid>: who holds a claim. */
async function holderIdentity(): Promise<string> {
  const boot = await readFile("/proc/sys/kernel/random/boot_id", "utf8").then(
    (text) => text.trim(),
    () => "unknown",
  );
  return `host=${hostname()} boot=${boot} pid=${process.pid}`;
}

/** The time a holder line records, in ms since the epoch; undefined if it records none. */
export function holderTime(text: string): number | undefined {
  const at = /(?:^|\s)time=(\S+)/.exec(text)?.[1];
  const ms = at === undefined ? Number.NaN : Date.parse(at);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Statuses of a MKCOL that say the cache does not take it (or cannot make the collection). */
const REFUSED = [403, 405, 409, 501];

/** Claims on a WebDAV cache (nginx with `dav_methods PUT DELETE MKCOL`): `MKCOL claims/<hash>/`. */
export class WebDavClaims implements ClaimStore {
  constructor(
    private readonly base: URL,
    private readonly http: HttpClient,
    private readonly retry: RetryOptions,
    /** Statuses that read as "no such file" here (HttpBinaryCache.notThere). */
    private readonly notThere: (url: URL) => Promise<number[]>,
  ) {}

  async supported(signal: AbortSignal): Promise<boolean> {
    await this.mkcol("claims/", [...REFUSED], signal);
    const probe = `claims/probe-${process.pid}-${Math.random().toString(36).slice(2)}/`;
    const status = await this.mkcol(probe, REFUSED, signal);
    if (status !== 201) return false;
    // A claim must go once its path is up: a cache that takes MKCOL but no DELETE keeps the probe, and no claims.
    const removed = await this.request(probe, "DELETE", [403, 404, 405, 501], signal);
    return removed >= 200 && removed < 300;
  }

  async create(hash: string, signal: AbortSignal): Promise<boolean> {
    let status = await this.mkcol(`claims/${hash}/`, [405, 409], signal);
    if (status === 409) {
      // `claims/` went (a cache cleaned): make it again, once.
      await this.mkcol("claims/", [405], signal);
      status = await this.mkcol(`claims/${hash}/`, [405], signal);
    }
    return status === 201;
  }

  async writeHolder(hash: string, text: string, signal?: AbortSignal): Promise<void> {
    const url = new URL(`claims/${hash}/holder`, this.base);
    await withRetry(
      (tries) =>
        this.http.request(url, { method: "PUT", headers: { "content-type": "text/plain" }, body: text, signal: tries }),
      { ...this.retry, ...(signal ? { signal } : {}) },
    );
  }

  async readHolder(hash: string, signal: AbortSignal): Promise<string | undefined> {
    const url = new URL(`claims/${hash}/holder`, this.base);
    const accept = await this.notThere(url);
    const answer = await withRetry(
      (tries) => this.http.request(url, { method: "GET", accept, signal: tries, maxBodyBytes: HOLDER_MAX }),
      { ...this.retry, signal },
    );
    return accept.includes(answer.status) ? undefined : answer.body.toString("utf8");
  }

  async remove(hash: string, signal?: AbortSignal): Promise<void> {
    await this.request(`claims/${hash}/`, "DELETE", [404, 409], signal);
  }

  async present(hash: string, signal: AbortSignal): Promise<boolean> {
    const url = new URL(`${hash}.narinfo`, this.base);
    const accept = await this.notThere(url);
    const answer = await withRetry((tries) => this.http.request(url, { method: "HEAD", accept, signal: tries }), {
      ...this.retry,
      signal,
    });
    return !accept.includes(answer.status);
  }

  private mkcol(name: string, accept: number[], signal: AbortSignal): Promise<number> {
    return this.request(name, "MKCOL", accept, signal);
  }

  private async request(name: string, method: string, accept: number[], signal?: AbortSignal): Promise<number> {
    const url = new URL(name, this.base);
    const answer = await withRetry((tries) => this.http.request(url, { method, accept, signal: tries }), {
      ...this.retry,
      ...(signal ? { signal } : {}),
    });
    return answer.status;
  }
}
