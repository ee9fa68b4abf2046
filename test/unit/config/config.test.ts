import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  defaultConfigFile,
  defaultStateDir,
  type Environment,
  type NixCacheConfig,
  validateConfig,
} from "../../../src/config/config.js";
import { parseConfigSource } from "../../../src/config/yaml.js";
import { ExitCode, UsageError } from "../../../src/runtime/errors.js";

const dir = mkdtempSync(join(tmpdir(), "genpush-config-"));
const key = join(dir, "signing-key");
/** A Nix secret key's shape (name, 64 bytes): the check reads it. */
const KEY_TEXT = `test-1:${Buffer.alloc(64, 1).toString("base64")}\n`;
writeFileSync(key, KEY_TEXT, { mode: 0o600 });
const env: Environment = { env: { CREDENTIALS_DIRECTORY: dir }, uid: 1000, home: "/home/alice" };

const CACHE = `caches:
  - name: lan
    systems: [x86_64-linux]
    type: nix
    store: http://127.0.0.1:8080
`;

function load(text: string, environment = env) {
  return validateConfig(parseConfigSource("/etc/genpush/config.yaml", text), environment);
}

async function rejects(text: string, ...expected: (string | RegExp)[]): Promise<void> {
  try {
    await load(text);
  } catch (error) {
    assert.ok(error instanceof UsageError, `expected a UsageError, got ${error}`);
    assert.equal(error.exitCode, ExitCode.usage);
    assert.ok(!/\n\s+at /.test(error.message), "no stack trace in the message");
    for (const e of expected) {
      if (typeof e === "string") assert.ok(error.message.includes(e), `expected \`${e}\` in:\n${error.message}`);
      else assert.match(error.message, e);
    }
    return;
  }
  assert.fail(`expected the configuration to be rejected:\n${text}`);
}

describe("configuration: valid files resolve with every default", () => {
  it("a minimal file", async () => {
    const config = await load(CACHE);
    assert.deepEqual(config.caches, [
      {
        name: "lan",
        type: "nix",
        systems: ["x86_64-linux"],
        hosts: [],
        systemFeatures: [],
        store: "http://127.0.0.1:8080",
        queryConcurrency: 32,
        timeoutSeconds: 30,
        fleet: false,
      },
    ]);
    assert.deepEqual(config.upstreamKeys, ["cache.nixos.org-1"]);
    assert.deepEqual(config.exclude, []);
    assert.equal(config.notify, "failures");
    assert.equal(config.meteredLimit, 50_000_000);
    assert.equal(config.stateDir, "/home/alice/.local/state/genpush");
    assert.equal(config.profiles[0]?.name, "home-manager");
  });

  it("expands ~ and $VARS in paths", async () => {
    const config = await load(`stateDir: ~/state
profiles:
  - name: hm
    path: ~/.local/state/nix/profiles/home-manager
    system: aarch64-linux
${CACHE}    signingKeyFile: $CREDENTIALS_DIRECTORY/signing-key
`);
    assert.equal(config.stateDir, "/home/alice/state");
    assert.deepEqual(config.profiles, [
      { name: "hm", path: "/home/alice/.local/state/nix/profiles/home-manager", system: "aarch64-linux" },
    ]);
    assert.equal((config.caches[0] as NixCacheConfig).signingKeyFile, key);
  });

  it("exclude globs resolve compiled, and print as written", async () => {
    const config = await load(`${CACHE}exclude: ["*.iso", "linux-[0-9]*"]\n`);
    assert.ok(config.exclude[1]?.matches("linux-6.6-modules"));
    assert.equal(JSON.stringify(config.exclude), '["*.iso","linux-[0-9]*"]');
  });

  it("defaults follow systemd, XDG and root", () => {
    assert.equal(
      defaultStateDir({ env: { STATE_DIRECTORY: "/var/lib/genpush:/x" }, uid: 0, home: "/root" }),
      "/var/lib/genpush",
    );
    assert.equal(defaultStateDir({ env: {}, uid: 0, home: "/root" }), "/var/lib/genpush");
    assert.equal(defaultStateDir({ env: { XDG_STATE_HOME: "/s" }, uid: 1000, home: "/h" }), "/s/genpush");
    assert.equal(defaultConfigFile({ env: {}, uid: 0, home: "/root" }), "/etc/genpush/config.yaml");
    assert.equal(
      defaultConfigFile({ env: { XDG_CONFIG_HOME: "/c" }, uid: 1000, home: "/h" }),
      "/c/genpush/config.yaml",
    );
    assert.equal(defaultConfigFile({ env: { GENPUSH_CONFIG: "/g.yaml" }, uid: 1000, home: "/h" }), "/g.yaml");
  });
});

