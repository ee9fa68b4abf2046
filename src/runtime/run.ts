/**
 * src/runtime/: what every command runs on: the run's bounds and signals
 * (here, bounds.ts), errors and exit codes (errors.ts), logging (log.ts),
 * retries (retry.ts), secret scrubbing (secrets.ts), a child's output
 * (process-output.ts), how sizes and times are written (format.ts), who may change
 * the files genpush uses (trust.ts), finding the programs it runs
 * (executable.ts), reading a file someone else names (bounded-read.ts), and
 * genpush's cache directory (cache-dir.ts) with Node's compile cache in it (compile-cache.ts).
 *
 * The bounds of one genpush run, as one abort signal every command passes
 * down: it aborts when the run's time is up (RUN_LIMIT_MS), when systemd or a
 * user stops it (SIGTERM, SIGINT: a second one exits at once), and when the
 * run would otherwise end with work still waiting on something that can no
 * longer happen (Node would exit 13 with nothing printed and nothing
 * recorded). Either way the work under way ends as a failure that is reported
 * and recorded, and the generation stays pending.
 */
import { RUN_LIMIT_MS } from "./bounds.js";
import { GenpushError } from "./errors.js";

export interface Run {
  signal: AbortSignal;
  /** The exit code a stop by signal asks for (128 + its number), if one came. */
  stoppedExitCode(): number | undefined;
  /** The command is done: no more watching. */
  finish(): void;
}

const SIGNALS = { SIGINT: 2, SIGTERM: 15 } as const;

/**
 * `onStall` is told when the run is left waiting a second time, after its
 * signal aborted: the work ignored it, so the caller reports and exits.
 */
export function startRun(onStall: (error: GenpushError) => void, limitMs = RUN_LIMIT_MS): Run {
  const controller = new AbortController();
  let stoppedBy: keyof typeof SIGNALS | undefined;
  const hours = limitMs / 3_600_000;
  const limit = setTimeout(() => {
    controller.abort(
      new GenpushError(`genpush stopped this run at its limit of ${hours} hours`, {
        hint: "what was pushed stays pushed; the next run goes on from there",
      }),
    );
  }, limitMs);
  // The limit alone must not keep a finished run alive.
  limit.unref();
  const onSignal = (name: keyof typeof SIGNALS) => () => {
    if (stoppedBy) process.exit(128 + SIGNALS[stoppedBy]);
    stoppedBy = name;
    controller.abort(new GenpushError(`stopped by ${name}`, { hint: "the work stays pending for the next run" }));
  };
  const handlers = { SIGINT: onSignal("SIGINT"), SIGTERM: onSignal("SIGTERM") };
  for (const name of Object.keys(handlers) as (keyof typeof SIGNALS)[]) process.on(name, handlers[name]);
  // Nothing left to run but the command not done: a promise nobody will settle. Say so, and end
  // the work as a failure instead of Node's silent exit 13.
  const stalled = new GenpushError(
    "internal error: genpush was left waiting for something that cannot happen any more",
    {
      hint: "this is a bug in genpush; please report it with the output of the same command run with -v",
    },
  );
  const onBeforeExit = () => {
    if (controller.signal.aborted) {
      process.off("beforeExit", onBeforeExit);
      onStall(stalled);
    } else {
      controller.abort(stalled);
      // One more turn of the loop, so that this is asked again even if the abort woke nothing.
      setImmediate(() => {});
    }
  };
  process.on("beforeExit", onBeforeExit);
  return {
    signal: controller.signal,
    stoppedExitCode: () => (stoppedBy ? 128 + SIGNALS[stoppedBy] : undefined),
    finish() {
      clearTimeout(limit);
      process.off("beforeExit", onBeforeExit);
      for (const name of Object.keys(handlers) as (keyof typeof SIGNALS)[]) process.off(name, handlers[name]);
    },
  };
}
