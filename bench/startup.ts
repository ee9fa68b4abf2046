/**
 * The floor under every genpush run: `node -e 0` (what any Node CLI pays) and
 * `genpush --version` (plus loading genpush's modules), measured once per run
 * beside the other scenarios, so they share the machine's load; both with the
 * environment a unit gives Node (see unitNodeEnv).
 */
import type { RunContext, Sample } from "./scenarios.js";
import { cliEntry, timed, unitNodeEnv } from "./tools.js";

export async function runStartup(ctx: RunContext, run: number): Promise<void> {
  const tools: [string, string[]][] = [
    ["node -e 0", ["-e", "0"]],
    ["genpush --version", [cliEntry(), "--version"]],
  ];
  if (run % 2) tools.reverse();
  for (const [tool, args] of tools) {
    const t = await timed(process.execPath, args, unitNodeEnv(process.env));
    const sample: Sample = {
      scenario: "start-up",
      label: "start-up, no work",
      paths: 0,
      diff: 0,
      tool,
      run,
      wallMs: Math.round(t.wallMs),
      rssKiB: t.rssKiB,
      requests: {},
      narinfoQueries: 0,
      bytesUp: 0,
      connections: 0,
      complete: true,
      exitCode: t.code,
    };
    ctx.samples.push(sample);
  }
}
