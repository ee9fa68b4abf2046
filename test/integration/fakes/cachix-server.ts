// A fake Cachix API of the test suite's own, faithful to the routes genpush and
// `cachix push` use (cachix/cachix: cachix-api/src/Cachix/API.hs, BinaryCacheAPI
// under /api/v1; the client's queryNarInfoBulk in cachix/src/Cachix/Client/Push.hs):
//   GET  /api/v1/cache/{name}              the cache (what `cachix push` asks first)
//   POST /api/v1/cache/{name}/narinfo      JSON list of store hashes -> JSON list of the missing ones
//   POST /api/v1/cache/{name}/nar          createNar: the NAR file's bytes (cachix-api's single-request NAR
//                                          upload; newer clients send it in multipart parts, not modelled)
//   POST /api/v1/cache/{name}/{hash}       createNarinfo: registers an uploaded path, refused (400) unless
//                                          a NAR with its cFileHash and cFileSize arrived first, as Cachix
//                                          serves no narinfo without its NAR
// One private cache; bearer token (servant-auth JWT). Servant checks the
// content type (415) and parses the body (400, "Error in $: ...") before the
// handler looks at the token, so a malformed body wins over a missing token.
// Servant's default 401/404 bodies are empty. The body limit (default 1.5 MiB)
// is an assumption: the client's own comment sizes its 32,768-hash batches for
// "1MB"; Cachix does not document its limit.
import { createHash } from "node:crypto";
import { FakeHttpServer, type Incoming, isJson, type Reply, STORE_HASH_RE } from "./http-fake.js";

export interface CachixServerOptions {
  cache: string;
  token: string;
  maxBodyBytes?: number;
}

export interface CachixUpload {
  hash: string;
  storeSuffix: string;
  narSize: number;
  /** the client sent a signature (it held CACHIX_SIGNING_KEY) */
  signed: boolean;
}

export class FakeCachixServer extends FakeHttpServer {
  readonly cache: string;
  readonly present = new Set<string>();
  /** NAR files received, by `sha256:<hex>` of their bytes: their sizes. */
  readonly nars = new Map<string, number>();
  readonly uploads: CachixUpload[] = [];

  constructor(options: CachixServerOptions) {
    super({ token: options.token, maxBodyBytes: options.maxBodyBytes ?? 1536 * 1024 });
    this.cache = options.cache;
  }

  protected errorBody(): unknown {
    return "";
  }

  protected route(req: Incoming): Reply {
    const m = /^\/api\/v1\/cache\/([^/]+)(?:\/([^/]+))?$/.exec(req.url.pathname);
    if (!m) return { status: 404 };
    const name = decodeURIComponent(m[1] ?? "");
    const rest = m[2];
    if (rest === undefined && req.method === "GET") return this.denied(req, name) ?? this.binaryCache();
    if (rest === "narinfo" && req.method === "POST") return this.narinfoBulk(req, name);
    if (rest === "nar" && req.method === "POST") return this.denied(req, name) ?? this.createNar(req);
    if (rest !== undefined && STORE_HASH_RE.test(rest) && req.method === "POST")
      return this.createNarinfo(req, name, rest);
    return { status: 404 };
  }

  private binaryCache(): Reply {
    return {
      status: 200,
      body: {
        name: this.cache,
        uri: `${this.url}/${this.cache}`,
        isPublic: false,
        publicSigningKeys: [`${this.cache}.cachix.org-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=`],
        githubUsername: "",
        permission: "Write",
        preferredCompressionMethod: "ZSTD",
      },
    };
  }

  private denied(req: Incoming, name: string): Reply | undefined {
    if (req.auth !== "ok") return { status: 401 };
    if (name !== this.cache) return { status: 404 };
    return undefined;
  }

  private narinfoBulk(req: Incoming, name: string): Reply {
    const parsed = jsonBody(req);
    if ("reply" in parsed) return parsed.reply;
    const hashes = parsed.value;
    if (!Array.isArray(hashes) || !hashes.every((h) => typeof h === "string")) {
      return servant400("Error in $: parsing [] failed, expected Array of Text");
    }
    req.entry.hashes = hashes;
    const denied = this.denied(req, name);
    if (denied) return denied;
    return { status: 200, body: hashes.filter((h) => !this.present.has(h)) };
  }

  private createNar(req: Incoming): Reply {
    this.nars.set(`sha256:${createHash("sha256").update(req.body).digest("hex")}`, req.body.length);
    return { status: 200, body: [] };
  }

  private createNarinfo(req: Incoming, name: string, hash: string): Reply {
    const parsed = jsonBody(req);
    if ("reply" in parsed) return parsed.reply;
    const info = parsed.value as Record<string, unknown> | null;
    if (
      typeof info?.cStoreSuffix !== "string" ||
      typeof info.cNarSize !== "number" ||
      typeof info.cNarHash !== "string"
    ) {
      return servant400('Error in $: key "cStoreSuffix", "cNarHash" or "cNarSize" not found');
    }
    req.entry.hashes = [hash];
    const denied = this.denied(req, name);
    if (denied) return denied;
    if (this.nars.get(String(info.cFileHash)) !== info.cFileSize) {
      return servant400(`no NAR was uploaded for ${hash} (cFileHash ${String(info.cFileHash)})`);
    }
    this.present.add(hash);
    const signed = typeof info.cSig === "string" && info.cSig.length > 0;
    this.uploads.push({ hash, storeSuffix: info.cStoreSuffix, narSize: info.cNarSize, signed });
    return { status: 200, body: [] };
  }
}

export async function startCachixServer(options: CachixServerOptions): Promise<FakeCachixServer> {
  return new FakeCachixServer(options).start();
}

function servant400(text: string): Reply {
  return { status: 400, body: text };
}

function jsonBody(req: Incoming): { value: unknown } | { reply: Reply } {
  if (!isJson(req)) return { reply: { status: 415 } };
  try {
    return { value: JSON.parse(req.body.toString("utf8")) };
  } catch (error) {
    return { reply: servant400(`Error in $: ${(error as Error).message}`) };
  }
}
