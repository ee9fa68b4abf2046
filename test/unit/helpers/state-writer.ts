// Writes state for one profile in a loop until killed: used by state.test.ts
// to kill a real writer at arbitrary moments.
import { writeState } from "../../../src/state/state.js";

const [stateDir] = process.argv.slice(2);
if (!stateDir) throw new Error("usage: state-writer STATE_DIR");
const path = "/nix/store/00000000000000000000000000000000-x" as never;
for (let n = 1; ; n++) {
  const caches: Record<string, unknown> = {};
  // Large enough that a write spans several syscalls.
  for (let i = 0; i < 200; i++) {
    caches[`cache-${i}`] = {
      lastPushed: {
        generation: n,
        storePath: path,
        at: "2026-01-01T00:00:00Z",
        counts: { closure: n, uploaded: 0, narBytes: 0 },
      },
      lastResult: null,
    };
  }
  await writeState(stateDir, { version: 1, profile: "p", caches: caches as never });
  if (n === 1) process.stdout.write("ready\n");
}
