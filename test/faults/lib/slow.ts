// The set-up several fault scenarios share: a signed scenario whose cache sits behind the e2e
// harness's slow proxy (so an upload lasts long enough to act during it), switched to its
// first generation and booked in a ledger; and a genpush started and waited for until it uploads.
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { startSlowProxy } from "../../e2e/harness/slow-proxy.js";
import { scenario } from "../../integration/harness/fixture.js";
import { Ledger, type ScenarioName } from "./ledger.js";
import { type Running, said, startGenpush, waitForLine } from "./proc.js";

export async function behindSlowProxy(
  t: TestContext,
  name: ScenarioName,
  { paths, delayMs }: { paths: number; delayMs: number },
) {
  const s = await scenario({ paths, changed: 3, sign: true });
  const proxy = await startSlowProxy(s.cache.port, delayMs);
  t.after(async () => {
    await proxy.close();
    await s.destroy();
  });
  s.config.caches[0].store = proxy.url;
  const config = s.configFile();
  const books = new Ledger(name);
  const gen = s.switchTo(0);
  books.switchedTo({ ...gen, label: "test generation 1" });
  return { s, proxy, config, books, gen, key: s.key as NonNullable<typeof s.key> };
}

/** `genpush ARGS`, once it says it uploads to the scenario's cache `local`. */
export async function startUploading(config: string, args: string[], what = "the push"): Promise<Running> {
  const run = startGenpush(config, args);
  assert.ok(await waitForLine(run, /uploading \d+ paths? to local/), `${what} uploads\n${said(run)}`);
  return run;
}
