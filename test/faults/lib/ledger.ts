// The books of the fault-injection suite. Each scenario keeps a Ledger: the faults it injected,
// every generation it switched to, and the ones genpush reported pushed. At its end the ledger
// checks the cache on disk (every path of a generation's closure: its narinfo and the NAR that
// narinfo names), pulls the last generation into an empty store with its signatures checked,
// appends one line to the run's tally, and asserts that nothing was lost. The tally is a file in
// the directory test/suite.mjs makes for each run of a suite and names in GENPUSH_SUITE_DIR; once
// every scenario file has ended, the runner has test/faults/after.ts add it up.
import assert from "node:assert/strict";
import { appendFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pullIntoFreshStore } from "../../integration/harness/nix.js";

/** Every scenario file records under one of these names; the totals insist on all of them. */
export const SCENARIOS = [
  "cache-down",
  "server-errors",
  "hang",
  "kill-9",
  "gc",
  "corrupt-state",
  "lock",
  "disk-full",
  "secrets",
  "bad-input",
  "burst",
  "hostile",
  "queue-kill",
  "slow-link",
  "signals",
  "enqueue-input",
  "trust",
  "fleet",
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Tally {
  scenario: ScenarioName;
  faults: number;
  switched: number;
  /** switched generations whose whole closure is in the cache at the end */
  inCache: number;
  /** generations that had to be there: the last one, and every one genpush reported pushed */
  expected: number;
  lost: string[];
  notes: string[];
}

/** The tally's file in the directory test/suite.mjs makes for a run of the suite. */
const TALLY = "fault-tally.jsonl";

/** The lines of the run whose directory is `suiteDir`. */
export function readTally(suiteDir: string): Tally[] {
  const file = join(suiteDir, TALLY);
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Tally);
}

export interface Gen {
  storePath: string;
  closure: string[];
  /** e.g. "test generation 3" */
  label?: string;
}

/** Whether every path of `closure` is in the cache directory: its narinfo, and the NAR it names. */
export function closureInCache(cacheDir: string, closure: readonly string[]): boolean {
  return missingFromCache(cacheDir, closure).length === 0;
}

export function missingFromCache(cacheDir: string, closure: readonly string[]): string[] {
  return closure.filter((path) => {
    const hash = (path.split("/").pop() ?? "").slice(0, 32);
    const narinfo = join(cacheDir, `${hash}.narinfo`);
    if (!existsSync(narinfo)) return true;
    const url = /^URL: (.+)$/m.exec(readFileSync(narinfo, "utf8"))?.[1];
    return url === undefined || !existsSync(join(cacheDir, url));
  });
}

/**
 * Narinfos in the cache that name a reference whose narinfo is not there: what a cache must
 * never offer (a client would substitute a path whose closure it cannot get). Each as
 * "<narinfo>: lacks <reference>".
 */
export function openReferences(cacheDir: string): string[] {
  const present = new Set(readdirSync(cacheDir).filter((name) => name.endsWith(".narinfo")));
  const open: string[] = [];
  for (const name of present) {
    const refs = /^References: (.*)$/m.exec(readFileSync(join(cacheDir, name), "utf8"))?.[1]?.trim() ?? "";
    for (const ref of refs.split(" ").filter(Boolean)) {
      if (!present.has(`${ref.slice(0, 32)}.narinfo`)) open.push(`${name}: lacks ${ref}`);
    }
  }
  return open;
}

/** Where the last generation is pulled from, and the public key its signatures must verify with. */
export interface Pull {
  cacheUrl: string;
  publicKey: string | undefined;
}

/** `<name>:<base64 of a 32-byte ed25519 public key>`, as nix-store --generate-binary-cache-key writes it. */
const NIX_PUBLIC_KEY = /^[^:\s]+:[A-Za-z0-9+/]{43}=$/;

export class Ledger {
  faults = 0;
  readonly notes: string[] = [];
  private readonly switched: Gen[] = [];
  private readonly expected = new Map<string, Gen>();
  private readonly known = new Map<string, Gen>();

  constructor(readonly scenario: ScenarioName) {}

  fault(what: string, n = 1): void {
    this.faults += n;
    this.notes.push(what);
  }

  /** A switch happened (a new generation of a profile points at `gen`). */
  switchedTo(gen: Gen): void {
    this.switched.push(gen);
    this.known.set(gen.storePath, gen);
  }

  /** genpush said this store path is pushed (or already was): it must be in the cache at the end. */
  mustHold(storePath: string): void {
    const gen = this.known.get(storePath);
    assert.ok(gen, `genpush reported ${storePath} pushed, which no switch of this scenario made`);
    this.expected.set(storePath, gen);
  }

  /** The results of a `push --json` (or `verify --json`): every generation reported in a cache. */
  // biome-ignore lint/suspicious/noExplicitAny: the JSON shape of push --json
  reported(json: any): void {
    for (const r of json?.results ?? []) {
      if (r.status === "pushed" || r.status === "up-to-date") this.mustHold(r.storePath);
    }
  }

  /**
   * The end of the scenario: the last generation must be in the cache too, and is pulled from
   * it into an empty store, its signatures checked with the scenario's public key (every
   * scenario signs: a key missing or empty is an error, never a pull quietly skipped). Appends
   * the tally line and returns it (lost ones listed).
   */
  close(cacheDir: string, { cacheUrl, publicKey = "" }: Pull): Tally & { pull: string } {
    assert.match(publicKey, NIX_PUBLIC_KEY, "the scenario's public key, for the signed pull");
    const last = this.switched.at(-1);
    if (last) this.expected.set(last.storePath, last);
    const held = (gen: Gen) => closureInCache(cacheDir, gen.closure);
    const lost = [...this.expected.values()].filter((gen) => !held(gen));
    let pull = "";
    if (last && held(last)) {
      const pulled = pullIntoFreshStore(cacheUrl, last.storePath, publicKey);
      if (!pulled.ok) lost.push(last);
      pull = pulled.ok ? "" : pulled.stderr;
    }
    const tally: Tally = {
      scenario: this.scenario,
      faults: this.faults,
      switched: this.switched.length,
      inCache: this.switched.filter(held).length,
      expected: this.expected.size,
      lost: lost.map((gen) => `${gen.label ?? "generation"} ${gen.storePath}`),
      notes: this.notes,
    };
    // A scenario file run by hand, outside the suite, keeps no tally (its assertions hold all the same).
    const suiteDir = process.env.GENPUSH_SUITE_DIR;
    if (suiteDir) appendFileSync(join(suiteDir, TALLY), `${JSON.stringify(tally)}\n`);
    return { ...tally, pull };
  }

  /** close(), then assert that nothing was lost and that faults were injected at all. */
  settle(cacheDir: string, pull: Pull): Tally {
    const tally = this.close(cacheDir, pull);
    assertKept(tally);
    return tally;
  }
}

export function assertKept(tally: Tally & { pull?: string }): void {
  assert.deepEqual(tally.lost, [], `generations lost${tally.pull ? `; the pull said:\n${tally.pull}` : ""}`);
  assert.ok(tally.faults > 0, "the scenario injected no fault");
}

export function summary(t: Tally): string {
  return `${t.scenario}: faults ${t.faults}, switched ${t.switched}, in the cache ${t.inCache}, must be there ${t.expected}, lost ${t.lost.length}`;
}
