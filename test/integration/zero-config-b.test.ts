// The zero-configuration path as a user meets it (issue 27, items 6-8): the command line as
// typed, run by the built CLI as a real unprivileged user (nobody, through setpriv) or as
// root, its exit code, its message, and what it left on disk. Root's own files
// (/etc/genpush/config.yaml, /var/lib/genpush, /etc/systemd/system) are made in a mount
// namespace of the test's own, over overlays of /etc and /var/lib, so the machine's stay as
// they are.
import assert from "node:assert/strict";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { execa } from "execa";
import { repoRoot } from "./harness/cli.js";
import { scenario } from "./harness/fixture.js";
import {
  buildGeneration,
  makeKey,
  newSeed,
  nixEnv,
  pullIntoFreshStore,
  switchProfile,
  tempDir,
} from "./harness/nix.js";

const cli = join(repoRoot, "dist", "cli.js");
const NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

/** A directory anyone may read (tempDir's are 0700): for what nobody must read. */
function openDir(prefix: string): string {
  const dir = tempDir(prefix);
  chmodSync(dir, 0o755);
  return dir;
}

interface Isolated {
  /** Runs `genpush ARGS` in the namespace, as nobody (`as: "nobody"`) or root. */
  genpush(args: string[], opts?: { as?: "nobody" | "root"; env?: NodeJS.ProcessEnv }): Promise<Run>;
  /** Where the namespace's /etc and /var/lib writes went: upper/etc/..., upper/var-lib/... */
  upper: string;
}

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * A mount namespace per run, over overlays of /etc and /var/lib whose upper layers persist
 * across runs of one Isolated: `setup` writes root's files there first (as root, in sh).
 */
