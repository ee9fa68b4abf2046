/**
 * src/config/: the configuration, from the file to what the rest of genpush
 * reads: the file and its parse cache (source.ts), the YAML (yaml.ts) and the
 * document both make (document.ts), the checks (schema.ts), the command line's
 * overlay (command-line.ts), store URIs (store-uri.ts) and globs (glob.ts).
 * Nothing here asks Nix or a cache.
 *
 * Configuration in three steps: raw YAML (source.ts) -> validated here,
 * every problem naming file, line and key -> resolved, with every default
 * filled in one place (`resolveConfig`), so the rest of genpush never guesses.
 */
import { constants, existsSync, statSync } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import { NIX_KEY_HINT, nixSecretKeyProblem } from "../nix/key.js";
import { NIX_SYSTEMS } from "../nix/systems.js";
import { cacheDirectory } from "../runtime/cache-dir.js";
import { UsageError } from "../runtime/errors.js";
import { findExecutable } from "../runtime/executable.js";
import { asOwnerCommand, otherOwner, userName } from "../runtime/owner.js";
import { assertTrusted, distrust, distrustHint, distrustMessage, trustedOwners } from "../runtime/trust.js";
import { type CommandLineConfig, checkCommandLine, userProfile, withCommandLine } from "./command-line.js";
import { closest } from "./did-you-mean.js";
import { type ConfigSource, formatKeyPath } from "./document.js";
import type { Glob } from "./glob.js";
import { Checker } from "./schema.js";
import { MINIMAL_EXAMPLE_HINT, readConfigSource } from "./source.js";
import { coordinationProblem, credentialsIn, credentialsMessage, storeUriProblem } from "./store-uri.js";

export const CACHE_TYPES = ["nix", "attic", "cachix"] as const;
export type CacheType = (typeof CACHE_TYPES)[number];

export interface ProfileConfig {
  name: string;
  /** Absolute path of the profile link, e.g. /nix/var/nix/profiles/system. */
  path: string;
  /** Overrides the generation's own `system` file and the host's system. */
  system?: string;
}

/** Which hosts a cache takes generations from, beside `systems` (src/host/host.ts). */
export interface HostMatch {
  /** Hostname globs; empty: every host. */
  hosts: Glob[];
  /** Nix `system-features` the host must have (e.g. `gccarch-skylake`); empty: none. */
  systemFeatures: string[];
}

export interface NixCacheConfig extends HostMatch {
  name: string;
  type: "nix";
  systems: string[];
  /** Any `nix copy --to` store URI. */
  store: string;
  signingKeyFile?: string;
  /** Parallel narinfo queries for http(s) caches. */
  queryConcurrency: number;
  /** Per request to the cache. */
  timeoutSeconds: number;
  /**
   * Shared by a fleet: each path is claimed before it is uploaded (caches/claims.ts). Off by
   * default: claims cost one host alone four requests more per path (docs/fleet.md).
   */
  fleet: boolean;
}

export interface AtticCacheConfig extends HostMatch {
  name: string;
  type: "attic";
  systems: string[];
  /** The Attic server, e.g. https://attic.lan. */
  endpoint: string;
  /** The cache's name on that server. */
  cache: string;
  tokenFile: string;
  atticPath?: string;
  timeoutSeconds: number;
}

export const DEFAULT_CACHIX_ENDPOINT = "https://cachix.org";

export interface CachixCacheConfig extends HostMatch {
  name: string;
  type: "cachix";
  systems: string[];
  cache: string;
  tokenFile: string;
  signingKeyFile?: string;
  /** Cachix's API, for the existence query. */
  endpoint: string;
  cachixPath?: string;
  timeoutSeconds: number;
}

export type CacheConfig = NixCacheConfig | AtticCacheConfig | CachixCacheConfig;

