// Network faults of the suite's own. A TCP front for the harness's nginx that forwards, or
// accepts connections and never says a byte (the cache that hangs), or hangs only once an
// upload (PUT) begins. And a switch of the harness nginx's own configuration to one that answers
// 500 to everything, applied with `nginx -s reload` (same root, same access-log format).
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Cache } from "../../integration/harness/nginx.js";

export type FrontMode = "forward" | "silent" | "silent-puts";

export interface Front {
  url: string;
  mode: FrontMode;
  /** connections accepted so far */
  accepted: number;
  /** connections that were held silent */
  held: number;
  close(): Promise<void>;
}

export async function startFront(targetPort: number, mode: FrontMode = "forward"): Promise<Front> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    front.accepted++;
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => client.destroy());
    if (front.mode === "silent") {
      front.held++;
      client.resume(); // read and drop whatever comes; answer nothing, ever
      return;
    }
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(upstream);
    let stalled = false;
    client.on("data", (chunk: Buffer) => {
      if (!stalled && front.mode === "silent-puts" && chunk.subarray(0, 4).toString("latin1") === "PUT ") {
        stalled = true;
        front.held++;
        upstream.destroy();
      }
      if (!stalled) upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!stalled) client.write(chunk);
    });
    upstream.on("end", () => {
      if (!stalled) client.end();
    });
    upstream.on("error", () => {
      if (!stalled) client.destroy();
    });
    client.on("close", () => upstream.destroy());
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const front: Front = {
    url: `http://127.0.0.1:${port}`,
    mode,
    accepted: 0,
    held: 0,
    close: () =>
      new Promise((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
  return front;
}

/** The harness nginx's files: its prefix directory is the parent of the cache root. */
function nginxFiles(cache: Cache): { prefix: string; conf: string } {
  const prefix = dirname(cache.dir);
  return { prefix, conf: join(prefix, "nginx.conf") };
}

const DAV = "location / { dav_methods PUT DELETE; create_full_put_path on; }";
const BROKEN = "location / { return 500; }";

async function statusOf(url: string): Promise<number> {
  try {
    return (await fetch(`${url}/nix-cache-info`, { method: "HEAD" })).status;
  } catch {
    return 0;
  }
}

/**
 * Rewrites the running nginx's configuration (broken: every request answered 500; else as the
 * harness wrote it) and reloads it; waits until the cache answers accordingly.
 */
export async function setBroken(cache: Cache, broken: boolean): Promise<void> {
  const { prefix, conf } = nginxFiles(cache);
  const text = readFileSync(conf, "utf8");
  const next = broken ? text.replace(DAV, BROKEN) : text.replace(BROKEN, DAV);
  if (next === text && !text.includes(broken ? BROKEN : DAV)) throw new Error(`unexpected nginx config:\n${text}`);
  writeFileSync(conf, next);
  execFileSync("nginx", ["-p", prefix, "-e", join(prefix, "error.log"), "-c", conf, "-s", "reload"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const want = broken ? 500 : 200;
  const deadline = Date.now() + 10_000;
  while ((await statusOf(cache.url)) !== want) {
    if (Date.now() > deadline) throw new Error(`nginx did not start answering ${want} after the reload`);
    await sleep(50);
  }
  await cache.clearLog();
}
