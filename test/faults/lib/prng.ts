// A small seeded PRNG (mulberry32), for random moments a failing run can be replayed with:
// the fault suite's kills (GENPUSH_FAULT_SEED) and the unit suite's killed state writer.
// No imports: the unit suite (the killed state writer, the configuration fuzzer) takes it from
// here without the fault suite's harness.

/** The same seed, the same sequence of numbers in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
