// Secrets after runs with known tokens: the nix cache's signing key (harness nginx), an Attic
// token (fake server + stand-in client), a Cachix token and signing key (fake API + stand-in),
// through pushes in every log format, a run whose clients print their secrets and fail, verify,
// status, diff and config check. None of them may appear in anything genpush printed, in the
// state directory, in any argv or stdin a client got, or in the argv or environment of any
// program genpush ran (nix, nix-store, the compressors, systemd-inhibit, the clients, and what
// those ran), except CACHIX_AUTH_TOKEN / CACHIX_SIGNING_KEY of the cachix client and its own
// children. Every such program is reached through a logging shim first on PATH (lib/shims.ts):
// a process too short-lived for any sampling of /proc (a compressor of one small NAR) is logged
// all the same, and each program the runs must have started is asserted to have been logged.
// And a secret file readable by others yields a warning naming it and the chmod to run.
// Then a cache whose error pages echo the Authorization header, written to by `nix copy` with
// a netrc credential: the credential in no form anywhere genpush writes, nor in nix copy's argv
// or environment. And the clients' bounds, which keep a hostile client or server from holding
// genpush: an upload the server never answers, and a client that never stops printing.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { FakeAtticServer, startAtticServer } from "../integration/fakes/attic-server.js";
import { startCachixServer } from "../integration/fakes/cachix-server.js";
import type { Incoming, Reply } from "../integration/fakes/http-fake.js";
import { installStandin } from "../integration/fakes/standins.js";
import { secretFile, token } from "../integration/fakes/util.js";
import { cliEntry, explain, runGenpush } from "../integration/harness/cli.js";
import { scenario } from "../integration/harness/fixture.js";
import { tempDir } from "../integration/harness/nix.js";
import { chattyClient, leakyClients, startEchoingCache } from "./lib/leaky.js";
import { Ledger, summary } from "./lib/ledger.js";
import { startGenpush } from "./lib/proc.js";
import { type Call, hostShims, which } from "./lib/shims.js";

/** Every file under `dir` (symlink targets too), as text. */
function treeText(dir: string): string {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => {
      const path = join(dir, name);
      const info = lstatSync(path);
      if (info.isSymbolicLink()) return `${path} -> ${readlinkSync(path)}`;
      return info.isFile() ? `${path}\n${readFileSync(path, "utf8")}` : path;
    })
    .join("\n");
}

/** A call's argv and environment as one text, without the variables `allowed` names. */
function callText(call: Call, allowed: (name: string) => boolean = () => false): string {
  const env = call.env.filter((entry) => !allowed(entry.slice(0, entry.indexOf("="))));
  return [call.name, ...call.args, ...env].join("\n");
}

const runLabel = (call: Call, i: number) =>
  `argv and environment of program run ${i + 1} (${[call.name, ...call.args.slice(0, 3)].join(" ")})`;

/** genpush itself (node running src/cli.ts): a call it made directly. */
const byGenpush = (call: Call) => call.parent.includes(cliEntry);

