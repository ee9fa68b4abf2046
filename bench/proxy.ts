/**
 * A delaying TCP proxy: the cache across a network, where netem is not
 * available. Every chunk waits `delayMs` in each direction, and a new
 * connection waits one round trip before its first byte flows (the TCP
 * handshake), so a client that opens many connections pays for them as it
 * would on a real link. No bandwidth limit: the NARs here are tiny.
 *
 * The upstream port and the delay can change between runs while the proxy
 * keeps its port, so the store URI (and with it Nix's narinfo disk cache,
 * which is keyed by URI) stays the same for every cache the benchmark starts.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

export interface DelayProxy {
  port: number;
  url: string;
  /** one-way delay for connections opened from now on */
  delayMs: number;
  /** the nginx port connections opened from now on go to */
  target: number;
  /** TCP connections accepted since the last reset */
  connections: number;
  close(): Promise<void>;
}

function forward(from: Socket, to: Socket, delayMs: number): void {
  const later = (action: () => void) => (delayMs > 0 ? setTimeout(action, delayMs) : action());
  let ended = false;
  // Timers of equal duration fire in the order they were set, so chunks keep their order.
  from.on("data", (chunk) => later(() => to.destroyed || to.write(chunk)));
  from.on("end", () => {
    ended = true;
    later(() => to.destroyed || to.end());
  });
  from.on("close", () => {
    if (!ended) later(() => to.destroy());
  });
  from.on("error", () => {});
}

export async function startProxy(target: number, delayMs: number): Promise<DelayProxy> {
  const open = new Set<Socket>();
  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    const delay = proxy.delayMs;
    proxy.connections++;
    const upstream = connect(proxy.target, "127.0.0.1");
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on("close", () => open.delete(socket));
    }
    forward(client, upstream, delay);
    forward(upstream, client, delay);
    // SYN, SYN-ACK: one round trip before the client's first request can leave.
    setTimeout(() => client.resume(), 2 * delay);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const proxy: DelayProxy = {
    port,
    url: `http://127.0.0.1:${port}`,
    delayMs,
    target,
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
