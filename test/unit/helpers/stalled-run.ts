// A command that waits on a promise nobody will settle, under startRun (src/runtime/run.ts): what the
// run's guard makes of it. `ignore`: the work does not even listen to the run's signal.
import { startRun } from "../../../src/runtime/run.js";

const run = startRun((error) => {
  process.stdout.write(`stalled: ${error.message}\n`);
  process.exitCode = 1;
});
const mode = process.argv[2];
await new Promise<void>((_, reject) => {
  if (mode !== "ignore") run.signal.addEventListener("abort", () => reject(run.signal.reason));
}).catch((error: Error) => {
  process.stdout.write(`aborted: ${error.message}\n`);
  process.exitCode = 1;
});
run.finish();