function isolated(setup: string): Isolated {
  const base = tempDir("genpush-ns-");
  const upper = join(base, "upper");
  for (const dir of ["etc", "var-lib"]) {
    mkdirSync(join(upper, dir), { recursive: true });
    mkdirSync(join(base, `work-${dir}`), { recursive: true });
  }
  let prepared = false;
  return {
    upper,
    async genpush(args, { as = "nobody", env = {} } = {}) {
      const script = [
        "set -e",
        `mount -t overlay overlay -o lowerdir=/etc,upperdir=${upper}/etc,workdir=${base}/work-etc /etc`,
        `mount -t overlay overlay -o lowerdir=/var/lib,upperdir=${upper}/var-lib,workdir=${base}/work-var-lib /var/lib`,
        prepared ? ":" : setup,
        'exec "$@"',
      ].join("\n");
      prepared = true;
      const user = as === "nobody" ? NOBODY : [];
      // nobody's own home, where it keeps its caches (the suite's narinfo cache is root's, 0700).
      const home = env.HOME ?? openDir("genpush-home-");
      const own = { HOME: home, XDG_CACHE_HOME: join(home, ".cache"), XDG_STATE_HOME: "", XDG_CONFIG_HOME: "" };
      const r = await execa(
        "unshare",
        [
          "--mount",
          "--propagation",
          "private",
          "--",
          "sh",
          "-c",
          script,
          "sh",
          ...user,
          process.execPath,
          cli,
          ...args,
        ],
        {
          env: { ...nixEnv, GENPUSH_CONFIG: "", ...own, ...env },
          extendEnv: false,
          reject: false,
          cwd: "/",
          timeout: 60_000,
        },
      );
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
  };
}

const explain = (r: Run) => `exit ${r.exitCode}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;

describe("units install --system, as a user and as root (item 8)", () => {
  const config = `profiles:
  - name: system
    path: /nix/var/nix/profiles/system
  - name: admin
    path: /root/.local/state/nix/profiles/admin
caches:
  - name: lan
    systems: [x86_64-linux]
    type: nix
    store: http://cache.lan:8080
    signingKeyFile: /root/cache-signing-key
`;

  test("a user's `genpush units install --system --dry-run` prints the units, warns of what they could not see, exits 0, writes nothing", async () => {
    const ns = isolated(`mkdir -p /etc/genpush && printf '%s' '${config}' >/etc/genpush/config.yaml`);
    const home = openDir("genpush-nobody-home-");
    const r = await ns.genpush(["--config", "/etc/genpush/config.yaml", "units", "install", "--system", "--dry-run"], {
      env: { HOME: home },
    });
    assert.equal(r.exitCode, 0, explain(r));
    // The units, as the system services would run them: the profiles of the configuration,
    // the state in /var/lib/genpush whoever ran the dry run (no stateDir is configured).
    const files = [...r.stdout.matchAll(/^# \/etc\/systemd\/system\/(\S+)$/gm)].map((m) => m[1]);
    assert.deepEqual(files, [
      "genpush-admin.path",
      "genpush-admin.service",
      "genpush-queue.path",
      "genpush-queue.service",
      "genpush-queue.timer",
      "genpush-system.path",
      "genpush-system.service",
      "genpush-verify.service",
      "genpush-verify.timer",
    ]);
    assert.match(
      r.stdout,
      /^# then: systemctl enable --now genpush-admin.path genpush-system.path genpush-verify.timer$/m,
    );
    assert.match(r.stdout, /`systemd-analyze security genpush-admin\.service` rates this/);
    assert.match(r.stdout, /`systemd-analyze security genpush-verify\.service` rates this/);
    assert.doesNotMatch(r.stderr, /stateDir/, "no stateDir is configured: the units use /var/lib/genpush");
    const warnings = [...r.stderr.matchAll(/^warning: these units could never work: (.*)$/gm)]
      .map((m) => m[1])
      // A checkout or a Node under /tmp or a home (CI's may be) is named too: the services cannot see it there.
      .filter((warning) => !/^the system services cannot see (genpush|node) /.test(warning ?? ""));
    assert.deepEqual(warnings, [
      "profile admin (/root/.local/state/nix/profiles/admin) is where the system services cannot see (they run with ProtectHome=tmpfs and PrivateTmp=yes)",
      "cache lan: the system services cannot read its signingKeyFile /root/cache-signing-key (they run with ProtectHome=tmpfs and PrivateTmp=yes)",
    ]);
    assert.match(r.stderr, /hint: hand the secret to the services as a credential \(LoadCredential=/);
    assert.deepEqual(readdirSync(join(ns.upper, "etc")), ["genpush"], "the dry run wrote nothing in /etc");
    assert.deepEqual(readdirSync(home), [], "nor in the user's home");
  });

  test("root's `genpush units install --system` refuses the same configuration: exit 2, every reason, no unit written", async () => {
    const ns = isolated(`mkdir -p /etc/genpush && printf '%s' '${config}' >/etc/genpush/config.yaml`);
    const r = await ns.genpush(["units", "install", "--system"], { as: "root", env: { HOME: tempDir() } });
    assert.equal(r.exitCode, 2, explain(r));
    assert.match(
      r.stderr,
      /units that run genpush could never work: (the system services cannot see (genpush|node) .*; )*profile admin .*; cache lan: the system services cannot read its signingKeyFile \/root\/cache-signing-key/,
    );
    assert.match(r.stderr, /hint: .*LoadCredential=/);
    assert.equal(existsSync(join(ns.upper, "etc", "systemd")), false, "no unit written");
  });

  test("the units of a dry run are units systemd takes (systemd-analyze verify)", async () => {
    const ns = isolated(`mkdir -p /etc/genpush && printf '%s' '${config}' >/etc/genpush/config.yaml`);
    const r = await ns.genpush(["units", "install", "--system", "--dry-run"], { as: "root", env: { HOME: tempDir() } });
    assert.equal(r.exitCode, 0, explain(r));
    const dir = tempDir("genpush-units-");
    const names: string[] = [];
    for (const part of r.stdout.split(/^# \/etc\/systemd\/system\//m).slice(1)) {
      const name = part.slice(0, part.indexOf("\n"));
      writeFileSync(join(dir, name), part.slice(name.length + 1).replace(/^# then:[\s\S]*$/m, ""));
      names.push(join(dir, name));
    }
    const verify = await execa("systemd-analyze", ["verify", ...names.filter((n) => n.endsWith(".service"))], {
      reject: false,
      env: { ...process.env, SYSTEMD_LOG_LEVEL: "warning" },
    });
    assert.equal(verify.exitCode, 0, `${verify.stdout}\n${verify.stderr}`);
  });
});

describe("an unsigned push to a binary cache (item 6)", () => {
  test("`genpush push --to file://…` says once that the cache gets unsigned paths; its command makes the key that signs them", async (t) => {
    const s = await scenario({ paths: 4, changed: 2 });
    t.after(() => s.destroy());
    const home = tempDir("genpush-home-");
    const env = { ...nixEnv, HOME: home, STATE_DIRECTORY: join(home, "state"), GENPUSH_CONFIG: "" };
    const cwd = tempDir("genpush-cwd-");
    const push = (...args: string[]) =>
      execa(process.execPath, [cli, "push", "--profile-path", s.profile, ...args], { env, cwd, reject: false });
    const unsignedUrl = `file://${join(tempDir(), "unsigned")}`;
    const g1 = s.switchTo(0);
    const first = await push("--to", unsignedUrl);
    assert.equal(first.exitCode, 0, `${first.stdout}\n${first.stderr}`);
    assert.match(first.stdout, /^pushed /m);
    const warning =
      /^warning: cache (\S+) \(file:\/\/\S+\) has no signing key: the paths pushed there are unsigned, and Nix refuses to substitute them \("lacks a valid signature"\) unless a machine sets require-sigs = false$/m.exec(
        first.stderr,
      );
    assert.ok(warning, first.stderr);
    const hint =
      /^ {2}hint: make a key pair once, `([^`]+)`, then push with `--signing-key ([^`]+)`, and add the public key \(([^)]+)\) to trusted-public-keys where the cache is used$/m.exec(
        first.stderr,
      );
    assert.ok(hint, first.stderr);
    // What a machine substituting from it sees.
    const refused = pullIntoFreshStore(
      unsignedUrl,
      g1.storePath,
      "nobody-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    );
    assert.equal(refused.ok, false);
    assert.match(refused.stderr, /lacks a valid signature/);
    // Once: the next push to that cache (a switch) says nothing of it.
    const g2 = s.switchTo(1);
    const again = await push("--to", unsignedUrl);
    assert.equal(again.exitCode, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /signing key/);

    // The hint's command, as typed, in the directory the user was in.
    const [command, ...words] = (hint[1] as string).split(" ");
    const made = await execa(command as string, words, { cwd, env, reject: false });
    assert.equal(made.exitCode, 0, made.stderr);
    const signedUrl = `file://${join(tempDir(), "signed")}`;
    const signed = await push("--to", signedUrl, "--signing-key", hint[2] as string);
    assert.equal(signed.exitCode, 0, signed.stderr);
    assert.doesNotMatch(signed.stderr, /signing key/);
    const publicKey = readFileSync(join(cwd, hint[3] as string), "utf8").trim();
    const pulled = pullIntoFreshStore(signedUrl, g2.storePath, publicKey);
    assert.ok(pulled.ok, pulled.stderr);
  });
});

