// An HTTP server of a test's own, listening on loopback until the test ends.
import type http from "node:http";
import type { AddressInfo } from "node:net";

/** Starts `server` on a free loopback port, closed (its connections too) when the test ends; its URL. */
export async function listenOnLoopback(t: { after(fn: () => unknown): void }, server: http.Server): Promise<string> {
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  t.after(
    () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
