// Fuzzing the configuration: seeded, reproducible mutations of valid files. Every case
// either loads or is a UsageError (exit 2) whose message names a line or a key — never
// another error, never a stack trace. GENPUSH_FUZZ_SEED and GENPUSH_FUZZ_CASES reproduce a run.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type Environment, validateConfig } from "../../../src/config/config.js";
import { parseConfigSource } from "../../../src/config/yaml.js";
import { ExitCode, UsageError } from "../../../src/runtime/errors.js";
import { prng } from "../../faults/lib/prng.js";

const SEED = Number(process.env.GENPUSH_FUZZ_SEED ?? 20261121);
const CASES = Number(process.env.GENPUSH_FUZZ_CASES ?? 1500);

const dir = mkdtempSync(join(tmpdir(), "genpush-fuzz-"));
const secret = join(dir, "secret");
writeFileSync(secret, "s\n", { mode: 0o600 });
const env: Environment = { env: { CREDENTIALS_DIRECTORY: dir }, uid: 0, home: "/root" };

const VALID = [
  `stateDir: /var/lib/genpush
profiles:
  - name: system
    path: /nix/var/nix/profiles/system
  - name: hm
    path: ~/.local/state/nix/profiles/home-manager
    system: aarch64-linux
caches:
  - name: lan
    systems: [x86_64-linux]
    type: nix
    store: http://cache.lan:8080?compression=zstd
    signingKeyFile: $CREDENTIALS_DIRECTORY/secret
    queryConcurrency: 16
    fleet: true
upstreamKeys: [cache.nixos.org-1]
exclude: ["*.iso"]
`,
  `caches:
  - name: arm
    systems: [aarch64-linux]
    type: attic
    endpoint: https://attic.lan
    cache: fort-arm
    tokenFile: ${secret}
  - name: public
    systems: [x86_64-linux, aarch64-linux]
    type: cachix
    cache: modular-workspace
    tokenFile: ${secret}
    timeoutSeconds: 10
`,
];

const ODD_VALUES = [
  "",
  "~",
  "null",
  "[]",
  "{}",
  "-1",
  "0",
  "99999",
  "true",
  "'--option'",
  '"a b"',
  "&a",
  "*a",
  "!!binary x",
  "@",
  "`",
  "%",
  "ü",
  "[x86_64-linux",
  "{a: [",
  "\\t",
  "0x10",
  "1e9",
  ": :",
  "- -",
  "|",
  ">",
  "#",
];
const KEYS = [
  "name",
  "type",
  "systems",
  "store",
  "path",
  "cache",
  "tokenFile",
  "endpoint",
  "profiles",
  "caches",
  "stateDir",
  "exclude",
  "upstreamKeys",
  "system",
  "queryConcurrency",
  "fleet",
  "timeoutSeconds",
  "nmae",
  "Caches",
  "sytems",
];

function mutate(text: string, rnd: () => number): string {
  const lines = text.split("\n");
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)] as T;
  const i = Math.floor(rnd() * lines.length);
  const line = lines[i] ?? "";
  switch (Math.floor(rnd() * 10)) {
    case 0:
      lines.splice(i, 1);
      break;
    case 1:
      lines.splice(i, 0, line);
      break;
    case 2:
      lines[i] = line.replace(/:\s.*$/, `: ${pick(ODD_VALUES)}`);
      break;
    case 3:
      lines[i] = line.replace(/[A-Za-z]+(?=:)/, pick(KEYS));
      break;
    case 4:
      lines[i] = ` ${line}`;
      break;
    case 5:
      lines[i] = line.trimStart();
      break;
    case 6: {
      const at = Math.floor(rnd() * (line.length + 1));
      lines[i] = line.slice(0, at) + pick(ODD_VALUES) + line.slice(at);
      break;
    }
    case 7:
      return text.slice(0, Math.floor(rnd() * text.length));
    case 8:
      lines.splice(i, 0, `${" ".repeat(Math.floor(rnd() * 6))}${pick(KEYS)}: ${pick(ODD_VALUES)}`);
      break;
    default:
      lines[i] = line.replace(/\[.*\]/, pick(ODD_VALUES));
  }
  return lines.join("\n");
}

describe("configuration fuzzing", () => {
  it(`${CASES} mutated files (seed ${SEED}) load or exit 2 naming a line or a key`, async () => {
    const rnd = prng(SEED);
    let loaded = 0;
    let rejected = 0;
    for (let n = 0; n < CASES; n++) {
      let text = VALID[n % VALID.length] as string;
      for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) text = mutate(text, rnd);
      try {
        await validateConfig(parseConfigSource("/etc/genpush/config.yaml", text), env);
        loaded++;
      } catch (error) {
        const why = `case ${n} (seed ${SEED}):\n${text}\n--- gave: ${error instanceof Error ? error.stack : error}`;
        assert.ok(error instanceof UsageError, why);
        assert.equal(error.exitCode, ExitCode.usage, why);
        assert.ok(!/\n\s+at /.test(error.message), `a stack trace in the message: ${why}`);
        assert.match(error.message, /\/etc\/genpush\/config\.yaml(:\d+: .+: |: no `caches`|: \(top level\): )/, why);
        rejected++;
      }
    }
    assert.equal(loaded + rejected, CASES);
    assert.ok(rejected > CASES / 2 && loaded > 0, `both outcomes occur (${loaded} loaded, ${rejected} rejected)`);
  });
});
