// A small proxy of the test suite's own in front of the harness's nginx
// binary cache: everything is forwarded, except what a test injects — the
// next requests failed (503, 429 + Retry-After) or hung, every request
// refused as nginx's `auth_basic` refuses a wrong password (401), or uploads
// (PUT) refused. Narinfo requests are logged with their hash, so a test can
// count existence queries the way it counts Attic or Cachix batches.
import http from "node:http";
import { FakeHttpServer, type Incoming, type Reply } from "./http-fake.js";

const NARINFO = /^\/([0-9a-z]{32})\.narinfo$/;

export class FaultProxy extends FakeHttpServer {
  /** answer every request 401, as nginx with auth_basic does for wrong credentials */
  refuseAuth = false;
  /** answer every PUT with this status (e.g. 403 or 500) */
  refuseUploads: number | undefined;
  private readonly agent = new http.Agent({ keepAlive: true });

  constructor(readonly target: string) {
    super();
  }

  protected errorBody(status: number): unknown {
    return `<html>\r\n<head><title>${status}</title></head>\r\n<body>\r\n<center><h1>${status}</h1></center>\r\n</body>\r\n</html>\r\n`;
  }

  /** existence queries (HEAD or GET of a narinfo) since the last clearLog() */
  queries() {
    return this.requests.filter((r) => (r.method === "HEAD" || r.method === "GET") && NARINFO.test(r.path));
  }

  protected async route(req: Incoming): Promise<Reply> {
    const narinfo = NARINFO.exec(req.url.pathname);
    if (narinfo?.[1]) req.entry.hashes = [narinfo[1]];
    if (this.refuseAuth) {
      return { status: 401, headers: { "www-authenticate": 'Basic realm="cache"' }, body: this.errorBody(401) };
    }
    if (this.refuseUploads !== undefined && req.method === "PUT") {
      return { status: this.refuseUploads, body: this.errorBody(this.refuseUploads) };
    }
    return this.forward(req);
  }

  private forward(req: Incoming): Promise<Reply> {
    const url = new URL(req.url.pathname + req.url.search, this.target);
    const headers: http.OutgoingHttpHeaders = { ...req.headers, host: url.host, "content-length": req.body.length };
    delete headers.connection;
    delete headers["transfer-encoding"];
    return new Promise((resolve, reject) => {
      const out = http.request(url, { method: req.method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const keep: Record<string, string> = {};
          for (const name of ["content-type", "retry-after", "www-authenticate"]) {
            const value = res.headers[name];
            if (typeof value === "string") keep[name] = value;
          }
          resolve({ status: res.statusCode ?? 502, headers: keep, body: Buffer.concat(chunks) });
        });
      });
      // nginx down: what a proxy in front of it answers.
      out.on("error", () => resolve({ status: 502, body: this.errorBody(502) }));
      out.end(req.body);
    });
  }

  override async stop(): Promise<void> {
    this.agent.destroy();
    await super.stop();
  }
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  return new FaultProxy(target).start();
}