describe("configuration: desktop notices and metered networks", () => {
  it("notify is failures, always or never", async () => {
    for (const mode of ["failures", "always", "never"])
      assert.equal((await load(`notify: ${mode}\n${CACHE}`)).notify, mode);
    await rejects(`notify: yes\n${CACHE}`, "notify: expected one of `failures`, `always`, `never`, got `yes`");
  });

  it("meteredLimit is a size in bytes, with or without a unit; 0 and -1 as they are", async () => {
    const cases: [string, number][] = [
      ["0", 0],
      ["-1", -1],
      ["1000000", 1_000_000],
      ['"50 MB"', 50_000_000],
      ["1.5GB", 1_500_000_000],
      ["200MiB", 200 * 2 ** 20],
      ["2 KiB", 2048],
      ["10kB", 10_000],
      ['"-1"', -1],
    ];
    for (const [text, bytes] of cases) {
      assert.equal((await load(`meteredLimit: ${text}\n${CACHE}`)).meteredLimit, bytes, text);
    }
    for (const bad of ["-2", "50 furlongs", "MB", "1.5", "-1 MB", "[1]"]) {
      await rejects(`meteredLimit: ${bad}\n${CACHE}`, "meteredLimit: expected a size such as `50 MB`");
    }
  });
});

describe("configuration: secrets others may read, time-outs", () => {
  it("a secret readable by its group or anyone is a warning naming the file and the chmod", async () => {
    const open = join(dir, "open-key");
    writeFileSync(open, KEY_TEXT, { mode: 0o644 });
    chmodSync(open, 0o644);
    const config = await load(`${CACHE}    signingKeyFile: ${open}\n`);
    assert.deepEqual(config.warnings, [
      `caches[0].signingKeyFile: the secret ${open} may be read by anyone (mode 0644); run \`chmod 600 ${open}\``,
    ]);
    assert.deepEqual((await load(`${CACHE}    signingKeyFile: ${key}\n`)).warnings, []);
  });
  it("timeoutSeconds per cache", async () => {
    assert.equal((await load(`${CACHE}    timeoutSeconds: 5\n`)).caches[0]?.timeoutSeconds, 5);
    await rejects(`${CACHE}    timeoutSeconds: 0\n`, "caches[0].timeoutSeconds: expected an integer from 1 to 3600");
  });
});

describe("configuration: without reading secrets (status, a Nix build's check)", () => {
  it("leaves an unset variable in a secret's path as written and reads no file", async () => {
    const text = `${CACHE}    signingKeyFile: $NOPE/signing-key\n`;
    const config = await validateConfig(parseConfigSource("/c.yaml", text), env, { secrets: false });
    assert.equal((config.caches[0] as NixCacheConfig).signingKeyFile, "$NOPE/signing-key");
    const missing = await validateConfig(
      parseConfigSource("/c.yaml", `${CACHE}    signingKeyFile: /nonexistent\n`),
      env,
      {
        secrets: false,
      },
    );
    assert.equal((missing.caches[0] as NixCacheConfig).signingKeyFile, "/nonexistent");
  });
  it("still rejects an unset variable outside secrets", async () => {
    await assert.rejects(
      validateConfig(parseConfigSource("/c.yaml", `stateDir: $NOPE/state\n${CACHE}`), env, { secrets: false }),
      /stateDir: refers to \$NOPE/,
    );
  });
});

