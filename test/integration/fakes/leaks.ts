// The secrets check run after every contract case: no secret in what genpush
// said (errors, retry messages, anything printed) nor in what the stand-in
// clients saw (argv, stdin) or printed; a token only in the environment
// variable where it belongs.
import assert from "node:assert/strict";
import type { Fixture } from "./backends.js";

/** Everything a case caught, as text: message, hint, stack, causes. */
export function errorText(error: unknown): string {
  const parts: string[] = [];
  for (let e = error, depth = 0; e !== undefined && depth < 10; depth++) {
    const err = e as { message?: unknown; hint?: unknown; stack?: unknown; cause?: unknown };
    parts.push(String(err.message ?? e), String(err.hint ?? ""), String(err.stack ?? ""));
    e = err.cause;
  }
  return parts.join("\n");
}

export function captureOutput(): { text(): string; restore(): void } {
  const seen: string[] = [];
  const streams = [process.stdout, process.stderr] as const;
  const originals = streams.map((s) => s.write);
  for (const s of streams) {
    const write = s.write.bind(s) as (...args: unknown[]) => boolean;
    s.write = ((chunk: unknown, ...rest: unknown[]) => {
      seen.push(String(chunk));
      return write(chunk, ...rest);
    }) as typeof s.write;
  }
  return {
    text: () => seen.join(""),
    restore: () => {
      streams.forEach((s, i) => {
        s.write = originals[i] as typeof s.write;
      });
    },
  };
}

export function assertNoLeak(fx: Fixture, said: Record<string, string>): void {
  for (const secret of fx.secrets) {
    for (const [where, text] of Object.entries(said)) {
      assert.ok(!text.includes(secret), `a secret of cache ${fx.name} appears in ${where}`);
    }
    for (const [i, call] of (fx.standin?.calls() ?? []).entries()) {
      const where = `${fx.standin?.kind} call ${i + 1}`;
      assert.ok(!call.argv.some((a) => a.includes(secret)), `a secret in the argv of ${where}`);
      assert.ok(!call.stdin.includes(secret), `a secret on the stdin of ${where}`);
      assert.ok(!call.printed.join("\n").includes(secret), `a secret printed by ${where}`);
    }
  }
  for (const call of fx.standin?.calls() ?? []) {
    assert.equal(call.tokenInArgv, false);
    assert.deepEqual(
      call.tokenEnvKeys.filter((k) => !fx.tokenEnv.includes(k)),
      [],
      `the token of cache ${fx.name} only in ${fx.tokenEnv.join(", ") || "no environment variable"}`,
    );
    const keyEnv = call.signingKeyEnvKeys ?? [];
    assert.deepEqual(
      keyEnv.filter((k) => k !== "CACHIX_SIGNING_KEY"),
      [],
      "the signing key only in CACHIX_SIGNING_KEY",
    );
  }
}
