/**
 * Every build, not only switches: Nix's post-build-hook. A nix-build of `builds` small
 * derivations (each its own hook run), unique to each run so that they really build, with
 * no hook; with genpush's (`genpush enqueue`, then `genpush push --queue` drains the queue
 * on its own row); and with the hook of Nix's manual (`nix copy --to URL $OUT_PATHS`, its
 * outputs read from $DRV_PATH where Nix 2.8 leaves OUT_PATHS empty). The cache sits behind
 * the proxy (20 ms each way), and is then down (a port nothing listens on): the manual's
 * hook fails the build, genpush's must not, nor wait for the cache.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { closureOf } from "../test/integration/harness/nix.js";
import { inCache, measure, onFreshCache, type RunContext, scratch } from "./scenarios.js";
import { cliEntry, genpush, type Timed, timed, toolEnv, unitNodeEnv, writeGenpushConfig } from "./tools.js";

/** What nothing listens on: the cache that is down. */
const DOWN = "http://127.0.0.1:9";

function buildsExpr(seed: string, builds: number): string {
  return `builtins.genList (i: builtins.derivation {
  name = "gp-hook-${seed}-\${toString i}"; system = builtins.currentSystem;
  builder = "/bin/sh"; args = [ "-c" "echo \${toString i} > $out" ];
}) ${builds}`;
}

function script(dir: string, name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/sh\nset -eu\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

/** nix-build of the run's derivations, with `hook` as post-build-hook if given; its outputs on stdout. */
function nixBuild(seed: string, builds: number, hook: string | undefined, xdg: string): Promise<Timed> {
  const args = ["--no-out-link", "--option", "sandbox", "false", "--option", "substituters", ""];
  const withHook = hook ? ["--option", "post-build-hook", hook] : [];
  return timed("nix-build", [...args, ...withHook, "--max-jobs", "4", "-E", buildsExpr(seed, builds)], {
    ...unitNodeEnv(toolEnv(xdg)),
    JOURNAL_STREAM: "",
  });
}

/** One run: each hook with the cache 20 ms away and with it down; genpush's queue drained after its builds. */
export async function runHooks(ctx: RunContext, builds: number, run: number): Promise<void> {
  for (const down of [false, true]) {
    const where = down ? "cache down" : `cache ${ctx.delayMs} ms away`;
    const label = `${builds} builds, post-build hook, ${where}`;
    const meta = { scenario: "post-build hook" as const, label, paths: builds, diff: builds, run };
    const tools = ["no hook", "genpush enqueue", "nix copy (Nix manual)"] as const;
    const k = run % tools.length;
    for (const tool of [...tools.slice(k), ...tools.slice(0, k)]) {
      if (down && tool === "no hook") continue;
      await onFreshCache(ctx, undefined, async (cache) => {
        const store = down ? DOWN : ctx.proxy.url;
        const dir = scratch(ctx, "hook");
        const xdg = scratch(ctx, "xdg");
        const seed = randomBytes(6).toString("hex");
        const config = writeGenpushConfig(scratch(ctx, "config"), {
          stateDir: join(dir, "state"),
          profile: join(dir, "no-profile"),
          store,
        });
        const hook =
          tool === "genpush enqueue"
            ? script(dir, "hook", `exec ${process.execPath} ${cliEntry()} --config ${config} enqueue`)
            : tool === "nix copy (Nix manual)"
              ? script(
                  dir,
                  "hook",
                  `paths=\${OUT_PATHS:-$(nix-store --query --outputs "$DRV_PATH")}\nexec nix copy --to '${store}' $paths`,
                )
              : undefined;
        let outputs: string[] = [];
        const sample = await measure(ctx, cache, { ...meta, tool: `nix-build, ${tool}`, closure: [] }, async () => {
          const t = await nixBuild(seed, builds, hook, xdg);
          outputs = t.stdout.trim().split("\n").filter(Boolean);
          return t;
        });
        const closure = outputs.flatMap((out) => closureOf(out));
        ctx.samples.push({ ...sample, complete: sample.exitCode === 0 && inCache(cache, closure) });
        if (tool !== "genpush enqueue" || down) return;
        ctx.samples.push(
          await measure(
            ctx,
            cache,
            { ...meta, label: `${label}: the queue drained`, tool: "genpush push --queue", closure },
            () => genpush(config, ["push", "--queue", "--json"], xdg),
          ),
        );
      });
    }
  }
}