describe("configuration: Attic and Cachix caches", () => {
  const token = join(dir, "token");
  writeFileSync(token, "secret-token\n", { mode: 0o600 });
  it("resolve with their defaults", async () => {
    const config = await load(`caches:
  - {name: arm, systems: [aarch64-linux], type: attic, endpoint: "https://attic.lan", cache: fort-arm, tokenFile: ${token}}
  - {name: pub, systems: [x86_64-linux], type: cachix, cache: mine, tokenFile: ${token}, signingKeyFile: ${key}}
`);
    assert.deepEqual(config.caches, [
      {
        name: "arm",
        type: "attic",
        systems: ["aarch64-linux"],
        hosts: [],
        systemFeatures: [],
        endpoint: "https://attic.lan",
        cache: "fort-arm",
        tokenFile: token,
        timeoutSeconds: 30,
      },
      {
        name: "pub",
        type: "cachix",
        systems: ["x86_64-linux"],
        hosts: [],
        systemFeatures: [],
        cache: "mine",
        tokenFile: token,
        endpoint: "https://cachix.org",
        signingKeyFile: key,
        timeoutSeconds: 30,
      },
    ]);
  });
  it("hosts are globs and systemFeatures Nix feature names, on every backend", async () => {
    const config = await load(`${CACHE}    hosts: ["desk-*", laptop]\n    systemFeatures: [gccarch-skylake, kvm]\n`);
    assert.deepEqual(JSON.parse(JSON.stringify(config.caches[0])).hosts, ["desk-*", "laptop"]);
    assert.deepEqual(config.caches[0]?.systemFeatures, ["gccarch-skylake", "kvm"]);
    await rejects(
      `${CACHE}    hosts: ["[z-a]*"]\n    systemFeatures: ["gcc arch", 3]\n`,
      "caches[0].hosts[0]: `[z-a]*` is not a valid glob (range out of order in character class)",
      "caches[0].systemFeatures[0]: expected a Nix system feature such as `gccarch-skylake`",
      "caches[0].systemFeatures[1]: expected a non-empty string",
    );
  });
  it("attic needs endpoint, cache and tokenFile", () =>
    rejects(
      "caches:\n  - {name: arm, systems: [aarch64-linux], type: attic}\n",
      "caches[0].endpoint: is required",
      "caches[0].cache: is required",
      "caches[0].tokenFile: is required",
    ));
  it("a key of another backend is unknown", () =>
    rejects(
      `caches:\n  - {name: a, systems: [x86_64-linux], type: attic, endpoint: "http://a", cache: c, tokenFile: ${token}, store: x}\n`,
      "caches[0].store: unknown key",
    ));
  it("attic endpoint must be http(s)", () =>
    rejects(
      `caches:\n  - {name: a, systems: [x86_64-linux], type: attic, endpoint: "ftp://a", cache: c, tokenFile: ${token}}\n`,
      "caches[0].endpoint: expected an http(s) URL",
    ));
  it("an unreadable token file", () =>
    rejects(
      "caches:\n  - {name: p, systems: [x86_64-linux], type: cachix, cache: c, tokenFile: /nonexistent/token}\n",
      "caches[0].tokenFile: cannot read /nonexistent/token (no such file)",
    ));
  it("a cachix cache name with a slash", () =>
    rejects(
      `caches:\n  - {name: p, systems: [x86_64-linux], type: cachix, cache: a/b, tokenFile: ${token}}\n`,
      "caches[0].cache",
    ));
});