describe("a user with root's configuration and state (item 7)", () => {
  /** Root's configuration, its 0600 signing key, and a profile and file:// cache anyone may read. */
  function rootsMachine() {
    const key = makeKey(`genpush-root-${newSeed()}`);
    const profile = join(openDir("genpush-profiles-"), "system");
    const cacheDir = join(openDir("genpush-cache-"), "cache");
    const config = `profiles:
  - name: system
    path: ${profile}
caches:
  - name: lan
    systems: [x86_64-linux]
    type: nix
    store: file://${cacheDir}
    signingKeyFile: /etc/genpush/cache-signing-key
`;
    const setup = [
      "mkdir -p /etc/genpush",
      `printf '%s' '${config}' >/etc/genpush/config.yaml`,
      `install -m 600 ${key.secretKeyFile} /etc/genpush/cache-signing-key`,
    ].join("\n");
    return { profile, cacheDir, setup };
  }

  test("`genpush --config /etc/genpush/config.yaml push` as a user: exit 2, the key is root's, `sudo` runs it; nothing pushed, no state", async () => {
    const machine = rootsMachine();
    const generation = buildGeneration({ seed: newSeed(), paths: 4, changed: 1, version: 1 });
    switchProfile(machine.profile, generation.storePath);
    const ns = isolated(machine.setup);
    const home = openDir("genpush-nobody-home-");
    chownSync(home, 65534, 65534);
    const r = await ns.genpush(["--config", "/etc/genpush/config.yaml", "push"], { env: { HOME: home } });
    assert.equal(r.exitCode, 2, explain(r));
    assert.equal(
      r.stderr,
      "error: /etc/genpush/config.yaml:9: caches[0].signingKeyFile: cannot read /etc/genpush/cache-signing-key (permission denied): it belongs to root, and genpush runs as nobody\n" +
        "  hint: /etc/genpush/config.yaml looks like root's configuration: run genpush as root (`sudo genpush --config /etc/genpush/config.yaml push`), or use a configuration of your own (--config FILE)",
    );
    assert.equal(r.stdout, "");
    assert.equal(existsSync(machine.cacheDir), false, "nothing pushed");
    assert.equal(existsSync(join(home, ".local")), false, "no state of the user's");
    assert.deepEqual(readdirSync(join(ns.upper, "var-lib")), [], "nor of root's");

    // The hint's command, as root runs it (sudo is root here): it pushes.
    const hinted = /`sudo genpush ([^`]+)`/.exec(r.stderr);
    assert.ok(hinted, r.stderr);
    const root = await ns.genpush((hinted[1] as string).split(" "), { as: "root", env: { HOME: tempDir() } });
    assert.equal(root.exitCode, 0, explain(root));
    assert.match(root.stdout, /^pushed /m);
    assert.ok(existsSync(join(ns.upper, "var-lib", "genpush", "profiles", "system.json")), "root's state records it");
  });

  test("`genpush push --config /etc/genpush/config.yaml` as a user who cannot read it (0600, or in a directory of root's 0700): exit 2, whose it is, `sudo`", async () => {
    for (const [where, prepare, whose] of [
      ["/etc/genpush/config.yaml", "chmod 600 /etc/genpush/config.yaml", "it"],
      [
        "/etc/genpush/private/config.yaml",
        "mkdir -m 700 /etc/genpush/private && cp /etc/genpush/config.yaml /etc/genpush/private/",
        "/etc/genpush/private",
      ],
    ] as const) {
      const machine = rootsMachine();
      const ns = isolated(`${machine.setup}\n${prepare}`);
      const home = openDir("genpush-nobody-home-");
      chownSync(home, 65534, 65534);
      const r = await ns.genpush(["push", "--config", where], { env: { HOME: home } });
      assert.equal(r.exitCode, 2, explain(r));
      assert.equal(
        r.stderr,
        `error: cannot read configuration file ${where} (permission denied): ${whose} belongs to root, and genpush runs as nobody\n` +
          `  hint: it looks like root's configuration: run genpush as root (\`sudo genpush push --config ${where}\`), or use a configuration of your own (--config FILE)`,
      );
      assert.equal(r.stdout, "");
      assert.deepEqual(readdirSync(home), [], "nothing written in the user's home");
    }
  });

  test("`GENPUSH_CONFIG=/etc/genpush/config.yaml genpush status` as a user after root pushed: one line on root's state and `sudo genpush status`", async () => {
    const machine = rootsMachine();
    const generation = buildGeneration({ seed: newSeed(), paths: 4, changed: 1, version: 1 });
    switchProfile(machine.profile, generation.storePath);
    const ns = isolated(machine.setup);
    const pushed = await ns.genpush(["push"], { as: "root", env: { HOME: tempDir() } });
    assert.equal(pushed.exitCode, 0, explain(pushed));

    const home = openDir("genpush-nobody-home-");
    chownSync(home, 65534, 65534);
    const r = await ns.genpush(["status"], { env: { HOME: home, GENPUSH_CONFIG: "/etc/genpush/config.yaml" } });
    assert.equal(r.exitCode, 0, explain(r));
    assert.match(r.stdout, /^ {2}lan: PENDING, never pushed$/m, "the user's own state: nothing of root's pushes");
    const notes = r.stdout.split("\n").filter((line) => line.includes("/var/lib/genpush"));
    assert.deepEqual(notes, [
      `system: no record in ${home}/.local/state/genpush; root's genpush keeps its state in /var/lib/genpush: \`sudo genpush status\` shows it`,
    ]);
    assert.equal(existsSync(join(home, ".local")), false, "status made no state of the user's");

    // What the hint shows: root's record of the push.
    const root = await ns.genpush(["status"], { as: "root", env: { HOME: tempDir() } });
    assert.equal(root.exitCode, 0, explain(root));
    assert.match(root.stdout, /^ {2}lan: up to date, last pushed generation 1 /m);
    assert.doesNotMatch(root.stdout, /keeps its state/);

    // No note where root has no record of the profile.
    const empty = isolated(rootsMachine().setup);
    const none = await empty.genpush(["status"], {
      env: { HOME: home, GENPUSH_CONFIG: "/etc/genpush/config.yaml" },
    });
    assert.equal(none.exitCode, 0, explain(none));
    assert.doesNotMatch(none.stdout, /var\/lib\/genpush/);
  });

  test("`genpush status` as a user with no configuration of their own: exit 2, root's is /etc/genpush/config.yaml and `sudo genpush status` uses it", async () => {
    const ns = isolated(rootsMachine().setup);
    const home = openDir("genpush-nobody-home-");
    chownSync(home, 65534, 65534);
    const r = await ns.genpush(["status"], { env: { HOME: home } });
    assert.equal(r.exitCode, 2, explain(r));
    assert.match(
      r.stderr,
      new RegExp(`^error: configuration file ${home}/\\.config/genpush/config\\.yaml does not exist$`, "m"),
    );
    assert.match(
      r.stderr,
      /^ {2}hint: root's configuration is \/etc\/genpush\/config\.yaml: `sudo genpush status` uses it; or name the store on the command line instead/m,
    );
    assert.deepEqual(readdirSync(home), []);
    // Without root's configuration, no word of it.
    const bare = await isolated(":").genpush(["status"], { env: { HOME: home } });
    assert.equal(bare.exitCode, 2, explain(bare));
    assert.doesNotMatch(bare.stderr, /root's/);
  });
});