test("no secret in argv, environments, logs, errors, --json or the state directory", async (t) => {
  const s = await scenario({ paths: 10, changed: 2, sign: true });
  const secrets = { attic: token(), cachix: token(), cachixKey: randomBytes(64).toString("base64") };
  const attic = await startAtticServer({ cache: "fort-arm", token: secrets.attic });
  const cachix = await startCachixServer({ cache: "modular-workspace", token: secrets.cachix });
  t.after(async () => {
    await attic.stop();
    await cachix.stop();
    await s.destroy();
  });
  const nixKey =
    readFileSync(s.key?.secretKeyFile ?? "", "utf8")
      .trim()
      .split(":")[1] ?? "";
  assert.ok(nixKey, "the scenario's signing key has a secret part");
  const all = [secrets.attic, secrets.cachix, secrets.cachixKey, nixKey];
  const [atticBin, cachixBin] = [installStandin("attic"), installStandin("cachix")];
  // The clients are found on PATH, where their shims are.
  const shims = hostShims({ attic: atticBin.path, cachix: cachixBin.path });
  const atticTokenFile = secretFile(secrets.attic);
  const caches = {
    arm: {
      name: "arm",
      type: "attic",
      systems: ["x86_64-linux"],
      endpoint: attic.url,
      cache: "fort-arm",
      tokenFile: atticTokenFile,
    } as Record<string, unknown>,
    public: {
      name: "public",
      type: "cachix",
      systems: ["x86_64-linux"],
      cache: "modular-workspace",
      tokenFile: secretFile(secrets.cachix),
      signingKeyFile: secretFile(secrets.cachixKey),
      endpoint: cachix.url,
    } as Record<string, unknown>,
  };
  s.config.caches.push(caches.arm, caches.public);
  const books = new Ledger("secrets");
  const said: Record<string, string> = {};
  const run = async (what: string, args: string[], expect: number) => {
    const result = await startGenpush(s.configFile(), args, { PATH: shims.path }).result();
    said[what] = `${result.stdout}\n${result.stderr}`;
    assert.equal(result.code, expect, `${what}\n${said[what]}`);
    if (args[0] === "push" && args.includes("--json")) books.reported(result.json);
    return result;
  };
  let version = 0;
  const switchNext = () => {
    const gen = s.switchTo(version++);
    books.switchedTo({ ...gen, label: `test generation ${version}` });
  };

  switchNext();
  await run("push --json", ["push", "--json"], 0);
  switchNext();
  await run("push --log-format json -v", ["--log-format", "json", "-v", "push"], 0);

  // Clients that print their secrets and fail (configured by path: shims of their own).
  switchNext();
  const leaky = leakyClients();
  Object.assign(caches.arm, { atticPath: shims.wrap("attic", leaky.attic) });
  Object.assign(caches.public, { cachixPath: shims.wrap("cachix", leaky.cachix) });
  books.fault("clients that print their tokens and fail");
  const failed = await run("push with leaky clients", ["push", "--json"], 1);
  const errors = failed.json.results.filter((r: { status: string }) => r.status === "failed");
  assert.equal(errors.length, 2, said["push with leaky clients"]);
  for (const e of errors) assert.match(e.error.message, /\[secret\]/, "the client's words are quoted, scrubbed");
  delete caches.arm.atticPath;
  delete caches.public.cachixPath;
  await run("push --log-format journal", ["--log-format", "journal", "push"], 0);
  await run("verify --repair --json", ["verify", "--profile", "test", "--repair", "--json"], 0);
  await run("status --json", ["status", "--json"], 0);
  await run("diff --json", ["diff", "--profile", "test", "--json"], 0);
  await run("config check --json", ["config", "check", "--json"], 0);

  // A secret file others may read: a warning naming it and the chmod to run.
  chmodSync(atticTokenFile, 0o644);
  books.fault("a token file with mode 0644");
  const open = await run("push with a 0644 token file", ["push"], 0);
  chmodSync(atticTokenFile, 0o600);
  assert.ok(open.stderr.includes(`chmod 600 ${atticTokenFile}`), `warning with the chmod to run:\n${open.stderr}`);
  assert.match(open.stderr, /^warning: .*caches\[1\]\.tokenFile: the secret .* may be read by anyone \(mode 0644\)/m);

  said["the state directory"] = treeText(s.stateDir);
  for (const [i, call] of [...atticBin.calls(), ...cachixBin.calls()].entries()) {
    said[`argv, stdin and output of client call ${i + 1}`] = [...call.argv, call.stdin, ...call.printed].join("\n");
  }
  // The cachix client is handed its token and key in its environment, and what it runs inherits them.
  const calls = shims.calls();
  const cachixRun = (call: Call) => call.name === "cachix" || /\/cachix$/.test(call.parent[1] ?? "");
  const cachixOwn = (name: string) => name === "CACHIX_AUTH_TOKEN" || name === "CACHIX_SIGNING_KEY";
  for (const [i, call] of calls.entries()) {
    said[runLabel(call, i)] = callText(call, (name) => cachixRun(call) && cachixOwn(name));
  }
  const leaks = Object.entries(said).flatMap(([where, text]) =>
    all.filter((secret) => text.includes(secret)).map((secret) => `${where}: ${secret.slice(0, 8)}…`),
  );
  assert.deepEqual(leaks, []);

  // The checks saw what they claim to: each program genpush runs, run and logged.
  const ran = (name: string, how: (call: Call) => boolean = () => true) =>
    calls.filter((call) => call.name === name && how(call)).length;
  const counts: Record<string, number> = {
    "nix path-info by genpush": ran("nix", (c) => byGenpush(c) && c.args.includes("path-info")),
    "nix-store by genpush": ran("nix-store", byGenpush),
    "xz by genpush (a NAR compressed)": ran("xz", byGenpush),
    "attic by genpush": ran("attic", byGenpush),
    "cachix by genpush": ran("cachix", byGenpush),
    "nix-store by a client": ran("nix-store", (c) => !byGenpush(c)),
    // genpush asks logind only on a machine booted with systemd (the e2e suite's inhibitor test).
    ...(which("systemd-inhibit") && existsSync("/run/systemd/system")
      ? { "systemd-inhibit by genpush": ran("systemd-inhibit", byGenpush) }
      : {}),
  };
  t.diagnostic(`programs run: ${JSON.stringify(counts)}; ${calls.length} in all`);
  assert.deepEqual(
    Object.entries(counts).filter(([, n]) => n === 0),
    [],
    "programs genpush runs that no shim logged",
  );
  assert.ok(
    calls.some((c) => c.name === "cachix" && c.env.includes(`CACHIX_AUTH_TOKEN=${secrets.cachix}`)),
    "the cachix client was logged with its token in its environment",
  );
  t.diagnostic(`${Object.keys(said).length} texts checked`);
  t.diagnostic(summary(books.settle(s.cache.dir, { cacheUrl: s.cache.url, publicKey: s.key?.publicKey })));
});