export interface Config {
  file: string;
  stateDir: string;
  profiles: ProfileConfig[];
  caches: CacheConfig[];
  upstreamKeys: string[];
  exclude: Glob[];
  /** Desktop notices of pushes (host/notify.ts): on failures and recoveries, also on every push, or never. */
  notify: NotifyMode;
  /**
   * On a metered network (NetworkManager's `Metered`), uploads of more NAR bytes than this wait
   * for an unmetered one (host/metered.ts); 0 defers every upload, -1 ignores metering.
   */
  meteredLimit: number;
  /** Where to write the metrics file after each push and verify run (state/metrics.ts); none when unset. */
  metricsFile?: string;
  /** Problems worth a warning that do not stop genpush, such as a secret others may read. */
  warnings: string[];
}

export interface Environment {
  env: NodeJS.ProcessEnv;
  uid: number;
  home: string;
}

export function currentEnvironment(): Environment {
  return { env: process.env, uid: process.getuid?.() ?? 0, home: homedir() };
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SYSTEM_RE = /^[a-z0-9_]+-[a-z0-9_]+$/;
const KEY_NAME_RE = /^[^\s:]+$/;
const TOP_KEYS = [
  "stateDir",
  "profiles",
  "caches",
  "upstreamKeys",
  "exclude",
  "notify",
  "meteredLimit",
  "metricsFile",
] as const;
export const NOTIFY_MODES = ["failures", "always", "never"] as const;
export type NotifyMode = (typeof NOTIFY_MODES)[number];
/** 50 MB: a first push of gigabytes waits for another network, a small switch does not. */
export const DEFAULT_METERED_LIMIT = 50_000_000;
const PROFILE_KEYS = ["name", "path", "system"] as const;
const COMMON_CACHE_KEYS = ["name", "type", "systems", "hosts", "systemFeatures", "timeoutSeconds"] as const;
/** A Nix system feature: what `system-features` lists, e.g. `gccarch-skylake`, `kvm`, `big-parallel`. */
const FEATURE_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const CACHE_KEYS: Record<CacheType, readonly string[]> = {
  nix: [...COMMON_CACHE_KEYS, "store", "signingKeyFile", "queryConcurrency", "fleet"],
  attic: [...COMMON_CACHE_KEYS, "endpoint", "cache", "tokenFile", "atticPath"],
  cachix: [...COMMON_CACHE_KEYS, "cache", "tokenFile", "signingKeyFile", "endpoint", "cachixPath"],
};
const ALL_CACHE_KEYS = [...new Set(Object.values(CACHE_KEYS).flat())];
const CACHE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Root's configuration file, where genpush run as root looks when `--config` is not given. */
export const SYSTEM_CONFIG_FILE = "/etc/genpush/config.yaml";

/** Where the configuration is read from when `--config` is not given. */
export function defaultConfigFile({ env, uid, home }: Environment): string {
  if (env.GENPUSH_CONFIG) return env.GENPUSH_CONFIG;
  if (uid === 0) return SYSTEM_CONFIG_FILE;
  return join(env.XDG_CONFIG_HOME || join(home, ".config"), "genpush", "config.yaml");
}

export interface LoadOptions {
  /**
   * Check that every secret file can be read (default). Off for commands that
   * need no secret (`status`) and for checks where the secrets do not exist
   * yet (a Nix build): a `$VAR` in a secret's path may then be unset, too.
   */
  secrets?: boolean;
  /** What the command line adds (`push --to`): with it, a configuration file that does not exist is none. */
  commandLine?: CommandLineConfig;
  /** The file was named (`--config`): it must exist, whatever the command line adds. */
  named?: boolean;
  /**
   * Refuse a configuration file, a client program it runs or a secret file
   * that someone other than root (or the user running genpush) can change
   * (trust.ts; default). Off for a Nix build's check, whose sandbox shows the
   * store's files owned by an unmapped user.
   */
  trust?: boolean;
}

export async function loadConfig(file: string, environment = currentEnvironment(), options: LoadOptions = {}) {
  const { commandLine } = options;
  if (commandLine) checkCommandLine(commandLine);
  const bare = commandLine && commandLine.to.length > 0 && !options.named && !existsSync(file);
  if (!bare && options.trust !== false) await assertTrusted(file, "configuration file", environment.uid);
  const read = bare
    ? noFile(file)
    : await readConfigSource(file, await usableCacheFile(environment), {
        uid: environment.uid,
        ...(options.named ? {} : { missingHint: systemConfigHint(environment.uid) }),
      });
  // With no configuration file, the user's own profile is one of the defaults where it exists.
  const overlay = (data: unknown) =>
    commandLine
      ? withCommandLine(data, commandLine, {
          home: environment.home,
          ...(bare ? { profiles: noFileProfiles(environment) } : {}),
        })
      : data;
  const source = { ...read, data: overlay(read.data) };
  try {
    return await validateConfig(source, environment, options);
  } catch (error) {
    // A problem in data from the parse cache: report it with the lines of a fresh parse.
    if (error instanceof UsageError && source.withLines) {
      const fresh = await source.withLines();
      return validateConfig({ ...fresh, data: overlay(fresh.data) }, environment, options);
    }
    throw error;
  }
}

/** A user without a configuration of their own, on a machine where root has one: how to use root's. */
function systemConfigHint(uid: number): string | undefined {
  if (uid === 0 || !existsSync(SYSTEM_CONFIG_FILE)) return undefined;
  return `root's configuration is ${SYSTEM_CONFIG_FILE}: \`${asOwnerCommand(0)}\` uses it`;
}

/** No configuration file: the command line says it all (messages name "the command line"). */
function noFile(file: string): ConfigSource {
  return { file: `the command line (no ${file})`, data: {}, lineOf: () => undefined };
}

/** The parse cache, unless someone else could have written data into it: then every run parses the file. */
async function usableCacheFile(environment: Environment): Promise<string | undefined> {
  const file = configCacheFile(environment);
  return (await distrust(file, trustedOwners(environment.uid))) ? undefined : file;
}

/** Where the last configuration parsed is kept: systemd's CacheDirectory=, else the XDG cache. */
export function configCacheFile({ env, home }: Environment): string {
  return join(cacheDirectory(env, home), "config.json");
}

export async function validateConfig(
  source: ConfigSource,
  environment: Environment,
  { secrets = true, trust = true }: LoadOptions = {},
): Promise<Config> {
  const check = new Checker();
  const raw = check.object([], source.data, TOP_KEYS) ?? {};
  const expand = (path: (string | number)[], value: unknown, secret = false) =>
    expandPath(check, path, value, environment, secret && !secrets);

  const stateDir = raw.stateDir === undefined ? undefined : expand(["stateDir"], raw.stateDir);
  const profiles = raw.profiles === undefined ? undefined : validateProfiles(check, raw.profiles, expand);
  const secretFiles: SecretFile[] = [];
  const caches = raw.caches === undefined ? [] : validateCaches(check, raw.caches, expand, secretFiles);
  const upstreamKeys =
    raw.upstreamKeys === undefined
      ? ["cache.nixos.org-1"]
      : check.stringList(["upstreamKeys"], raw.upstreamKeys, KEY_NAME_RE, "a key name such as `cache.nixos.org-1`");
  const exclude = raw.exclude === undefined ? [] : check.globList(["exclude"], raw.exclude);
  const notify = raw.notify === undefined ? undefined : check.oneOf(["notify"], raw.notify, NOTIFY_MODES);
  const meteredLimit =
    raw.meteredLimit === undefined ? undefined : check.size(["meteredLimit"], raw.meteredLimit, [-1]);
  const metricsFile = raw.metricsFile === undefined ? undefined : expand(["metricsFile"], raw.metricsFile);
  if (metricsFile !== undefined && !metricsFile.endsWith(".prom")) {
    check.note(
      ["metricsFile"],
      `is ${metricsFile}: node_exporter's textfile collector reads only files named *.prom`,
      "name the file e.g. /var/lib/prometheus-node-exporter/textfile/genpush.prom",
    );
  }

  const warnings: string[] = [];
  const uid = trust ? environment.uid : undefined;
  // Secrets that are someone else's (root's, of root's configuration): how many, to say whose configuration it is.
  let othersSecrets = 0;
  for (const secret of secrets ? secretFiles : []) {
    if (await checkSecretFile(check, secret, warnings, uid, { file: source.file, uid: environment.uid })) {
      othersSecrets += 1;
    }
  }
  if (uid !== undefined) await checkClients(check, caches, uid);
  if (raw.caches !== undefined && caches.length === 0 && check.issues.length === 0) {
    check.note(["caches"], "is empty: genpush needs at least one cache to push to");
  }
  if (check.issues.length > 0) throw configError(source, check, othersSecrets === check.issues.length);
  if (raw.caches === undefined) {
    throw new UsageError(`${source.file}: no \`caches\` configured: genpush has nowhere to push`, MINIMAL_EXAMPLE_HINT);
  }

  return resolveConfig(
    {
      file: source.file,
      stateDir,
      profiles,
      caches: caches as CacheConfig[],
      upstreamKeys,
      exclude,
      notify,
      meteredLimit,
      metricsFile,
      warnings,
    },
    environment,
  );
}

interface Validated {
  file: string;
  stateDir: string | undefined;
  profiles: ProfileConfig[] | undefined;
  caches: CacheConfig[];
  upstreamKeys: string[] | undefined;
  exclude: Glob[] | undefined;
  notify: NotifyMode | undefined;
  meteredLimit: number | undefined;
  metricsFile: string | undefined;
  warnings: string[];
}

type Expand = (path: (string | number)[], value: unknown, secret?: boolean) => string | undefined;

function validateProfiles(check: Checker, value: unknown, expand: Expand): ProfileConfig[] {
  const items = check.list(["profiles"], value) ?? [];
  const seen = new Set<string>();
  const out: ProfileConfig[] = [];
  items.forEach((item, i) => {
    const at = ["profiles", i];
    const raw = check.object(at, item, PROFILE_KEYS);
    if (!raw) return;
    const name = uniqueName(check, [...at, "name"], raw.name, seen, "a profile name such as `system`");
    const path = check.required([...at, "path"], raw.path, "the profile link, e.g. /nix/var/nix/profiles/system")
      ? expand([...at, "path"], raw.path)
      : undefined;
    const system = raw.system === undefined ? undefined : systemName(check, [...at, "system"], raw.system);
    if (name && path) out.push(system ? { name, path, system } : { name, path });
  });
  return out;
}

/** A secret's file, checked for readability once the rest is validated. */
interface SecretFile {
  key: (string | number)[];
  file: string;
  /** It must hold a Nix secret signing key. */
  nixKey?: boolean;
}

function validateCaches(
  check: Checker,
  value: unknown,
  expand: Expand,
  secretFiles: SecretFile[],
): (CacheConfig | undefined)[] {
  const items = check.list(["caches"], value) ?? [];
  const seen = new Set<string>();
  return items.map((item, i) => {
    const at = ["caches", i];
    const typeValue = isRecordLike(item) ? item.type : undefined;
    const known = CACHE_TYPES.includes(typeValue as CacheType) ? CACHE_KEYS[typeValue as CacheType] : ALL_CACHE_KEYS;
    const raw = check.object(at, item, known);
    if (!raw) return undefined;
    const name = uniqueName(check, [...at, "name"], raw.name, seen, "a cache name such as `lan`");
    const type = check.required([...at, "type"], raw.type, `the backend, one of ${CACHE_TYPES.join(", ")}`)
      ? check.oneOf([...at, "type"], raw.type, CACHE_TYPES)
      : undefined;
    const systemItems = check.required([...at, "systems"], raw.systems, "the systems it serves, e.g. [x86_64-linux]")
      ? check.list([...at, "systems"], raw.systems)
      : undefined;
    const systems = systemItems?.map((item, j) => systemName(check, [...at, "systems", j], item));
    if (systemItems?.length === 0) check.note([...at, "systems"], "is empty: list the systems this cache serves");
    const secret = (key: string, what: string) => {
      const file = raw[key] === undefined ? undefined : expand([...at, key], raw[key], true);
      // A nix cache signs with a Nix key; Cachix's signing key is its own format.
      const nixKey = key === "signingKeyFile" && raw.type === "nix";
      if (file) secretFiles.push({ key: [...at, key], file, ...(nixKey ? { nixKey } : {}) });
      return check.required([...at, key], raw[key], what) ? file : undefined;
    };
    const optionalSecret = (key: string) => (raw[key] === undefined ? undefined : secret(key, ""));
    const optionalPath = (key: string) => (raw[key] === undefined ? undefined : expand([...at, key], raw[key]));
    const cacheName = (what: string) =>
      check.required([...at, "cache"], raw.cache, what) ? nameOf(check, [...at, "cache"], raw.cache) : undefined;
    const timeoutSeconds =
      raw.timeoutSeconds === undefined ? 30 : check.integer([...at, "timeoutSeconds"], raw.timeoutSeconds, 1, 3600);
    const hosts = raw.hosts === undefined ? [] : check.globList([...at, "hosts"], raw.hosts);
    const systemFeatures =
      raw.systemFeatures === undefined
        ? []
        : check.stringList(
            [...at, "systemFeatures"],
            raw.systemFeatures,
            FEATURE_RE,
            "a Nix system feature such as `gccarch-skylake`",
          );
    if (!type) return undefined;
    const ok =
      name !== undefined &&
      systems !== undefined &&
      systems.length > 0 &&
      systems.every((s) => s !== undefined) &&
      hosts !== undefined &&
      systemFeatures !== undefined &&
      timeoutSeconds !== undefined;
    const common = {
      name: name as string,
      type,
      systems: systems as string[],
      hosts: hosts as Glob[],
      systemFeatures: systemFeatures as string[],
      timeoutSeconds: timeoutSeconds as number,
    };

    switch (type) {
      case "nix": {
        const store = check.required([...at, "store"], raw.store, "a store URI such as http://cache.lan:8080")
          ? storeUri(check, [...at, "store"], raw.store)
          : undefined;
        const signingKeyFile = optionalSecret("signingKeyFile");
        const queryConcurrency =
          raw.queryConcurrency === undefined
            ? 32
            : check.integer([...at, "queryConcurrency"], raw.queryConcurrency, 1, 256);
        const fleet = raw.fleet === undefined ? false : check.boolean([...at, "fleet"], raw.fleet);
        const uncoordinated = fleet && store ? coordinationProblem(store) : undefined;
        if (uncoordinated) check.note([...at, "fleet"], uncoordinated.message, uncoordinated.hint);
        if (!ok || !store || queryConcurrency === undefined || fleet === undefined || uncoordinated) return undefined;
        return { ...common, type, store, queryConcurrency, fleet, ...(signingKeyFile ? { signingKeyFile } : {}) };
      }
      case "attic": {
        const endpoint = check.required([...at, "endpoint"], raw.endpoint, "the Attic server, e.g. https://attic.lan")
          ? httpUrl(check, [...at, "endpoint"], raw.endpoint)
          : undefined;
        const cache = cacheName("the cache's name on the Attic server");
        const tokenFile = secret("tokenFile", "a file holding an Attic token that may push");
        const atticPath = optionalPath("atticPath");
        if (!ok || !endpoint || !cache || !tokenFile) return undefined;
        return { ...common, type, endpoint, cache, tokenFile, ...(atticPath ? { atticPath } : {}) };
      }
      case "cachix": {
        const cache = cacheName("the Cachix cache's name");
        const tokenFile = secret("tokenFile", "a file holding a Cachix auth token");
        const signingKeyFile = optionalSecret("signingKeyFile");
        const endpoint =
          raw.endpoint === undefined ? DEFAULT_CACHIX_ENDPOINT : httpUrl(check, [...at, "endpoint"], raw.endpoint);
        const cachixPath = optionalPath("cachixPath");
        if (!ok || !cache || !tokenFile || !endpoint) return undefined;
        return {
          ...common,
          type,
          cache,
          tokenFile,
          endpoint,
          ...(signingKeyFile ? { signingKeyFile } : {}),
          ...(cachixPath ? { cachixPath } : {}),
        };
      }
    }
    return undefined;
  });
}

function isRecordLike(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function nameOf(check: Checker, path: (string | number)[], value: unknown): string | undefined {
  const s = check.string(path, value);
  return s !== undefined && !CACHE_NAME_RE.test(s)
    ? check.fail(path, "a cache name of letters, digits, `.`, `_` or `-`", s)
    : s;
}

function httpUrl(check: Checker, path: (string | number)[], value: unknown): string | undefined {
  const s = check.string(path, value, "an http(s) URL");
  if (s === undefined) return undefined;
  const credentials = credentialsIn(s);
  if (credentials) {
    return check.note(
      path,
      credentialsMessage(credentials.masked),
      "remove the user name and password from the URL: genpush authenticates with the token in tokenFile",
    );
  }
  try {
    const url = new URL(s);
    if (url.protocol === "http:" || url.protocol === "https:") return s;
  } catch {}
  return check.fail(path, "an http(s) URL such as https://attic.lan", s);
}

function uniqueName(check: Checker, path: (string | number)[], value: unknown, seen: Set<string>, what: string) {
  if (!check.required(path, value, what)) return undefined;
  if (typeof value !== "string" || !NAME_RE.test(value)) {
    return check.fail(path, "a name of letters, digits, `.`, `_` or `-` (at most 64)", value);
  }
  if (seen.has(value)) return check.note(path, `\`${value}\` is used twice; names must be unique`);
  seen.add(value);
  return value;
}

/** A Nix system; another well-formed one is taken unless it looks like a typo of one nixpkgs knows. */
function systemName(check: Checker, path: (string | number)[], value: unknown): string | undefined {
  const s = check.string(path, value);
  if (s === undefined || NIX_SYSTEMS.includes(s)) return s;
  // A typo routes nothing, silently: every generation would find no cache.
  const guess = closest(s, NIX_SYSTEMS);
  if (guess) return check.note(path, `\`${s}\` is no Nix system; did you mean \`${guess}\`?`);
  return SYSTEM_RE.test(s) ? s : check.fail(path, "a Nix system such as `x86_64-linux`", s);
}

function storeUri(check: Checker, path: (string | number)[], value: unknown): string | undefined {
  const s = check.string(path, value, "a store URI such as http://cache.lan:8080");
  if (s === undefined) return undefined;
  const credentials = credentialsIn(s);
  const ssh = /^ssh(-ng)?:\/\//.test(s);
  // ssh://user@host is how Nix is told whom to log in as: a name, not a credential.
  if (credentials && !(ssh && !credentials.password)) {
    return check.note(
      path,
      credentialsMessage(credentials.masked),
      ssh
        ? "log in with a key instead: Nix's `ssh-key=` store setting, or ~/.ssh/config"
        : `remove them from the URL and put them into a netrc file, which Nix and genpush read (Nix's \`netrc-file\` setting, /etc/nix/netrc by default): \`machine ${credentials.host} login USER password PASSWORD\``,
    );
  }
  const problem = storeUriProblem(s);
  if (problem) return check.note(path, problem.message, problem.hint);
  if (/^(https?|file):/.test(s)) {
    try {
      new URL(s);
    } catch {
      return check.fail(path, "a valid URL", s);
    }
  }
  return s;
}

/**
 * Paths may start with `~` and use `$VAR` / `${VAR}` (e.g. `$CREDENTIALS_DIRECTORY/token`).
 * `lenient`: an unset variable is left as written instead of being an error.
 */
function expandPath(
  check: Checker,
  path: (string | number)[],
  value: unknown,
  { env, home }: Environment,
  lenient: boolean,
) {
  const s = check.string(path, value, "a file path");
  if (s === undefined) return undefined;
  let missing: string | undefined;
  const expanded = s
    .replace(/^~(?=$|\/)/, home)
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, a: string, b: string) => {
      const name = a ?? b;
      const v = env[name];
      if (v === undefined || v === "") missing = name;
      return v || (lenient ? `$${name}` : "");
    });
  if (missing && lenient) return expanded;
  if (missing) return check.note(path, `refers to $${missing}, which is not set in genpush's environment`);
  if (!isAbsolute(expanded)) return check.fail(path, "an absolute path (or one starting with ~)", s);
  return expanded;
}