describe("a parse cache the user cannot look into", () => {
  test("`genpush --config FILE config check` with ~/.cache unsearchable, or ~/.cache/genpush root's (left by sudo): parses afresh, exit 0", async () => {
    for (const variant of ["~/.cache mode 0000", "~/.cache/genpush root's 0700"]) {
      const home = openDir("genpush-nobody-home-");
      chownSync(home, 65534, 65534);
      const file = join(home, "config.yaml");
      writeFileSync(
        file,
        "caches:\n  - name: lan\n    systems: [x86_64-linux]\n    type: nix\n    store: file:///tmp/genpush-nowhere\n",
      );
      chownSync(file, 65534, 65534);
      const cache = join(home, ".cache");
      mkdirSync(join(cache, "genpush"), { recursive: true });
      if (variant.startsWith("~/.cache mode")) {
        chownSync(join(cache, "genpush"), 65534, 65534);
        chownSync(cache, 65534, 65534);
        chmodSync(cache, 0o000);
      } else {
        chownSync(cache, 65534, 65534);
        chmodSync(join(cache, "genpush"), 0o700);
      }
      const ns = isolated(":");
      for (const run of [1, 2]) {
        const r = await ns.genpush(["--config", file, "config", "check"], { env: { HOME: home } });
        assert.equal(r.exitCode, 0, `${variant}, run ${run}: ${explain(r)}`);
        assert.match(r.stdout, /lan/, variant);
        // Warnings of the configuration itself (no signing key), none of the cache.
        assert.doesNotMatch(r.stderr, /^error|internal error|EACCES|\.cache/m, variant);
      }
      chmodSync(cache, 0o755);
      assert.deepEqual(readdirSync(join(cache, "genpush")), [], `${variant}: no parse cache written`);
    }
  });
});