test("a cache that echoes the Authorization header to nix copy: the netrc credential never shows", async (t) => {
  const s = await scenario({ paths: 6, changed: 2 });
  const echo = await startEchoingCache();
  t.after(async () => {
    await echo.close();
    await s.destroy();
  });
  const login = "genpush-test";
  const password = randomBytes(12).toString("base64url");
  const base64 = Buffer.from(`${login}:${password}`).toString("base64");
  const forms = { password, base64, basic: `Basic ${base64}` };
  const netrc = join(tempDir("genpush-netrc-"), "netrc");
  writeFileSync(netrc, `machine 127.0.0.1\n  login ${login}\n  password ${password}\n`, { mode: 0o600 });
  // A setting genpush's own uploader does not implement: the upload goes through `nix copy`.
  s.config.caches[0].store = `${echo.url}?write-nar-listing=true`;
  const config = s.configFile();
  // Nix's own retries of a refused upload (download-attempts) add nothing here but time.
  const shims = hostShims();
  const env = {
    NIX_CONFIG: `experimental-features = nix-command\nnetrc-file = ${netrc}\ndownload-attempts = 1`,
    PATH: shims.path,
  };
  s.switchTo(0);

  const said: Record<string, string> = {};
  for (const args of [
    ["push", "--json"],
    ["--log-format", "json", "push"],
    ["--log-format", "journal", "push"],
  ]) {
    const r = await runGenpush(args, { config, env });
    said[args.join(" ")] = `${r.stdout}\n${r.stderr}`;
    assert.equal(r.code, 1, explain(r));
    if (r.json) {
      assert.match(r.json.results[0].error.message, /HTTP error 500/, "the server's refusal is what is reported");
    }
  }
  const status = await runGenpush(["status", "--json"], { config, env });
  said["status --json"] = `${status.stdout}\n${status.stderr}`;
  said["the state directory"] = treeText(s.stateDir);
  const calls = shims.calls();
  for (const [i, call] of calls.entries()) said[runLabel(call, i)] = callText(call);
  assert.ok(
    calls.some((c) => c.name === "nix" && byGenpush(c) && c.args.includes("copy")),
    "nix copy was run, and logged",
  );

  // The credential went out and came back in the server's words: there was something to leak.
  assert.ok(echo.putAuthorizations.length > 0, "nix copy uploaded");
  assert.ok(
    echo.putAuthorizations.every((value) => value === forms.basic),
    "with the netrc credential",
  );
  const leaks = Object.entries(said).flatMap(([where, text]) =>
    Object.entries(forms)
      .filter(([, secret]) => text.includes(secret))
      .map(([form]) => `${where}: the ${form}`),
  );
  assert.deepEqual(leaks, []);
});