/** The attic and cachix programs the caches run (configured, else found on PATH): no one else may change them. */
async function checkClients(check: Checker, caches: (CacheConfig | undefined)[], uid: number): Promise<void> {
  const clients = caches.flatMap((cache, i) => {
    if (cache?.type === "attic") return [{ i, program: "attic", explicit: cache.atticPath, key: "atticPath" }];
    if (cache?.type === "cachix") return [{ i, program: "cachix", explicit: cache.cachixPath, key: "cachixPath" }];
    return [];
  });
  if (clients.length === 0) return;
  for (const { i, program, explicit, key } of clients) {
    // Not installed: the push says so where it needs the client.
    const file = await findExecutable(program, explicit);
    const problem = file && (await distrust(file, trustedOwners(uid)));
    if (!file || !problem) continue;
    const what = `the ${program} client${explicit ? "" : " (found on PATH)"}`;
    check.note(
      ["caches", i, explicit ? key : "type"],
      distrustMessage(file, what, problem),
      distrustHint(problem, uid),
    );
  }
}

/** Checks one secret file; true when it cannot be read because it is someone else's (the note says whose). */
async function checkSecretFile(
  check: Checker,
  { key, file, nixKey }: SecretFile,
  warnings: string[],
  /** Who runs genpush, when the files' owners are checked. */
  uid: number | undefined,
  /** The configuration naming it, and who runs genpush. */
  reader: { file: string; uid: number },
): Promise<boolean> {
  try {
    // A secret file others can replace (by a link to /etc/shadow, say) would be read and sent to a server.
    const distrusted = uid === undefined ? undefined : await distrust(file, trustedOwners(uid));
    if (distrusted && uid !== undefined) {
      check.note(key, distrustMessage(file, "the secret", distrusted), distrustHint(distrusted, uid));
      return false;
    }
    const info = await stat(file);
    if (!info.isFile()) {
      check.note(key, `cannot read ${file} (not a regular file)`);
      return false;
    }
    await access(file, constants.R_OK);
    const problem = nixKey ? nixSecretKeyProblem(await readFile(file, "utf8")) : undefined;
    if (problem) check.note(key, `${file} ${problem}`, NIX_KEY_HINT);
    if ((info.mode & 0o044) !== 0) {
      const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
      warnings.push(
        `${formatKeyPath(key)}: the secret ${file} may be read by ${info.mode & 0o004 ? "anyone" : "its group"} (mode ${mode}); run \`chmod 600 ${file}\``,
      );
    }
    return false;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const other = code === "EACCES" ? await otherOwner(file, reader.uid) : undefined;
    if (other) {
      check.note(key, ...othersSecret(file, other, reader));
      return true;
    }
    check.note(
      key,
      `cannot read ${file} (${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code})`,
    );
    return false;
  }
}

