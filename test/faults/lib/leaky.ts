// Clients that blurt out their secrets: an `attic` that reads its token the way the real one
// does (the token file named in $XDG_CONFIG_HOME/attic/config.toml) and a `cachix` that takes
// CACHIX_AUTH_TOKEN and CACHIX_SIGNING_KEY; both print them in an error, as a server echoing a
// refused token would, and fail. genpush quotes what a client says: only ever scrubbed.
// An `attic` that prints without end, as a client stuck in a loop might. And a binary cache
// that does echo: every upload refused with the request's Authorization header in the error
// body, which Nix quotes in its own error.
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { Socket } from "node:net";
import { join } from "node:path";
import { CACHE_INFO } from "../../integration/harness/nginx.js";
import { tempDir } from "../../integration/harness/nix.js";

const ATTIC = `#!/usr/bin/env node
const fs = require("node:fs");
const path = require("node:path");
const conf = fs.readFileSync(path.join(process.env.XDG_CONFIG_HOME, "attic", "config.toml"), "utf8");
const token = fs.readFileSync(/token-file = "([^"]+)"/.exec(conf)[1], "utf8").trim();
process.stdout.write("Pushing with token " + token + "\\n");
process.stderr.write("Error: 401 Unauthorized: the token " + token + " was refused\\n");
process.exit(1);
`;

const CACHIX = `#!/usr/bin/env node
const token = process.env.CACHIX_AUTH_TOKEN || "";
const key = process.env.CACHIX_SIGNING_KEY || "";
process.stdout.write("using signing key " + key + "\\n");
process.stderr.write("Error: 401 Unauthorized: CACHIX_AUTH_TOKEN=" + token + " is not valid\\n");
process.exit(1);
`;

const CHATTY = `#!/usr/bin/env node
const fs = require("node:fs");
const line = "progress ".repeat(100000) + "\\n";
let written = 0;
// How much it had printed when stopped (a signal, or its stdout closed): next to itself.
const stopped = () => {
  fs.writeFileSync(__filename.replace(/attic$/, "printed"), String(written));
  process.exit(1);
};
process.on("SIGTERM", stopped);
process.stdout.on("error", stopped);
const more = () => {
  do written += line.length; while (process.stdout.write(line));
  process.stdout.once("drain", more);
};
more();
`;

/**
 * An `attic` that never stops printing (lines of about 1 MB); stopped (SIGTERM, or its stdout
 * closed), it writes how many bytes it had handed to its stdout to `printed` beside it.
 */
export function chattyClient(): { path: string; printed(): number } {
  const dir = tempDir("genpush-chatty-");
  const path = join(dir, "attic");
  writeFileSync(path, CHATTY);
  chmodSync(path, 0o755);
  return { path, printed: () => Number(readFileSync(join(dir, "printed"), "utf8")) };
}

export function leakyClients(): { attic: string; cachix: string } {
  const dir = tempDir("genpush-leaky-");
  const attic = join(dir, "attic");
  const cachix = join(dir, "cachix");
  // CommonJS: a directory without package.json.
  writeFileSync(attic, ATTIC);
  writeFileSync(cachix, CACHIX);
  chmodSync(attic, 0o755);
  chmodSync(cachix, 0o755);
  return { attic, cachix };
}

export interface EchoingCache {
  url: string;
  /** the Authorization header of every PUT, as it came ("" when none) */
  putAuthorizations: string[];
  close(): Promise<void>;
}

/**
 * A binary cache that lacks everything (404 for every narinfo) and answers every upload with
 * 500 and a body that echoes the request's Authorization header, and the login and password
 * in it, as a misconfigured or debugging proxy's error page may.
 */
export async function startEchoingCache(): Promise<EchoingCache> {
  const sockets = new Set<Socket>();
  const putAuthorizations: string[] = [];
  // A plain-text error page in Nix's own style: Nix quotes it, and genpush quotes Nix's `error:` lines.
  const echo = ({ authorization = "none" }: IncomingHttpHeaders) => {
    const decoded = Buffer.from(authorization.replace(/^Basic /, ""), "base64").toString("utf8");
    return `error: upload refused for ${authorization} (${decoded})\n`;
  };
  const server = createServer((req, res) => {
    req.resume();
    if (req.method === "PUT") {
      putAuthorizations.push(req.headers.authorization ?? "");
      // Answered before the body: curl waits for "100 Continue" and takes this answer instead.
      res.writeHead(500, { connection: "close", "content-type": "text/plain" }).end(echo(req.headers));
    } else if (req.url === "/nix-cache-info") {
      res.end(CACHE_INFO);
    } else {
      res.writeHead(404).end();
    }
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    putAuthorizations,
    close: () =>
      new Promise((ok) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => ok());
      }),
  };
}
