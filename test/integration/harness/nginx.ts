// A real nginx WebDAV binary cache on 127.0.0.1, one per test (file), with an
// access log that counts every request: the honest request counter.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface Request {
  method: string;
  uri: string;
  status: number;
  bytes: number;
  /** the whole request as received (line, headers, body): what a client uploaded */
  received: number;
}

export interface Cache {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** the cache root on disk (holds nix-cache-info, *.narinfo, nar/) */
  dir: string;
  /** requests logged since the last clearLog() */
  requests(): Promise<Request[]>;
  /** forget the requests so far (once the log has settled) */
  clearLog(): Promise<void>;
  count(method: string, predicate?: (uri: string) => boolean): Promise<number>;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export const CACHE_INFO = "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n";

/** Any nginx still running when the process ends is killed (a failed test must not leak it). */
const running = new Set<string>();
const roots = new Set<string>();
function killAll(): void {
  for (const pidFile of running) {
    const pid = readPid(pidFile);
    try {
      // The daemon is a process group leader (setsid): kill the workers along with it.
      if (pid !== null) process.kill(-pid, "SIGKILL");
    } catch {}
  }
  running.clear();
  for (const root of roots) rmSync(root, { recursive: true, force: true });
}
process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAll();
    process.kill(process.pid, signal);
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function readPid(pidFile: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(pidFile, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** A zombie counts as gone: the daemon's parent is PID 1, which may reap it late. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, pollMs = 20): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(pollMs);
  }
}

/** nginx logs a request just after answering it: wait until `log` stops growing; its size then. */
export async function logSettled(log: string, pollMs = 30): Promise<number> {
  let size = statSync(log).size;
  for (;;) {
    await sleep(pollMs);
    const now = statSync(log).size;
    if (now === size) return size;
    size = now;
  }
}

export interface CacheOptions {
  /** Writes (PUT, DELETE) need HTTP basic authentication with this login; reads stay open. */
  writeLogin?: { user: string; password: string };
  /** Answer 403 for a file that is not there, as S3-style servers do. */
  missingIs403?: boolean;
  /** A private cache: every request without this login's basic credential is answered 403. */
  privateLogin?: { user: string; password: string };
  /** Serve https with this certificate and key (PEM files), e.g. signed by a private CA. */
  tls?: { cert: string; key: string };
  /** No WebDAV: a plain static server, which answers an upload (PUT) with 405. */
  readOnly?: boolean;
  /** WebDAV MKCOL too (`dav_methods PUT DELETE MKCOL`): hosts claim paths before uploading them. */
  claims?: boolean;
  /** With claims: a JSON index of claims/ (`autoindex on; autoindex_format json;`), as docs/fleet.md shows, for verify. */
  claimsIndex?: boolean;
}

export interface NginxConfigOptions extends CacheOptions {
  /** The access log's format (default: method, URI, status, body bytes sent). */
  logFormat?: string;
}

/** nginx serving `root`/cache as a WebDAV binary cache on loopback `port`, logging to `root`/access.log. */
export function nginxConfig(root: string, port: number, options: NginxConfigOptions = {}): string {
  const logFormat = options.logFormat ?? "$request_method $uri $status $body_bytes_sent $request_length";
  const auth = options.writeLogin
    ? ` limit_except GET HEAD { auth_basic "genpush test cache"; auth_basic_user_file ${root}/htpasswd; }`
    : "";
  // HEAD or GET of a file that is not there: 403. (PUT must still create files.)
  const basic = (login: { user: string; password: string }) =>
    Buffer.from(`${login.user}:${login.password}`).toString("base64");
  const privately = options.privateLogin
    ? ` if ($http_authorization != "Basic ${basic(options.privateLogin)}") { return 403; }`
    : "";
  const missing = options.missingIs403
    ? ' set $gone "$request_method"; if (!-e $request_filename) { set $gone "$gone-missing"; }' +
      ' if ($gone = "HEAD-missing") { return 403; } if ($gone = "GET-missing") { return 403; }'
    : "";
  return `daemon on;
user root;
worker_processes 1;
pid ${root}/nginx.pid;
error_log ${root}/error.log;
events {}
http {
  log_format counts '${logFormat}';
  access_log ${root}/access.log counts;
  client_body_temp_path ${root}/tmp;
  proxy_temp_path ${root}/tmp;
  fastcgi_temp_path ${root}/tmp;
  uwsgi_temp_path ${root}/tmp;
  scgi_temp_path ${root}/tmp;
  client_max_body_size 0;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:${port}${options.tls ? " ssl" : ""};${options.tls ? `\n    ssl_certificate ${options.tls.cert};\n    ssl_certificate_key ${options.tls.key};` : ""}
    root ${root}/cache;
    location / {${options.readOnly ? "" : ` dav_methods PUT DELETE${options.claims ? " MKCOL" : ""}; create_full_put_path on;`}${privately}${auth}${missing} }${
      options.claimsIndex
        ? `\n    location /claims/ { dav_methods PUT DELETE MKCOL; create_full_put_path on; autoindex on; autoindex_format json;${privately}${auth} }`
        : ""
    }
  }
}
`;
}

export async function startCache(options: CacheOptions = {}): Promise<Cache> {
  const root = mkdtempSync(join(tmpdir(), "genpush-nginx-"));
  roots.add(root);
  const dir = join(root, "cache");
  const log = join(root, "access.log");
  const pidFile = join(root, "nginx.pid");
  mkdirSync(dir);
  mkdirSync(join(root, "tmp"));
  writeFileSync(join(dir, "nix-cache-info"), CACHE_INFO);
  writeFileSync(log, "");
  const port = await freePort();
  const confFile = join(root, "nginx.conf");
  if (options.writeLogin) {
    writeFileSync(join(root, "htpasswd"), `${options.writeLogin.user}:{PLAIN}${options.writeLogin.password}\n`);
  }
  writeFileSync(confFile, nginxConfig(root, port, options));
  let offset = 0;

  const start = async (): Promise<void> => {
    execFileSync("nginx", ["-p", root, "-e", join(root, "error.log"), "-c", confFile], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    running.add(pidFile);
    await waitFor(`nginx on port ${port}`, () => portAnswers(port));
  };

  const stop = async (): Promise<void> => {
    const pid = readPid(pidFile);
    running.delete(pidFile);
    if (pid === null || !alive(pid)) return;
    process.kill(pid, "SIGTERM");
    await waitFor(`nginx ${pid} to exit`, async () => !alive(pid) && !(await portAnswers(port)));
  };

  const settled = () => logSettled(log);

  const requests = async (): Promise<Request[]> => {
    await settled();
    const text = readFileSync(log).subarray(offset).toString("utf8");
    return text
      .split("\n")
      .filter((line) => line.length > 0)
      .map((line) => {
        const [method = "", uri = "", status = "0", bytes = "0", received = "0"] = line.split(" ");
        return { method, uri, status: Number(status), bytes: Number(bytes), received: Number(received) };
      });
  };

  await start();
  return {
    url: `${options.tls ? "https" : "http"}://127.0.0.1:${port}`,
    port,
    dir,
    requests,
    clearLog: async () => {
      offset = await settled();
    },
    count: async (method, predicate = () => true) =>
      (await requests()).filter((r) => r.method === method && predicate(r.uri)).length,
    stop,
    start,
    destroy: async () => {
      await stop();
      rmSync(root, { recursive: true, force: true });
      roots.delete(root);
    },
  };
}

/** Predicate for count(): the request is about a .narinfo. */
export const narinfo = (uri: string): boolean => uri.endsWith(".narinfo");