/**
 * A secret of someone else's (root's 0600 key, named by root's configuration): whose it is, and
 * how to run genpush as them; a configuration of theirs is named theirs.
 */
function othersSecret(
  file: string,
  other: { path: string; owner: number },
  reader: { file: string; uid: number },
): [message: string, hint: string] {
  const whose = userName(other.owner);
  const theirs = other.path === file ? "it" : other.path;
  const message = `cannot read ${file} (permission denied): ${theirs} belongs to ${whose}, and genpush runs as ${userName(reader.uid)}`;
  const run = `run genpush as ${whose} (\`${asOwnerCommand(other.owner)}\`)`;
  return isOwnedBy(reader.file, other.owner)
    ? [
        message,
        `${reader.file} looks like ${whose}'s configuration: ${run}, or use a configuration of your own (--config FILE)`,
      ]
    : [message, `${run}, or name a copy of your own in its place`];
}

/** Whether `file` exists and is `owner`'s. */
function isOwnedBy(file: string, owner: number): boolean {
  try {
    return statSync(file).uid === owner;
  } catch {
    return false;
  }
}

function configError(source: ConfigSource, check: Checker, othersOnly = false): UsageError {
  const lines = check.issues.map((issue) => {
    const line = source.lineOf(issue.path);
    return `${source.file}${line ? `:${line}` : ""}: ${formatKeyPath(issue.path)}: ${issue.message}`;
  });
  const count = lines.length === 1 ? "" : `${lines.length} problems in the configuration:\n`;
  const hints = new Set(check.issues.flatMap((issue) => (issue.hint ? [issue.hint] : [])));
  // Nothing to fix when every problem is a secret of root's configuration: it is not the user's to fix.
  const fix = othersOnly ? [] : ["fix the keys named above, then run `genpush config check`"];
  return new UsageError(`${count}${lines.join("\n")}`, [...hints, ...fix].join("; "));
}

