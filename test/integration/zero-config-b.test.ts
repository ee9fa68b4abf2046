// The zero-configuration path as a user meets it (issue 27, items 6-8): the command line as
// typed, run by the built CLI as a real unprivileged user (nobody, through setpriv) or as
// root, its exit code, its message, and what it left on disk. Root's own files
// (/etc/genpush/config.yaml, /var/lib/genpush, /etc/systemd/system) are made in a mount
// namespace of the test's own, over overlays of /etc and /var/lib, so the machine's stay as
// they are.
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { execa } from "execa";
import { repoRoot } from "./harness/cli.js";
import { scenario } from "./harness/fixture.js";
import { nixEnv, pullIntoFreshStore, tempDir } from "./harness/nix.js";

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
    const warnings = [...r.stderr.matchAll(/^warning: these units could never work: (.*)$/gm)].map((m) => m[1]);
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
      /units that run genpush could never work: profile admin .*; cache lan: the system services cannot read its signingKeyFile \/root\/cache-signing-key/,
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