describe("configuration: a cache shared by a fleet (docs/fleet.md)", () => {
  const fleetOf = async (store: string) =>
    (await load(`${CACHE.replace("http://127.0.0.1:8080", store)}    fleet: true\n`)).caches[0];
  async function refused(store: string, ...expected: (string | RegExp)[]): Promise<UsageError> {
    await rejects(`${CACHE.replace("http://127.0.0.1:8080", store)}    fleet: true\n`, ...expected);
    return (await load(`${CACHE.replace("http://127.0.0.1:8080", store)}    fleet: true\n`).catch(
      (e: unknown) => e,
    )) as UsageError;
  }

  it("is off unless set, and taken for an http(s) cache genpush uploads to itself and a file:// cache", async () => {
    const unset = (await load(CACHE)).caches[0];
    assert.equal(unset?.type === "nix" ? unset.fleet : undefined, false);
    const off = (await load(`${CACHE}    fleet: false\n`)).caches[0];
    assert.equal(off?.type === "nix" ? off.fleet : undefined, false);
    for (const store of [
      "http://127.0.0.1:8080",
      "https://cache.lan?compression=zstd&parallel-compression=true",
      "http://cache.lan?compression=xz&secret-key=/run/key&priority=30&want-mass-query=true",
      "file:///srv/cache",
    ]) {
      const cache = await fleetOf(store);
      assert.equal(cache?.type === "nix" ? cache.fleet : undefined, true, store);
    }
  });

  it("is a boolean", () =>
    rejects(`${CACHE}    fleet: yes\n`, ":6: caches[0].fleet: expected `true` or `false`, got `yes`"));

  it("a misspelt key: did you mean", () =>
    rejects(`${CACHE}    fleat: true\n`, "caches[0].fleat: unknown key; did you mean `fleet`?"));

  it("is unknown to attic and cachix caches", () =>
    rejects(
      `caches:\n  - {name: a, systems: [x86_64-linux], type: attic, endpoint: "http://a", cache: c, tokenFile: ${key}, fleet: true}\n`,
      "caches[0].fleet: unknown key",
    ));

  it("on a store that `nix copy` uploads to: refused, with a hint to docs/fleet.md", async () => {
    for (const store of ["s3://bucket?region=eu-west-1", "ssh://builder", "daemon", "/srv/store"]) {
      const error = await refused(
        store,
        ":6: caches[0].fleet: is true, but genpush cannot coordinate uploads to",
        "`nix copy` uploads to it, and knows no claims",
      );
      assert.match(error.hint ?? "", /leave `fleet` unset for this cache.*docs\/fleet\.md/, store);
    }
  });

  it("on an http cache whose store settings leave the upload to `nix copy`: refused, naming the setting", async () => {
    const error = await refused(
      "http://cache.lan?compression=lz4",
      "caches[0].fleet: is true, but the store setting `compression=lz4` has `nix copy` upload to this cache",
    );
    assert.match(error.hint ?? "", /^use a compression genpush writes itself \(none, xz, bzip2, zstd, br, gzip\)/);
    await refused("http://cache.lan?write-nar-listing=true", "the store setting `write-nar-listing=true`");
  });
});

