/**
 * Which cache the bytes land in: what state about a cache must belong to, so
 * that pointing a cache's `name` somewhere else does not carry over what the
 * old place got. Two configurations that upload to the same place have the
 * same identity: a nix store URI counts without the settings that change how
 * paths are uploaded but not where to (compression, signing, priority, ...),
 * and with its scheme and host in lower case, its default port and trailing
 * slash dropped. A setting not known to be harmless counts: changing it costs
 * one query about the whole closure, never a path the cache lacks.
 */
import type { CacheConfig } from "../config/config.js";

/** Store URI settings (Nix's BinaryCacheStore, S3BinaryCacheStore, SSHStore) that change how, not where. */
const HOW_NOT_WHERE = new Set([
  "compression",
  "compression-level",
  "parallel-compression",
  "secret-key",
  "priority",
  "want-mass-query",
  "write-nar-listing",
  "index-debug-info",
  "ls-compression",
  "narinfo-compression",
  "log-compression",
  "multipart-upload",
  "buffer-size",
  "path-info-cache-size",
  "max-connections",
  "ssh-key",
  "compress",
  "base64-ssh-public-host-key",
]);

const DEFAULT_PORTS: Record<string, string> = { http: "80", https: "443", ssh: "22", "ssh-ng": "22" };

export function cacheIdentity(cache: CacheConfig): string {
  switch (cache.type) {
    case "nix":
      return `nix ${storeIdentity(cache.store)}`;
    case "attic":
    case "cachix":
      return `${cache.type} ${storeIdentity(cache.endpoint)} ${cache.cache}`;
  }
}

export function storeIdentity(uri: string): string {
  const at = uri.indexOf("?");
  const base = at < 0 ? uri : uri.slice(0, at);
  const settings = [...new URLSearchParams(at < 0 ? "" : uri.slice(at + 1))]
    .filter(([key]) => !HOW_NOT_WHERE.has(key))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const query = settings.length > 0 ? `?${settings.map(([key, value]) => `${key}=${value}`).join("&")}` : "";
  return `${normaliseBase(base)}${query}`;
}

function normaliseBase(base: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/]*)(.*)$/.exec(base);
  // `daemon`, `local`, a path: only a trailing slash to drop.
  if (!m) return base.length > 1 ? base.replace(/\/+$/, "") : base;
  const scheme = (m[1] as string).toLowerCase();
  const authority = m[2] as string;
  // A user name (ssh://user@host) is whom to log in as: its case is kept.
  const userEnd = authority.lastIndexOf("@") + 1;
  let host = authority.slice(userEnd).toLowerCase();
  const port = DEFAULT_PORTS[scheme];
  if (port && host.endsWith(`:${port}`)) host = host.slice(0, -port.length - 1);
  return `${scheme}://${authority.slice(0, userEnd)}${host}${(m[3] as string).replace(/\/+$/, "")}`;
}
