// A fake Attic server of the test suite's own, faithful to the parts genpush
// and the attic client use (zhaofengli/attic: server/src/api/v1/mod.rs,
// get_missing_paths.rs, upload_path.rs, error.rs, access/http.rs):
//   GET  /_api/v1/cache-config/{cache}   the cache's configuration (the client's first call)
//   POST /_api/v1/get-missing-paths      {cache, store_path_hashes} -> {missing_paths}
//   PUT  /_api/v1/upload-path            X-Attic-Nar-Info (or X-Attic-Nar-Info-Preamble-Size + preamble), NAR body
// One private cache. As in the real server, the JSON body is parsed before the
// token is looked at (axum: 415 without a JSON content type, 400 for bad JSON,
// 422 for the wrong shape); a missing or unknown token on a private cache is
// 401 Unauthorized (no discovery permission); a good token but another cache
// name is 404 NoSuchCache. Errors are {code, error, message}. In front of it
// sits a proxy body limit (default 64 KiB, nginx's 413), as in attic#220.
import { FakeHttpServer, type Incoming, isJson, type Reply, STORE_HASH_RE } from "./http-fake.js";

export interface AtticServerOptions {
  /** the cache's name on the server */
  cache: string;
  /** the token that may push to it */
  token: string;
  /** proxy body limit in bytes (default 64 KiB) */
  maxBodyBytes?: number;
}

export interface AtticUpload {
  hash: string;
  storePath: string;
  narSize: number;
  references: string[];
}

const MESSAGES: Record<string, string> = {
  NotFound: "The URL you requested was not found.",
  Unauthorized: "Unauthorized.",
  NoSuchCache: "The requested cache does not exist.",
  InternalServerError: "The server encountered an internal error or misconfiguration.",
};

export class FakeAtticServer extends FakeHttpServer {
  readonly cache: string;
  /** store hashes the cache holds */
  readonly present = new Set<string>();
  /** every accepted upload, in order (a path sent twice appears twice) */
  readonly uploads: AtticUpload[] = [];

  constructor(options: AtticServerOptions) {
    super({ token: options.token, maxBodyBytes: options.maxBodyBytes ?? 64 * 1024 });
    this.cache = options.cache;
  }

  protected errorBody(status: number): unknown {
    const error = status === 401 ? "Unauthorized" : status === 404 ? "NotFound" : "InternalServerError";
    return { code: status, error, message: MESSAGES[error] ?? error };
  }

  protected route(req: Incoming): Reply | Promise<Reply> {
    const path = req.url.pathname;
    const config = /^\/_api\/v1\/cache-config\/([^/]+)$/.exec(path);
    if (config && req.method === "GET") return this.denied(req, decodeURIComponent(config[1] ?? "")) ?? this.config();
    if (path === "/_api/v1/get-missing-paths" && req.method === "POST") return this.missing(req);
    if (path === "/_api/v1/upload-path" && req.method === "PUT") return this.upload(req);
    return apiError(404, "NotFound");
  }

  private config(): Reply {
    const base = this.url;
    return {
      status: 200,
      body: {
        substituter_endpoint: `${base}/${this.cache}`,
        api_endpoint: `${base}/`,
        public_key: `${this.cache}:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=`,
        is_public: false,
        store_dir: "/nix/store",
        priority: 41,
        upstream_cache_key_names: ["cache.nixos.org-1"],
      },
    };
  }

  /** The access check of auth_cache: private cache, push permission with the right token only. */
  private denied(req: Incoming, cache: string): Reply | undefined {
    if (req.auth !== "ok") return apiError(401, "Unauthorized");
    if (cache !== this.cache) return apiError(404, "NoSuchCache");
    return undefined;
  }

  private missing(req: Incoming): Reply {
    const parsed = jsonBody(req);
    if ("reply" in parsed) return parsed.reply;
    const body = parsed.value as { cache?: unknown; store_path_hashes?: unknown };
    const hashes = body?.store_path_hashes;
    if (typeof body?.cache !== "string" || !Array.isArray(hashes) || !hashes.every(isStoreHash)) {
      return rejection(422, "Failed to deserialize the JSON body into the target type: store_path_hashes");
    }
    req.entry.hashes = hashes;
    const denied = this.denied(req, body.cache);
    if (denied) return denied;
    // The server answers from a HashSet: deduplicated, in no particular order (here: sorted).
    const missing = [...new Set(hashes)].filter((h) => !this.present.has(h)).sort();
    return { status: 200, body: { missing_paths: missing } };
  }

  private upload(req: Incoming): Reply {
    let infoText = req.headers["x-attic-nar-info"];
    let nar = req.body;
    const preamble = Number(req.headers["x-attic-nar-info-preamble-size"]);
    if (typeof infoText !== "string" && Number.isInteger(preamble) && preamble > 0) {
      infoText = req.body.subarray(0, preamble).toString("utf8");
      nar = req.body.subarray(preamble);
    }
    let info: Record<string, unknown>;
    try {
      info = JSON.parse(String(infoText));
    } catch {
      return apiError(400, "RequestError", "Request error: missing or malformed X-Attic-Nar-Info");
    }
    const hash = info.store_path_hash;
    const storePath = info.store_path;
    if (
      typeof info.cache !== "string" ||
      !isStoreHash(hash) ||
      typeof storePath !== "string" ||
      !storePath.startsWith(`/nix/store/${hash}-`) ||
      typeof info.nar_size !== "number" ||
      info.nar_size !== nar.length
    ) {
      return apiError(400, "RequestError", "Request error: inconsistent upload info or NAR size");
    }
    req.entry.hashes = [hash];
    const denied = this.denied(req, info.cache);
    if (denied) return denied;
    const deduplicated = this.present.has(hash);
    this.present.add(hash);
    const references = Array.isArray(info.references) ? info.references.map(String) : [];
    this.uploads.push({ hash, storePath, narSize: nar.length, references });
    return { status: 200, body: { kind: deduplicated ? "Deduplicated" : "Uploaded", file_size: nar.length } };
  }
}

export async function startAtticServer(options: AtticServerOptions): Promise<FakeAtticServer> {
  return new FakeAtticServer(options).start();
}

function isStoreHash(value: unknown): value is string {
  return typeof value === "string" && STORE_HASH_RE.test(value);
}

function apiError(code: number, error: string, message = MESSAGES[error] ?? error): Reply {
  return { status: code, body: { code, error, message } };
}

/** axum's own rejections: plain text, not Attic's JSON errors. */
function rejection(status: number, text: string): Reply {
  return { status, headers: { "content-type": "text/plain; charset=utf-8" }, body: text };
}

function jsonBody(req: Incoming): { value: unknown } | { reply: Reply } {
  if (!isJson(req)) return { reply: rejection(415, "Expected request with `Content-Type: application/json`") };
  try {
    return { value: JSON.parse(req.body.toString("utf8")) };
  } catch (error) {
    return { reply: rejection(400, `Failed to parse the request body as JSON: ${(error as Error).message}`) };
  }
}
