/**
 * The benchmark's own nginx WebDAV cache: the test harness's configuration,
 * but its access log records each request's body length, so bytes uploaded are
 * counted from what nginx received. One nginx per run, over a root that may
 * start as a hard-linked copy of a prepared cache (nginx replaces files on PUT
 * by renaming, so the template is never written through a link).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { alive, CACHE_INFO, freePort, logSettled, nginxConfig, waitFor } from "../test/integration/harness/nginx.js";

export interface LoggedRequest {
  method: string;
  uri: string;
  status: number;
  /** body bytes received: $content_length, or $request_length (headers included) when absent */
  bodyBytes: number;
}

export interface BenchCache {
  port: number;
  /** the cache root on disk (nix-cache-info, *.narinfo, nar/) */
  dir: string;
  /** a position in the access log, once it has settled */
  mark(): Promise<number>;
  /** the requests logged since `from` (a mark) */
  requests(from?: number): Promise<LoggedRequest[]>;
  stop(): Promise<void>;
}

const running = new Set<number>();
process.on("exit", () => {
  for (const pid of running) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
  }
});

/**
 * Starts nginx over `root`/cache (created empty with nix-cache-info unless `fromTemplate` is
 * copied in); `claims`: with MKCOL, so a fleet claims its paths (docs/fleet.md); `port`: on
 * that port (a cache that stays where it is from run to run), else on a free one.
 */
export async function startCache(
  root: string,
  fromTemplate?: string,
  options: { claims?: boolean; port?: number } = {},
): Promise<BenchCache> {
  const dir = join(root, "cache");
  mkdirSync(join(root, "tmp"), { recursive: true });
  if (fromTemplate) execFileSync("cp", ["-al", fromTemplate, dir]);
  else {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "nix-cache-info"), CACHE_INFO);
  }
  const log = join(root, "access.log");
  writeFileSync(log, "");
  const port = options.port ?? (await freePort());
  const conf = join(root, "nginx.conf");
  writeFileSync(
    conf,
    nginxConfig(root, port, {
      logFormat: '$request_method $uri $status $request_length "$content_length"',
      ...(options.claims ? { claims: true } : {}),
    }),
  );
  execFileSync("nginx", ["-p", root, "-e", join(root, "error.log"), "-c", conf], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const pidFile = join(root, "nginx.pid");
  await waitFor(
    "nginx to write its pid",
    () => {
      try {
        return readFileSync(pidFile, "utf8").trim() !== "";
      } catch {
        return false;
      }
    },
    10,
  );
  const pid = Number.parseInt(readFileSync(pidFile, "utf8"), 10);
  running.add(pid);

  const settled = () => logSettled(log, 40);

  return {
    port,
    dir,
    mark: settled,
    requests: async (from = 0) => {
      await settled();
      return readFileSync(log)
        .subarray(from)
        .toString("utf8")
        .split("\n")
        .filter((line) => line.length > 0)
        .map((line) => {
          const [method = "", uri = "", status = "0", requestLength = "0", contentLength = '""'] = line.split(" ");
          const declared = Number.parseInt(contentLength.replaceAll('"', ""), 10);
          return {
            method,
            uri,
            status: Number(status),
            bodyBytes: Number.isNaN(declared) ? Number(requestLength) : declared,
          };
        });
    },
    stop: async () => {
      running.delete(pid);
      if (!alive(pid)) return;
      process.kill(pid, "SIGTERM");
      await waitFor(`nginx ${pid} to exit`, () => !alive(pid), 10);
    },
  };
}
