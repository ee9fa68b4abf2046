// Caches that are not open to everyone, against the real nginx: one that answers 403 to any
// request without its credential (the credential comes from Nix's netrc, as for `nix copy`),
// and one served over https with a certificate from a private CA that Nix is told to trust.
// genpush must trust and authenticate exactly as Nix does: send the netrc credential from the
// first request on (a 403 is then a refusal, never "not there"), and trust Nix's CA bundle; and
// send a credential only to the host netrc names it for, as curl does: a narinfo whose `URL:`
// places the NAR on another host never gets that host the cache's credential.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { test } from "node:test";
import { missingFromCache } from "../faults/lib/ledger.js";
import { explain, runGenpush } from "./harness/cli.js";
import { scenario } from "./harness/fixture.js";
import { startCache } from "./harness/nginx.js";
import { newSeed, tempDir } from "./harness/nix.js";

function netrcFor(login: { user: string; password: string }, host = "127.0.0.1", more = ""): string {
  const file = join(tempDir(), "netrc");
  writeFileSync(file, `machine ${host}\n  login ${login.user}\n  password ${login.password}\n${more}`);
  chmodSync(file, 0o600);
  return file;
}

const nixConfig = (lines: string[]) => ({ NIX_CONFIG: ["experimental-features = nix-command", ...lines].join("\n") });

