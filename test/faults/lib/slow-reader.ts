// A cache that reads uploads slowly: a TCP front of the suite's own before the harness's nginx
// that reads what a client sends into a buffer of `bufferBytes` (a receive buffer that large:
// a client sees its bytes taken at once until it is full) and passes it on to nginx at
// `bytesPerSecond`, no faster, paced by the clock (timer lag never makes it slower on average).
// Answers flow back at full speed. With `stallNarAfter` set, a connection stops passing bytes on
// once that many have gone since a `PUT /nar/` began on it, for good: a cache that stops reading
// mid-upload (its buffer fills, then the client's bytes stay with the client).
// Everything it does is bounded: `close()` ends every socket and timer.
import { readFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";

export interface SlowReader {
  url: string;
  bytesPerSecond: number;
  bufferBytes: number;
  /** stop a connection this many bytes after a `PUT /nar/` began on it (undefined: never) */
  stallNarAfter: number | undefined;
  /** bytes passed on to nginx so far */
  passed: number;
  /** connections stopped by `stallNarAfter` */
  stalled: number;
  close(): Promise<void>;
}

/** How often the pace is kept. */
const TICK_MS = 20;

/** The largest receive buffer this Linux lets a TCP socket grow to (net.ipv4.tcp_rmem's maximum). */
export function largestReceiveBuffer(): number {
  return Number(readFileSync("/proc/sys/net/ipv4/tcp_rmem", "utf8").trim().split(/\s+/)[2]);
}

/** The largest send buffer this Linux lets a TCP socket grow to (net.ipv4.tcp_wmem's maximum). */
export function largestSendBuffer(): number {
  return Number(readFileSync("/proc/sys/net/ipv4/tcp_wmem", "utf8").trim().split(/\s+/)[2]);
}

export async function startSlowReader(
  targetPort: number,
  { bytesPerSecond, bufferBytes }: { bytesPerSecond: number; bufferBytes: number },
): Promise<SlowReader> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client).add(upstream);
    const queue: Buffer[] = [];
    let queued = 0;
    let credit = 0;
    let last = Date.now();
    // Bytes passed on since a NAR upload began on this connection (undefined: none began).
    let sinceNar: number | undefined;
    let stalled = false;
    let ended = false;
    client.on("data", (chunk: Buffer) => {
      if (chunk.subarray(0, 9).toString("latin1") === "PUT /nar/") sinceNar ??= 0;
      queue.push(chunk);
      queued += chunk.length;
      if (queued >= reader.bufferBytes) client.pause();
    });
    client.on("end", () => {
      ended = true;
    });
    const timer = setInterval(() => {
      const now = Date.now();
      // At most a tick's worth after a pause: no burst makes up for time nothing waited.
      credit = Math.min(credit + ((now - last) / 1000) * reader.bytesPerSecond, queued + reader.bytesPerSecond / 10);
      last = now;
      while (!stalled && queue.length > 0 && credit >= 1) {
        const head = queue[0] as Buffer;
        let take = Math.min(head.length, Math.floor(credit));
        if (sinceNar !== undefined && reader.stallNarAfter !== undefined) {
          take = Math.min(take, reader.stallNarAfter - sinceNar);
          if (take <= 0) {
            stalled = true;
            reader.stalled++;
            break;
          }
        }
        const piece = head.subarray(0, take);
        if (take === head.length) queue.shift();
        else queue[0] = head.subarray(take);
        queued -= take;
        credit -= take;
        if (sinceNar !== undefined) sinceNar += take;
        reader.passed += take;
        if (!upstream.destroyed) upstream.write(piece);
      }
      if (!stalled && queued < reader.bufferBytes && client.isPaused()) client.resume();
      if (ended && queued === 0 && !upstream.destroyed) upstream.end();
    }, TICK_MS);
    timers.add(timer);
    upstream.on("data", (chunk) => client.write(chunk));
    upstream.on("end", () => client.end());
    const close = () => {
      clearInterval(timer);
      timers.delete(timer);
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const reader: SlowReader = {
    url: `http://127.0.0.1:${port}`,
    bytesPerSecond,
    bufferBytes,
    stallNarAfter: undefined,
    passed: 0,
    stalled: 0,
    close: () =>
      new Promise((ok) => {
        for (const timer of timers) clearInterval(timer);
        for (const socket of sockets) socket.destroy();
        server.close(() => ok());
      }),
  };
  return reader;
}
