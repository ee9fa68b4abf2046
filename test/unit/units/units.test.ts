// The unit files as shipped (units/, the single source for every install route): each service
// has a start time-out that is a backstop above genpush's own run limit, and no core dumps.
// The booted-systemd suite (test/e2e) checks that systemd reads the same values.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { RUN_LIMIT_MS } from "../../../src/runtime/bounds.js";

const root = join(import.meta.dirname, "..", "..", "..", "units");
const services = ["system", "user"].flatMap((scope) =>
  readdirSync(join(root, scope))
    .filter((name) => name.endsWith(".service"))
    .map((name) => ({ name: `${scope}/${name}`, text: readFileSync(join(root, scope, name), "utf8") })),
);

/** systemd's time span syntax, as far as the units use it: "6h 15min", "90s", "5min". */
function timeSpanMs(value: string): number {
  const units: Record<string, number> = { h: 3_600_000, min: 60_000, s: 1000, ms: 1 };
  let total = 0;
  for (const part of value.trim().split(/\s+/)) {
    const match = /^(\d+)(h|min|s|ms)$/.exec(part);
    assert.ok(match, `unreadable time span part \`${part}\``);
    total += Number(match[1]) * (units[match[2] as string] as number);
  }
  return total;
}

test("every service ships (system and user)", () => {
  assert.deepEqual(services.map((s) => s.name).sort(), [
    "system/genpush-comin.service",
    "system/genpush-queue.service",
    "system/genpush-system.service",
    "system/genpush-verify.service",
    "user/genpush-home-manager.service",
    "user/genpush-verify.service",
  ]);
});

for (const { name, text } of services) {
  test(`${name}: TimeoutStartSec= is a backstop above genpush's own run limit`, () => {
    const value = /^TimeoutStartSec=(.+)$/m.exec(text)?.[1];
    assert.ok(value, "no TimeoutStartSec=: a oneshot has no start time-out by default");
    const ms = timeSpanMs(value);
    assert.ok(ms > RUN_LIMIT_MS, `${value} is not above the run limit of ${RUN_LIMIT_MS / 3_600_000} h`);
    assert.ok(ms <= RUN_LIMIT_MS + 30 * 60_000, `${value} is far above the run limit: not a backstop`);
  });

  test(`${name}: no core dumps (LimitCORE=0)`, () => {
    assert.match(text, /^LimitCORE=0$/m);
  });
}

test("user services order nothing after network-online.target, which a user manager does not have", () => {
  for (const { name, text } of services.filter((s) => s.name.startsWith("user/"))) {
    assert.doesNotMatch(text, /^(After|Wants)=.*network-online\.target/m, name);
  }
});