/** The fake Attic, holding every upload unanswered. */
class SilentUploads extends FakeAtticServer {
  held = 0;
  protected override route(req: Incoming): Reply | Promise<Reply> {
    if (req.method !== "PUT") return super.route(req);
    this.held++;
    return new Promise<Reply>(() => {});
  }
}

test("an upload the cache never answers, a client that never stops printing: each run stopped at its bound", async (t) => {
  const s = await scenario({ paths: 6, changed: 2 });
  const secret = token();
  // Queries are answered; an upload is read and never answered. The stand-in attic has no
  // time-out of its own: only genpush's bound ends its run.
  const attic = await new SilentUploads({ cache: "fort-arm", token: secret }).start();
  t.after(async () => {
    await attic.stop();
    await s.destroy();
  });
  const standin = installStandin("attic");
  const cache = {
    name: "arm",
    type: "attic",
    systems: ["x86_64-linux"],
    endpoint: attic.url,
    cache: "fort-arm",
    tokenFile: secretFile(secret),
    atticPath: standin.path,
    timeoutSeconds: 1,
  };
  s.config.caches = [cache];
  const config = s.configFile();
  s.switchTo(0);

  const started = Date.now();
  const hung = await runGenpush(["push", "--json"], { config });
  const ms = Date.now() - started;
  assert.equal(hung.code, 1, explain(hung));
  const [result] = hung.json.results;
  const said = /cache arm: attic push of 6 paths did not finish within (\d+) s/.exec(result.error.message);
  assert.ok(said, explain(hung));
  // 5 timeoutSeconds, 0.1 s a path, the NAR bytes at 64 KiB/s.
  const limit = Math.ceil(5 * 1 + 6 * 0.1 + result.narBytes / (64 * 1024));
  assert.equal(Number(said[1]), limit);
  const tries = attic.held;
  assert.ok(tries >= 1, "an upload was held");
  // Each try: its limit, SIGTERM's grace; between tries at most 0.5 + 1 + 2 + 4 s; and a start.
  const bound = tries * (limit + 5) * 1000 + 7_500 + 15_000;
  assert.ok(ms >= limit * 1000 && ms < bound, `ended after ${ms} ms, ${tries} tries, bound ${bound} ms`);
  t.diagnostic(`hung upload: stopped after ${ms} ms (${tries} tries of at most ${limit} s)`);

  // A client that prints without end is stopped at 16 MiB, long before its time limit; what
  // is quoted of it is its end, a few hundred characters.
  const chattyAttic = chattyClient();
  Object.assign(cache, { atticPath: chattyAttic.path });
  const chatty = await runGenpush(["push", "--json"], { config: s.configFile() });
  assert.equal(chatty.code, 1, explain(chatty));
  const { message } = chatty.json.results[0].error;
  assert.match(
    message,
    /^cache arm: attic push of 6 paths printed more than 16 MiB and was stopped: \.\.\.[a-z ]*progress/,
  );
  assert.ok(message.length < 600, `quoted ${message.length} characters`);
  assert.ok(chatty.stderr.length < 10_000, `printed ${chatty.stderr.length} characters on stderr`);
  // What it printed beyond what genpush read is what the pipe and its own stream buffer held.
  const printed = chattyAttic.printed();
  assert.ok(printed > 16 << 20 && printed < 20 << 20, `the client printed ${printed} bytes before it was stopped`);
  t.diagnostic(`chatty client: stopped after printing ${printed} bytes`);
});