describe("configuration: credentials in a URL are refused without repeating them", () => {
  const token = join(dir, "token");
  writeFileSync(token, "secret-token\n", { mode: 0o600 });
  async function refused(text: string, expected: string, hint: RegExp): Promise<void> {
    await rejects(text, expected);
    const error = await load(text).catch((e: UsageError) => e);
    assert.ok(error instanceof UsageError);
    const said = `${error.message}\n${error.hint}`;
    for (const secret of ["s3cret", "alice"]) assert.ok(!said.includes(secret), `\`${secret}\` repeated in:\n${said}`);
    assert.match(error.hint ?? "", hint);
  }
  const netrc = /netrc file\b.*`netrc-file` setting, \/etc\/nix\/netrc by default\): `machine [\w.]+ login USER/;
  it("a user and password in a store URL", () =>
    refused(
      CACHE.replace("http://127.0.0.1:8080", "http://alice:s3cret@127.0.0.1:8080/"),
      "config.yaml:5: caches[0].store: holds credentials (http://***@127.0.0.1:8080/)",
      netrc,
    ));
  it("a user alone in a store URL", () =>
    refused(
      CACHE.replace("http://127.0.0.1:8080", "https://alice@cache.lan?compression=zstd"),
      "caches[0].store: holds credentials (https://***@cache.lan?compression=zstd)",
      netrc,
    ));
  it("a password in an ssh store URL, though a user there is how ssh is told whom to log in as", async () => {
    await refused(
      CACHE.replace("http://127.0.0.1:8080", "ssh://alice:s3cret@builder.lan"),
      "caches[0].store: holds credentials (ssh://***@builder.lan)",
      /ssh/,
    );
    const ssh = await load(CACHE.replace("http://127.0.0.1:8080", "ssh-ng://nix-ssh@builder.lan"));
    assert.equal((ssh.caches[0] as NixCacheConfig).store, "ssh-ng://nix-ssh@builder.lan");
  });
  it("an @ after the host is not a credential", async () => {
    const store = "http://127.0.0.1:8080/cache?secret-key=/run/keys/a@b";
    assert.equal((await load(CACHE.replace("http://127.0.0.1:8080", store))).caches[0]?.type, "nix");
  });
  it("a user and password in an Attic or Cachix endpoint", async () => {
    await refused(
      `caches:\n  - {name: a, systems: [x86_64-linux], type: attic, endpoint: "https://alice:s3cret@attic.lan", cache: c, tokenFile: ${token}}\n`,
      "caches[0].endpoint: holds credentials (https://***@attic.lan)",
      /tokenFile/,
    );
    await refused(
      `caches:\n  - {name: a, systems: [x86_64-linux], type: attic, endpoint: "http:alice:s3cret@attic.lan", cache: c, tokenFile: ${token}}\n`,
      "caches[0].endpoint: holds credentials (http:***@attic.lan)",
      /tokenFile/,
    );
    await refused(
      `caches:\n  - {name: p, systems: [x86_64-linux], type: cachix, cache: c, endpoint: "ftp://alice:s3cret@cachix.lan", tokenFile: ${token}}\n`,
      "caches[0].endpoint: holds credentials (ftp://***@cachix.lan)",
      /tokenFile/,
    );
  });
});

describe("configuration: every bad input names file, line and key, and exits 2", () => {
  it("YAML syntax error names the line", () =>
    rejects("caches:\n  - name: lan\n    systems: [x86_64-linux\n", "/etc/genpush/config.yaml:", "YAML syntax error"));
  it("an alias before its anchor names the line", () =>
    rejects(`${CACHE}exclude: *globs\n`, "/etc/genpush/config.yaml:6: YAML error: Unresolved alias"));
  it("a duplicate key", () => rejects(`${CACHE}caches: []\n`, "YAML syntax error"));
  it("no caches at all shows a minimal example", async () => {
    try {
      await load("profiles: []\n");
      assert.fail("expected a rejection");
    } catch (error) {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, /no `caches` configured/);
      assert.match(error.hint ?? "", /type: nix/);
    }
  });
  it("an empty caches list", () => rejects("caches: []\n", "caches: is empty"));
  it("caches is not a list", () => rejects("caches: lan\n", ":1: caches: expected a list, got `lan`"));
  it("the top level is a list", () => rejects("- a\n", "(top level): expected a mapping"));
  it("an unknown top-level key suggests the right one", () =>
    rejects(`${CACHE}exlude: ["*.iso"]\n`, ":6: exlude: unknown key; did you mean `exclude`?"));
  it("a misspelt system: did you mean, and no second complaint that systems is empty", async () => {
    const text = CACHE.replace("systems: [x86_64-linux]", "systems: [x86-64-linux]");
    await rejects(text, ":3: caches[0].systems[0]: `x86-64-linux` is no Nix system; did you mean `x86_64-linux`?");
    await assert.rejects(load(text), (error: Error) => !/is empty/.test(error.message));
  });
  it("a system typo that is well formed is still caught", () =>
    rejects(CACHE.replace("systems: [x86_64-linux]", "systems: [x86_64-linxu]"), "did you mean `x86_64-linux`?"));
  it("unknown cache type", () =>
    rejects(
      CACHE.replace("type: nix", "type: s3"),
      ":4: caches[0].type: expected one of `nix`, `attic`, `cachix`, got `s3`",
    ));
  it("missing type", () => rejects(CACHE.replace("    type: nix\n", ""), "caches[0].type: is required"));
  it("missing store", () =>
    rejects(CACHE.replace("    store: http://127.0.0.1:8080\n", ""), ":2: caches[0].store: is required"));
  it("store looks like an option", () =>
    rejects(CACHE.replace("http://127.0.0.1:8080", "--foo"), "caches[0].store: expected a store URI"));
  it("store with a space", () => rejects(CACHE.replace("http://127.0.0.1:8080", "'http://a b'"), "caches[0].store"));
  it("store is a bad URL", () =>
    rejects(CACHE.replace("http://127.0.0.1:8080", "http://[::1"), "caches[0].store: expected a valid URL"));
  it("store is a number", () =>
    rejects(CACHE.replace("http://127.0.0.1:8080", "42"), "caches[0].store: expected a store URI"));
  it("missing name", () =>
    rejects(CACHE.replace("  - name: lan\n    systems", "  - systems"), "caches[0].name: is required"));
  it("a name with a slash", () => rejects(CACHE.replace("name: lan", "name: a/b"), "caches[0].name: expected a name"));
  it("duplicate cache names", () =>
    rejects(CACHE + CACHE.replace("caches:\n", ""), "caches[1].name: `lan` is used twice"));
  it("systems missing", () =>
    rejects(CACHE.replace("    systems: [x86_64-linux]\n", ""), "caches[0].systems: is required"));
  it("systems empty", () => rejects(CACHE.replace("[x86_64-linux]", "[]"), "caches[0].systems: is empty"));
  it("systems is a string", () =>
    rejects(CACHE.replace("[x86_64-linux]", "x86_64-linux"), "caches[0].systems: expected a list"));
  it("a bad system", () =>
    rejects(CACHE.replace("[x86_64-linux]", "[x86 64]"), "caches[0].systems[0]: expected a Nix system"));
  it("an unknown cache key", () =>
    rejects(`${CACHE}    stor: x\n`, "caches[0].stor: unknown key; did you mean `store`?"));
  it("queryConcurrency out of range", () =>
    rejects(
      `${CACHE}    queryConcurrency: 0\n`,
      "caches[0].queryConcurrency: expected an integer from 1 to 256, got `0`",
    ));
  it("signing key file missing", () =>
    rejects(
      `${CACHE}    signingKeyFile: /nonexistent/key\n`,
      ":6: caches[0].signingKeyFile: cannot read /nonexistent/key (no such file)",
    ));
  it("signing key file is a directory", () =>
    rejects(
      `${CACHE}    signingKeyFile: ${dir}\n`,
      `caches[0].signingKeyFile: cannot read ${dir} (not a regular file)`,
    ));
  it("signing key file is a relative path", () =>
    rejects(`${CACHE}    signingKeyFile: keys/sk\n`, "caches[0].signingKeyFile: expected an absolute path"));
  it("signing key refers to an unset variable", () =>
    rejects(`${CACHE}    signingKeyFile: $NOPE/sk\n`, "caches[0].signingKeyFile: refers to $NOPE, which is not set"));
  it("profiles is a mapping", () => rejects(`profiles: {a: 1}\n${CACHE}`, "profiles: expected a list, got a mapping"));
  it("a profile without a path", () =>
    rejects(`profiles:\n  - name: system\n${CACHE}`, ":2: profiles[0].path: is required"));
  it("a profile with a bad system", () =>
    rejects(
      `profiles:\n  - name: s\n    path: /p\n    system: linux\n${CACHE}`,
      ":4: profiles[0].system: expected a Nix system",
    ));
  it("a profile path that is relative", () =>
    rejects(`profiles:\n  - name: s\n    path: profiles/x\n${CACHE}`, "profiles[0].path: expected an absolute path"));
  it("duplicate profile names", () =>
    rejects(
      `profiles:\n  - {name: s, path: /a}\n  - {name: s, path: /b}\n${CACHE}`,
      "profiles[1].name: `s` is used twice",
    ));
  it("upstreamKeys with a colon", () =>
    rejects(`${CACHE}upstreamKeys: ["a:b"]\n`, "upstreamKeys[0]: expected a key name"));
  it("exclude is a string", () => rejects(`${CACHE}exclude: "*.iso"\n`, "exclude: expected a list"));
  it("an exclude glob that cannot compile names its line and key", () =>
    rejects(
      `${CACHE}exclude: ["*.iso", "[z-a]*"]\n`,
      "/etc/genpush/config.yaml:6: exclude[1]: `[z-a]*` is not a valid glob (range out of order in character class)",
    ));
  it("exclude holds a number", () =>
    rejects(`${CACHE}exclude: [1]\n`, "exclude[0]: expected a non-empty string, got `1` (number)"));
  it("stateDir is a list", () => rejects(`stateDir: [a]\n${CACHE}`, "stateDir: expected a file path, got a list"));
  it("reports several problems at once", () =>
    rejects(CACHE.replace("type: nix", "type: s3").replace("[x86_64-linux]", "[]"), "2 problems in the configuration"));
});
