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
 *   a file:// cache's `mkdir`: FileClaims) implements ClaimStore and the rest is the same.
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
 * - **Stale, and the take-over**: a waiter that has seen the holder file unchanged (or absent)
 *   for the stale bound, by its own clock (no clocks of two hosts are compared), takes the
 *   claim over by creating the claim's *next generation*: `claims/H.1/` over `claims/H/`,
 *   `claims/H.2/` over `claims/H.1/`, and so on (claimName). No waiter ever deletes a claim:
 *   the create of generation g+1 answers 201 to exactly one of the waiters that found
 *   generation g stale at once, and the others watch g+1 from then on. (The earlier scheme,
 *   DELETE then MKCOL of the same name, let a second waiter's DELETE remove the first's fresh
 *   claim, and both uploaded: 1.7x with a holder killed among ten hosts.) Each poll also reads
 *   the holder of g+1, so a waiter that arrives late climbs to the live generation in a poll
 *   per generation. A generation's holder removes its own collection when its upload ends; a
 *   holder of g > 0 also removes the stale generations below it, but only once the narinfo is
 *   up: removed earlier, generation 0 would be free for a newcomer while g uploads. A
 *   generation removed by its holder after a failed upload is made again by a waiter (the
 *   create decides, as for generation 0). A holder killed (-9, power loss) costs the others
 *   at most the stale bound (and a renewal's period), and its partial upload is the only
 *   bytes sent twice. Only a holder that is slow but alive (its lease's PUTs not reaching the
 *   cache for the whole stale bound) can still be uploading when its generation is taken
 *   over: the same bytes twice, never a narinfo before its NAR.
 * - **A holder that keeps its lease but never finishes** (its renewals reach the cache, its
 *   upload hangs) is taken over too, as a stale claim (its next generation), once a waiter has
 *   watched that generation for holdBoundMs: what the holder's own upload of the path may take
 *   at most (its NAR's upload with retries and the time its bytes may take, then its
 *   narinfo's with retries) plus the stale bound. The waiter then uploads the path itself, so
 *   a wait ends by that bound, never by a narinfo that is not there; a holder that is only
 *   slow (its path queued behind its other uploads, a `nix copy` wave of many paths) costs the
 *   same bytes twice.
 * - **A create whose answer was lost**: a MKCOL that nginx carried out but whose 201 never
 *   reached this host (a connection reset, a proxy's 502 or 504) is retried, and the retry
 *   finds the claim there (405). The HTTP client never sends a MKCOL again by itself, so only
 *   the retry does, and the create says "unsure": an earlier try failed. If no holder file is
 *   in the claim, it is taken as this host's own — its holder written, the path uploaded —
 *   rather than waited a stale bound for. Should another host have made it in that moment,
 *   before writing its holder, both upload the path: bytes twice, never a narinfo before its
 *   NAR (each host puts a narinfo only after its own NAR and its references' narinfos).
 * - **Leftover claims** (a holder killed, its claim never taken over because no other host
 *   needed the path) are claims like any other: the next host that needs the path finds it
 *   stale and takes it over (its next generation).
 * - **A cache without the primitive** (MKCOL refused: 405, 403, 501; or 409, as nginx answers
 *   where the parent cannot be made; or a DELETE refused, so a claim could never go) is found
 *   by a probe of a fresh collection `claims/probe-<pid>-<random>/` at the start of each
 *   upload (MKCOL, then DELETE): then there is no coordination, one debug line, and the upload
 *   goes on as it would alone.
 */
import { access, mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { uploadAllowanceMs } from "../runtime/bounds.js";
import { type RetryOptions, retryPolicy, withRetry } from "../runtime/retry.js";
import type { HttpClient } from "./http.js";

/** A claim's holder line is short: anything larger is not one. */
const HOLDER_MAX = 4096;
/** The index of `claims/` verify reads: some 40 000 claims at most. */
const LISTING_MAX = 8 * 1024 * 1024;
/** The first back-off of a waiter's poll. */
const FIRST_POLL_MS = 200;
/** How long a stopped run tries to remove a claim before it leaves it to go stale. */
const RELEASE_ON_STOP_MS = 2000;

/** The atomic create-if-absent of one kind of cache, and the few reads and writes around it. */
export interface ClaimStore {
  /** Whether the cache has the primitive (a probe, once per upload). */
  supported(signal: AbortSignal): Promise<boolean>;
  /** Create the claim named `claim` (claimName) if it is absent: what the create found (Created). */
  create(claim: string, signal: AbortSignal): Promise<Created>;
  writeHolder(claim: string, text: string, signal?: AbortSignal): Promise<void>;
  /** The holder file's text; undefined when there is none. */
  readHolder(claim: string, signal: AbortSignal): Promise<string | undefined>;
  /** Remove the claim (whatever it holds); no error when it is gone already. */
  remove(claim: string, signal?: AbortSignal): Promise<void>;
  /** Whether the path's narinfo is in the cache. */
  present(hash: string, signal: AbortSignal): Promise<boolean>;
}

/** A claim found in a cache's `claims/`: its name, its holder line if it has one, and when it was last held (ms since the epoch). */
export interface ListedClaim {
  claim: string;
  holder?: string;
  at: number;
}

/**
 * The claims a cache holds, for `verify`; undefined where the cache gives no listing of
 * `claims/` (an HTTP cache without an index of it: see docs/fleet.md).
 */
export interface ClaimListing {
  list(signal: AbortSignal): Promise<ListedClaim[] | undefined>;
}

/** A listed claim's time: its holder's `time=`, else the listing's own time of it. */
function listed(claim: string, holder: string | undefined, fallback: number): ListedClaim {
  return {
    claim,
    ...(holder !== undefined ? { holder: holder.trim() } : {}),
    at: (holder && holderTime(holder)) || fallback,
  };
}

/**
 * What a create of a claim found: "created" by this call; "exists", made by someone else before;
 * "unsure": it exists, but an earlier try of this same create failed (its answer lost: a reset
 * connection, a proxy's 502 or 504), so that try may have made it — this host's own claim.
 */
export type Created = "created" | "exists" | "unsure";

/** What a claim attempt found. */
export type ClaimAnswer = "mine" | "held" | "present";

/**
 * `timeoutMs`: the cache's request bound (timeoutSeconds). A holder whose file has not changed
 * for twice it (staleBoundMs: a minute by default) is taken over; the lease is renewed every
 * quarter of that. A holder that renews its lease but has not finished within holdBoundMs is
 * taken over too.
 */
export interface FleetOptions {
  timeoutMs: number;
  /** A sentence for the debug log. */
  onDebug?: (message: string) => void;
}

/** The stale bound: twice the cache's request bound. */
export function staleBoundMs(timeoutMs: number): number {
  return 2 * timeoutMs;
}

/**
 * How long a waiter waits for one generation of a claim whose holder keeps its lease: what the
 * holder's own upload of the path may take at most — its NAR's upload with its retries
 * (retryPolicy's totalMs) and the time its bytes may take (uploadAllowanceMs), then its
 * narinfo's with its retries — plus the stale bound, for the holder's last renewal to be seen.
 * Past it the waiter takes the claim over as a stale one (its next generation) and uploads the
 * path itself. With timeoutSeconds 30: 5 minutes, plus 16 s per MiB of NAR.
 */
export function holdBoundMs(timeoutMs: number, narBytes: number): number {
  return 2 * retryPolicy(timeoutMs).totalMs + uploadAllowanceMs(narBytes) + staleBoundMs(timeoutMs);
}

/** The name of a claim's collection under `claims/`: generation 0 is `<hash>`, generation g is `<hash>.<g>`. */
export function claimName(hash: string, generation: number): string {
  return generation === 0 ? hash : `${hash}.${generation}`;
}

/**
 * A waiter's judgement of the claim it watches, pure: `seen` is the holder text it saw last and
 * `since` when (its own clock), `now` the holder text read at `at`. The claim is stale once the
 * same text (or none) has been seen for `staleMs`.
 */
export function judge(
  watch: { seen: string | undefined; since: number },
  now: string | undefined,
  at: number,
  staleMs: number,
): { seen: string | undefined; since: number; stale: boolean } {
  if (now !== watch.seen) return { seen: now, since: at, stale: false };
  return { ...watch, stale: at - watch.since >= staleMs };
}

/** The waiter's next pause: doubled from FIRST_POLL_MS, at most a quarter of the stale bound. */
export function nextPoll(delay: number, staleMs: number): number {
  return Math.min(2 * delay, renewMs(staleMs));
}

/** The lease's period: a quarter of the stale bound (at least FIRST_POLL_MS). */
export function renewMs(staleMs: number): number {
  return Math.max(FIRST_POLL_MS, Math.floor(staleMs / 4));
}

/** One upload's claims on one cache. */
export class Fleet {
  private readonly renewing = new Map<
    string,
    { timer: NodeJS.Timeout; seq: number; generation: number; writing: Promise<void> }
  >();
  private readonly staleMs: number;

  private constructor(
    private readonly store: ClaimStore,
    private readonly options: FleetOptions,
    private readonly holder: string,
    /** The upload's: once it is stopped, claims are let go at once (they go stale if that fails). */
    private readonly stopped: AbortSignal,
  ) {
    this.staleMs = staleBoundMs(options.timeoutMs);
  }

  /** The fleet of an upload, or undefined where the cache has no atomic create (one debug line). */
  static async open(store: ClaimStore, options: FleetOptions, signal: AbortSignal): Promise<Fleet | undefined> {
    if (!(await store.supported(signal))) return undefined;
    return new Fleet(store, options, await holderIdentity(), signal);
  }

  /** Claim a path: "mine" (upload it, then release), "held" by another host, or "present" already. */
  claim(hash: string, signal: AbortSignal): Promise<ClaimAnswer> {
    return this.claimAt(hash, 0, signal);
  }

  /**
   * The upload of a claimed path ended (its narinfo is up, or it failed): the lease ends, its
   * generation goes. A claim taken over (generation > 0) also removes the stale generations
   * below it once the narinfo is up — not before: a host that then found generation 0 free
   * would claim the path while this one uploads it.
   */
  async release(hash: string): Promise<void> {
    const entry = this.renewing.get(hash);
    if (!entry) return;
    clearInterval(entry.timer);
    this.renewing.delete(hash);
    // A stopped run lets go with one short try: a stop ends in seconds, and a claim left goes stale.
    const stopped = this.stopped.aborted;
    const bound = stopped ? AbortSignal.timeout(RELEASE_ON_STOP_MS) : undefined;
    // A renewal still on its way would make the claim again after its removal (a PUT makes its path).
    await Promise.race([
      entry.writing,
      ...(bound ? [new Promise((resolve) => bound.addEventListener("abort", resolve))] : []),
    ]);
    const remove = async (generation: number) =>
      this.store
        .remove(claimName(hash, generation), bound)
        .catch((error: unknown) =>
          this.options.onDebug?.(
            `could not remove the claim ${claimName(hash, generation)}: ${String(error)}; it goes stale`,
          ),
        );
    await remove(entry.generation);
    if (entry.generation === 0 || stopped) return;
    const up = await this.store.present(hash, AbortSignal.timeout(this.staleMs)).catch(() => false);
    if (!up) return;
    for (let generation = entry.generation - 1; generation >= 0; generation--) await remove(generation);
  }

  /**
   * Wait for a path of `narBytes` another host holds: until its narinfo is in the cache, or its
   * claim goes stale or away, or its holder has held it past holdBoundMs, and this host gets it:
   * then `upload` it here (and release the claim).
   */
  async waitFor(hash: string, narBytes: number, upload: () => Promise<void>, signal: AbortSignal): Promise<void> {
    const holdMs = holdBoundMs(this.options.timeoutMs, narBytes);
    let generation = 0;
    let watch: { seen: string | undefined; since: number } = { seen: undefined, since: performance.now() };
    /** Since when this host has watched the current generation (its own clock). */
    let watched = performance.now();
    let delay = FIRST_POLL_MS;
    for (;;) {
      signal.throwIfAborted();
      if (await this.store.present(hash, signal)) return;
      // Taken over already: watch the newer generation.
      const newer = await this.store.readHolder(claimName(hash, generation + 1), signal);
      if (newer !== undefined) {
        generation++;
        watch = { seen: newer, since: performance.now() };
        watched = performance.now();
        continue;
      }
      const now = await this.store.readHolder(claimName(hash, generation), signal);
      let answer: ClaimAnswer | undefined;
      // Removed (its holder is done, or gave up), or made but its holder not written yet: the create decides.
      if (now === undefined) answer = await this.claimAt(hash, generation, signal);
      if (answer === undefined || answer === "held") {
        const at = performance.now();
        const judged = judge(watch, now, at, this.staleMs);
        watch = { seen: judged.seen, since: judged.since };
        // A holder that keeps its lease but never finishes is taken over as well, once it held the path for holdMs.
        const overdue = at - watched >= holdMs;
        if (judged.stale || overdue) {
          this.options.onDebug?.(
            judged.stale
              ? `the claim ${claimName(hash, generation)} made no progress for ${Math.round(this.staleMs / 1000)} s (${now?.trim() ?? "no holder written"}): taking it over`
              : `the claim ${claimName(hash, generation)} was held for ${Math.round(holdMs / 1000)} s, longer than its holder's upload may take (${now?.trim()}): taking it over`,
          );
          // The next generation's create decides who takes it over: one host, and no DELETE of anyone's claim.
          answer = await this.claimAt(hash, generation + 1, signal);
          if (answer === "held") {
            generation++;
            watch = { seen: undefined, since: performance.now() };
            watched = performance.now();
          }
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
      delay = nextPoll(delay, this.staleMs);
    }
  }

  /** Stop every lease (the upload is over); claims not released go stale. */
  close(): void {
    for (const { timer } of this.renewing.values()) clearInterval(timer);
    this.renewing.clear();
  }

  private async claimAt(hash: string, generation: number, signal: AbortSignal): Promise<ClaimAnswer> {
    const name = claimName(hash, generation);
    const created = await this.store.create(name, signal);
    if (created === "exists") return "held";
    if (created === "unsure") {
      // Most likely this host's own create, its answer lost: taken as made here unless a holder is written.
      if ((await this.store.readHolder(name, signal)) !== undefined) return "held";
      this.options.onDebug?.(
        `the claim ${name} was there when a retry of its create asked, with no holder written: taken as made by this host's earlier try, whose answer was lost`,
      );
    }
    const entry = {
      timer: setInterval(() => this.renew(hash), renewMs(this.staleMs)),
      seq: 0,
      generation,
      writing: Promise.resolve(),
    };
    entry.timer.unref();
    this.renewing.set(hash, entry);
    try {
      await this.store.writeHolder(name, this.holderLine(0), signal);
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

  private renew(hash: string): void {
    const entry = this.renewing.get(hash);
    if (!entry) return;
    entry.seq++;
    entry.writing = this.store
      .writeHolder(claimName(hash, entry.generation), this.holderLine(entry.seq), this.stopped)
      .catch((error: unknown) => this.options.onDebug?.(`could not renew the claim on ${hash}: ${String(error)}`));
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

/**
 * What the probe takes for "no claims here" rather than a failure: any answer but a success
 * and a refused login (401, 407: the push says so itself). A server that answers an unknown
 * method with 400, 404 or 500 is pushed to as before, without claims.
 */
const NOT_CLAIMS = Array.from({ length: 300 }, (_, i) => 300 + i).filter((status) => status !== 401 && status !== 407);

/** Claims on a WebDAV cache (nginx with `dav_methods PUT DELETE MKCOL`): `MKCOL claims/<hash>/`. */
export class WebDavClaims implements ClaimStore, ClaimListing {
  constructor(
    private readonly base: URL,
    private readonly http: HttpClient,
    private readonly retry: RetryOptions,
    /** Statuses that read as "no such file" here (HttpBinaryCache.notThere). */
    private readonly notThere: (url: URL) => Promise<number[]>,
  ) {}

  async supported(signal: AbortSignal): Promise<boolean> {
    await this.mkcol("claims/", NOT_CLAIMS, signal);
    const probe = `claims/probe-${process.pid}-${Math.random().toString(36).slice(2)}/`;
    const { status } = await this.mkcol(probe, NOT_CLAIMS, signal);
    if (status !== 201) return false;
    // A claim must go once its path is up: a cache that takes MKCOL but no DELETE keeps the probe, and no claims.
    const removed = (await this.request(probe, "DELETE", NOT_CLAIMS, signal)).status;
    return removed >= 200 && removed < 300;
  }

  /**
   * MKCOL of the claim: 201 made it, 405 found it there. A 405 after a failed try is "unsure":
   * the failed MKCOL may have reached nginx, which made the collection, its 201 lost on the way.
   */
  async create(claim: string, signal: AbortSignal): Promise<Created> {
    let answer = await this.mkcol(`claims/${claim}/`, [405, 409], signal);
    if (answer.status === 409) {
      // `claims/` went (a cache cleaned): make it again, once.
      await this.mkcol("claims/", [405], signal);
      answer = await this.mkcol(`claims/${claim}/`, [405], signal);
    }
    if (answer.status === 201) return "created";
    return answer.tries > 1 ? "unsure" : "exists";
  }

  async writeHolder(claim: string, text: string, signal?: AbortSignal): Promise<void> {
    const url = new URL(`claims/${claim}/holder`, this.base);
    await withRetry(
      (tries) =>
        this.http.request(url, { method: "PUT", headers: { "content-type": "text/plain" }, body: text, signal: tries }),
      { ...this.retry, ...(signal ? { signal } : {}) },
    );
  }

  async readHolder(claim: string, signal: AbortSignal): Promise<string | undefined> {
    const url = new URL(`claims/${claim}/holder`, this.base);
    const accept = await this.notThere(url);
    const answer = await withRetry(
      (tries) => this.http.request(url, { method: "GET", accept, signal: tries, maxBodyBytes: HOLDER_MAX }),
      { ...this.retry, signal },
    );
    return accept.includes(answer.status) ? undefined : answer.body.toString("utf8");
  }

  async remove(claim: string, signal?: AbortSignal): Promise<void> {
    await this.request(`claims/${claim}/`, "DELETE", [404, 409], signal);
  }

  /**
   * `claims/` as an nginx JSON index lists it (`autoindex on; autoindex_format json;`): an
   * array of `{name, type, mtime}`. No `claims/` at all: none. Anything else (403: no index,
   * an HTML index, another shape): undefined, no listing.
   */
  async list(signal: AbortSignal): Promise<ListedClaim[] | undefined> {
    const url = new URL("claims/", this.base);
    const accept = [...new Set([...(await this.notThere(url)), 401, 403, 404, 405])];
    const answer = await withRetry(
      (tries) =>
        this.http.request(url, {
          method: "GET",
          accept,
          headers: { accept: "application/json" },
          signal: tries,
          maxBodyBytes: LISTING_MAX,
        }),
      { ...this.retry, signal },
    );
    if (answer.status === 404) return [];
    if (answer.status !== 200) return undefined;
    let entries: unknown;
    try {
      entries = JSON.parse(answer.body.toString("utf8"));
    } catch {
      return undefined;
    }
    if (!Array.isArray(entries)) return undefined;
    const claims: ListedClaim[] = [];
    for (const entry of entries as { name?: unknown; type?: unknown; mtime?: unknown }[]) {
      if (entry?.type !== "directory" || typeof entry.name !== "string" || !/^[\w.-]+$/.test(entry.name)) continue;
      const mtime = typeof entry.mtime === "string" ? Date.parse(entry.mtime) : Number.NaN;
      claims.push(listed(entry.name, await this.readHolder(entry.name, signal), Number.isNaN(mtime) ? 0 : mtime));
    }
    return claims;
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

  private mkcol(name: string, accept: number[], signal: AbortSignal): Promise<{ status: number; tries: number }> {
    return this.request(name, "MKCOL", accept, signal);
  }

  /** The status of the answer, and the tries it took (more than one: an earlier try failed). */
  private async request(
    name: string,
    method: string,
    accept: number[],
    signal?: AbortSignal,
  ): Promise<{ status: number; tries: number }> {
    const url = new URL(name, this.base);
    let tries = 0;
    const answer = await withRetry(
      (attempt) => {
        tries++;
        return this.http.request(url, { method, accept, signal: attempt });
      },
      { ...this.retry, ...(signal ? { signal } : {}) },
    );
    return { status: answer.status, tries };
  }
}

/** The code of a failed file system call ("ENOENT", …). */
function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Claims on a file:// cache: the claim is the directory `claims/<hash>/` in the cache's
 * directory, made with `mkdir`, which fails with EEXIST for every host but the first (on a
 * local file system and on NFS alike). The holder file is written whole (a file beside it,
 * renamed over it), so a reader never sees half a line.
 */
export class FileClaims implements ClaimStore, ClaimListing {
  constructor(private readonly dir: string) {}

  async supported(): Promise<boolean> {
    try {
      await mkdir(join(this.dir, "claims"), { recursive: true });
      const probe = join(this.dir, "claims", `probe-${process.pid}-${Math.random().toString(36).slice(2)}`);
      await mkdir(probe);
      await rmdir(probe);
      return true;
    } catch {
      // A cache directory this host may not write to (read-only, another owner): no claims.
      return false;
    }
  }

  async create(claim: string): Promise<Created> {
    const at = join(this.dir, "claims", claim);
    try {
      await mkdir(at);
      return "created";
    } catch (error) {
      if (errno(error) === "EEXIST") return "exists";
      if (errno(error) !== "ENOENT") throw error;
    }
    // `claims/` went (a cache cleaned): make it again, once.
    await mkdir(join(this.dir, "claims"), { recursive: true });
    try {
      await mkdir(at);
      return "created";
    } catch (error) {
      if (errno(error) === "EEXIST") return "exists";
      throw error;
    }
  }

  async writeHolder(claim: string, text: string): Promise<void> {
    const holder = join(this.dir, "claims", claim, "holder");
    const part = `${holder}.${process.pid}`;
    await writeFile(part, text);
    await rename(part, holder);
  }

  async readHolder(claim: string): Promise<string | undefined> {
    try {
      const text = await readFile(join(this.dir, "claims", claim, "holder"), "utf8");
      return text.slice(0, HOLDER_MAX);
    } catch (error) {
      if (errno(error) === "ENOENT" || errno(error) === "ENOTDIR") return undefined;
      throw error;
    }
  }

  async remove(claim: string): Promise<void> {
    await rm(join(this.dir, "claims", claim), { recursive: true, force: true });
  }

  /** The directories in `claims/` (none when there is no `claims/`). */
  async list(): Promise<ListedClaim[]> {
    let names: string[];
    try {
      names = await readdir(join(this.dir, "claims"));
    } catch (error) {
      if (errno(error) === "ENOENT") return [];
      throw error;
    }
    const claims: ListedClaim[] = [];
    for (const name of names) {
      const at = await stat(join(this.dir, "claims", name)).catch(() => undefined);
      if (!at?.isDirectory()) continue;
      claims.push(listed(name, await this.readHolder(name), at.mtimeMs));
    }
    return claims;
  }

  async present(hash: string): Promise<boolean> {
    try {
      await access(join(this.dir, `${hash}.narinfo`));
      return true;
    } catch {
      return false;
    }
  }
}