test("a private cache (403 without its credential): netrc is sent from the first request; nothing is uploaded twice", async (t) => {
  const login = { user: "reader", password: `pw-${newSeed()}` };
  const cache = await startCache({ privateLogin: login });
  const s = await scenario({ paths: 12, changed: 3, sign: true });
  t.after(async () => {
    await cache.destroy();
    await s.destroy();
  });
  s.config.caches[0].store = cache.url;
  const config = s.configFile();
  const env = nixConfig([`netrc-file = ${netrcFor(login)}`]);
  const gen = s.switchTo(0);

  const pushed = await s.run("push", "--json");
  assert.equal(pushed.code, 1, "the scenario's own run has no netrc: refused");
  const first = await runWith(config, env, "push", "--json");
  assert.equal(first.code, 0, explain(first));
  assert.deepEqual(missingFromCache(cache.dir, gen.closure), []);
  await cache.clearLog();

  // A fresh process asks the cache about the whole closure: everything is there.
  const verify = await runWith(config, env, "verify", "--repair", "--json");
  assert.equal(verify.code, 0, explain(verify));
  const [report] = verify.json.profiles[0].caches;
  assert.equal(report.status, "complete", explain(verify));
  assert.deepEqual(report.missing, []);
  const requests = await cache.requests();
  assert.equal(requests.filter((r) => r.method === "PUT").length, 0, "verify --repair uploaded nothing");
  assert.equal(requests.filter((r) => r.status === 403).length, 0, "no request went without the credential");

  // A wrong password: a 403 to a request that carried a credential is a refusal, not "missing".
  const wrong = nixConfig([`netrc-file = ${netrcFor({ user: login.user, password: "not-it" })}`]);
  const refused = await runWith(config, wrong, "verify", "--json");
  assert.equal(refused.code, 1, explain(refused));
  const [failed] = refused.json.profiles[0].caches;
  assert.equal(failed.status, "failed", explain(refused));
  assert.match(failed.error.message, /refused authentication \(HTTP 403/);
  assert.ok(!`${refused.stdout}${refused.stderr}`.includes("not-it"), "the password never shows");
});

test("an https cache with a private CA: trusted through NIX_SSL_CERT_FILE, as Nix trusts it", async (t) => {
  const pki = tempDir();
  const ca = privateCa(pki);
  const cache = await startCache({ tls: serverCertificate(pki, ca) });
  const s = await scenario({ paths: 10, changed: 2, sign: true });
  t.after(async () => {
    await cache.destroy();
    await s.destroy();
  });
  s.config.caches[0].store = cache.url;
  const config = s.configFile();
  const gen = s.switchTo(0);

  const untrusted = await runWith(config, { NIX_SSL_CERT_FILE: privateCa(tempDir()).cert }, "push", "--json");
  assert.equal(untrusted.code, 1, explain(untrusted));
  assert.match(
    untrusted.json.results[0].error.message,
    /cache local is unreachable at https:\/\/127\.0\.0\.1:\d+: .*certificate/,
  );

  const r = await runWith(config, { NIX_SSL_CERT_FILE: ca.cert }, "push", "--json");
  assert.equal(r.code, 0, explain(r));
  assert.equal(r.json.results[0].status, "pushed", explain(r));
  assert.deepEqual(missingFromCache(cache.dir, gen.closure), []);
});

test("a narinfo that places its NAR on another host: that host never gets the cache's credential, only its own", async (t) => {
  const login = { user: "reader", password: `pw-${newSeed()}` };
  const cache = await startCache({ privateLogin: login });
  const s = await scenario({ paths: 6, changed: 1, sign: true });
  // Another host (127.0.0.2 is another host name than 127.0.0.1) holding the cache's NARs,
  // keeping the Authorization header of every request it gets.
  const seen: (string | undefined)[] = [];
  const other = http.createServer((req, res) => {
    seen.push(req.headers.authorization);
    const file = join(cache.dir, (req.url ?? "/").replace(/^\/+/, ""));
    res.writeHead(existsSync(file) ? 200 : 404).end();
  });
  await new Promise<void>((ok) => other.listen(0, "127.0.0.2", ok));
  const address = other.address();
  const origin = `http://127.0.0.2:${typeof address === "object" && address ? address.port : 0}`;
  t.after(async () => {
    await new Promise((ok) => other.close(ok));
    await cache.destroy();
    await s.destroy();
  });
  s.config.caches[0].store = cache.url;
  const config = s.configFile();
  const env = nixConfig([`netrc-file = ${netrcFor(login)}`]);
  s.switchTo(0);
  const pushed = await runWith(config, env, "push", "--json");
  assert.equal(pushed.code, 0, explain(pushed));

  // Every narinfo now names its NAR by an absolute URL on the other host (Nix fetches it as given).
  for (const name of readdirSync(cache.dir).filter((n) => n.endsWith(".narinfo"))) {
    const file = join(cache.dir, name);
    writeFileSync(file, readFileSync(file, "utf8").replace(/^URL: /m, `URL: ${origin}/`));
  }
  const verify = await runWith(config, env, "verify", "--json");
  assert.equal(verify.code, 0, explain(verify));
  assert.equal(verify.json.profiles[0].caches[0].status, "complete", explain(verify));
  assert.equal(seen.length, 6, `the other host was asked about each NAR: ${seen.length} requests`);
  assert.deepEqual(
    seen.filter((value) => value !== undefined),
    [],
    "the other host got no credential",
  );
  const requests = await cache.requests();
  assert.equal(requests.filter((r) => r.status === 403).length, 0, "the cache got its credential");

  // With an entry of its own in netrc, the other host gets that one (as curl sends it), never the cache's.
  const own = { user: "mirror", password: `pw-${newSeed()}` };
  const both = nixConfig([
    `netrc-file = ${netrcFor(login, "127.0.0.1", `machine 127.0.0.2\n  login ${own.user}\n  password ${own.password}\n`)}`,
  ]);
  seen.length = 0;
  const again = await runWith(config, both, "verify", "--json");
  assert.equal(again.code, 0, explain(again));
  const ownHeader = `Basic ${Buffer.from(`${own.user}:${own.password}`).toString("base64")}`;
  assert.deepEqual(new Set(seen), new Set([ownHeader]), "the other host got its own credential only");
  assert.ok(!`${again.stdout}${again.stderr}`.includes(own.password), "its password never shows");
});

function runWith(config: string, env: NodeJS.ProcessEnv, ...args: string[]) {
  return runGenpush(args, { config, env });
}

interface Pem {
  cert: string;
  key: string;
}

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** A CA of the test's own. */
function privateCa(dir: string): Pem {
  const ca = { cert: join(dir, "ca.pem"), key: join(dir, "ca.key") };
  openssl(
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=genpush test CA"].concat([
      "-keyout",
      ca.key,
      "-out",
      ca.cert,
    ]),
  );
  return ca;
}

/** A certificate for 127.0.0.1 signed by `ca`. */
function serverCertificate(dir: string, ca: Pem): Pem {
  const server = { cert: join(dir, "server.pem"), key: join(dir, "server.key") };
  const csr = join(dir, "server.csr");
  const ext = join(dir, "server.ext");
  writeFileSync(ext, "subjectAltName = IP:127.0.0.1\n");
  openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", server.key, "-out", csr]);
  openssl(
    ["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial", "-days", "2"].concat([
      "-extfile",
      ext,
      "-out",
      server.cert,
    ]),
  );
  return server;
}