/** Every default, in one place. */
function resolveConfig(v: Validated, environment: Environment): Config {
  return {
    file: v.file,
    stateDir: v.stateDir ?? defaultStateDir(environment),
    profiles: v.profiles ?? defaultProfiles(environment),
    caches: v.caches,
    upstreamKeys: v.upstreamKeys ?? ["cache.nixos.org-1"],
    exclude: v.exclude ?? [],
    notify: v.notify ?? "failures",
    meteredLimit: v.meteredLimit ?? DEFAULT_METERED_LIMIT,
    ...(v.metricsFile === undefined ? {} : { metricsFile: v.metricsFile }),
    warnings: v.warnings,
  };
}

/** Root's state directory, where genpush run as root (and its system services) keeps its records. */
export const SYSTEM_STATE_DIR = "/var/lib/genpush";

export function defaultStateDir({ env, uid, home }: Environment): string {
  // systemd's StateDirectory= may list several, colon-separated; ours is the first.
  const fromSystemd = env.STATE_DIRECTORY?.split(":")[0];
  if (fromSystemd) return fromSystemd;
  if (uid === 0) return SYSTEM_STATE_DIR;
  return join(env.XDG_STATE_HOME || join(home, ".local", "state"), "genpush");
}

/**
 * Without a `profiles` list: root pushes the NixOS system profile and comin's
 * (one that does not exist yet is nothing to do);
 * a user pushes home-manager's, at the XDG location when
 * ~/.local/state/nix/profiles exists (as home-manager itself decides), else the legacy one.
 */
/**
 * Without a configuration file: the default profiles, and the user's own (`~/.nix-profile`,
 * which `nix-env` and `nix profile` switch) where it exists, so that the first push finds
 * something wherever Nix has been used.
 */
export function noFileProfiles(environment: Environment): ProfileConfig[] {
  const user = userProfile(environment.home);
  return [...defaultProfiles(environment), ...(user ? [user] : [])];
}

export function defaultProfiles({ env, uid, home }: Environment): ProfileConfig[] {
  if (uid === 0) {
    return [
      { name: "system", path: "/nix/var/nix/profiles/system" },
      { name: "comin", path: "/nix/var/nix/profiles/system-profiles/comin" },
    ];
  }
  const xdgProfiles = join(env.XDG_STATE_HOME || join(home, ".local", "state"), "nix", "profiles");
  const legacyProfiles = `/nix/var/nix/profiles/per-user/${env.USER || env.LOGNAME || ""}`;
  const dir = existsSync(xdgProfiles) ? xdgProfiles : legacyProfiles;
  return [{ name: "home-manager", path: join(dir, "home-manager") }];
}
