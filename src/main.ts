/**
 * The command line, loaded by cli.ts: commander wiring only: parse, call a command, map errors
 * to exit codes (0 done, 1 a push or query failed, 2 bad usage or configuration).
 */
import { CommanderError } from "commander";
import { makeLogger } from "./commands/context.js";
import { program } from "./program.js";
import { ExitCode, GenpushError } from "./runtime/errors.js";
import { startRun } from "./runtime/run.js";
import { scrubSecrets } from "./runtime/secrets.js";

// A reader that went away (`genpush status | head -1`) wants no more of the output: the rest is
// dropped, and the command runs to its end as it would have (a push still records what it
// uploaded) and exits with the code it would have had, with no stack trace. Any other failure
// to write stays what it was: an error that ends the run.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
  });
}

let exitCode: ExitCode = ExitCode.ok;
function exit(code: ExitCode): void {
  exitCode = code;
}

async function main(argv: string[]): Promise<number> {
  const run = startRun((error) => {
    const { log } = makeLogger({ logFormat: cli.opts().logFormat ?? "auto", verbose: cli.opts().verbose ?? false });
    log.error({ hint: error.hint }, error.message);
    process.exitCode = ExitCode.failed;
  });
  const cli = program(run.signal, exit);
  try {
    await cli.parseAsync(argv);
    return run.stoppedExitCode() ?? exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version end with exit code 0; anything else is bad usage.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    const { log } = makeLogger({ logFormat: cli.opts().logFormat ?? "auto", verbose: cli.opts().verbose ?? false });
    if (error instanceof GenpushError) {
      log.error({ hint: error.hint }, error.message);
      return error.exitCode;
    }
    log.error(
      { hint: "this is a bug in genpush; please report it with the output of the same command run with -v" },
      `internal error: ${error instanceof Error ? error.message : String(error)}`,
    );
    if (cli.opts().verbose && error instanceof Error) process.stderr.write(`${scrubSecrets(error.stack ?? "")}\n`);
    return ExitCode.failed;
  } finally {
    run.finish();
  }
}

process.exitCode = await main(process.argv);
