/**
 * `genpush config check`: validate the configuration and print it resolved,
 * every default filled in. Secrets appear only as the paths of their files.
 */
import { stringify } from "yaml";
import { ExitCode } from "../errors.js";
import { closeContext, type GlobalOptions, openContext, printJson } from "./context.js";

export async function configCheckCommand(
  globals: GlobalOptions,
  options: { json: boolean; secrets: boolean },
): Promise<ExitCode> {
  const ctx = await openContext(globals, { secrets: options.secrets });
  try {
    const { file, warnings, ...resolved } = ctx.config;
    if (options.json) printJson({ file, config: resolved, warnings });
    else process.stdout.write(`# ${file}: valid; resolved with defaults:\n${stringify(resolved)}`);
    return ExitCode.ok;
  } finally {
    await closeContext(ctx);
  }
}
