// A slow network of our own (this kernel has no netem): a TCP proxy on 127.0.0.1 that holds
// every chunk the client sends for `delayMs` before passing it on, in order. Answers flow back
// at full speed. Uploads through it take (chunks x delayMs) per connection.
import { connect, createServer, type Socket } from "node:net";

export interface SlowProxy {
  port: number;
  url: string;
  /** chunks passed from clients to the target so far */
  chunks(): number;
  /** of those, chunks that begin an HTTP PUT (an upload under way) */
  puts(): number;
  close(): Promise<void>;
}

export async function startSlowProxy(targetPort: number, delayMs: number): Promise<SlowProxy> {
  const sockets = new Set<Socket>();
  let passed = 0;
  let puts = 0;
  const server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client).add(upstream);
    let queue = Promise.resolve();
    client.on("data", (chunk) => {
      queue = queue
        .then(() => new Promise((ok) => setTimeout(ok, delayMs)))
        .then(() => {
          passed++;
          if (chunk.subarray(0, 4).toString("latin1") === "PUT ") puts++;
          if (!upstream.destroyed) upstream.write(chunk);
        });
    });
    client.on("end", () => {
      queue = queue.then(() => {
        upstream.end();
      });
    });
    upstream.on("data", (chunk) => client.write(chunk));
    upstream.on("end", () => client.end());
    const close = () => {
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
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    chunks: () => passed,
    puts: () => puts,
    close: () =>
      new Promise((ok) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => ok());
      }),
  };
}
