// What the systemd scenarios share: configs as genpush reads them, and questions about the
// cache (on the host) and the container (units, journal, genpush's own answers).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { blockNaming, namedPath } from "../../docs-blocks.js";
import { hashOf } from "../../integration/harness/fixture.js";
import type { Cache } from "../../integration/harness/nginx.js";
import { type Container, type ExecOptions, GENPUSH_CLI, type JournalEntry, waitUntil } from "./container.js";

export const SYSTEM = "/nix/var/nix/profiles/system";
export const COMIN = "/nix/var/nix/profiles/system-profiles/comin";
export const CONFIG = "/etc/genpush/config.yaml";
/**
 * The LoadCredential= drop-in of docs/units.md, installed as the docs show it:
 * `genpush-.service.d` applies to every unit whose name starts with `genpush-` (the push
 * services and the verify service alike). KEY is the file it hands the services.
 */
export const DROP_IN = blockNaming("/etc/systemd/system/genpush-.service.d/credentials.conf");
export const DROP_INS = [namedPath(DROP_IN) as string];
export const KEY = /^LoadCredential=signing-key:(\/\S+)$/m.exec(DROP_IN.text)?.[1] as string;
export const genpush = ["node", GENPUSH_CLI];

/**
 * The system's configuration, signing key and LoadCredential= drop-in inside the container:
 * the key made at KEY (where the docs' drop-in takes it from), CONFIG for `store`. Returns the
 * public key, for a signed pull.
 */
export async function installSystemScene(c: Container, store: string, keyName: string): Promise<string> {
  await c.run(["mkdir", "-p", dirname(CONFIG), dirname(KEY)]);
  await c.run(["nix-store", "--generate-binary-cache-key", keyName, KEY, `${KEY}.pub`]);
  await c.writeFile(CONFIG, systemConfig(store));
  await c.writeFile(DROP_INS[0] as string, DROP_IN.text);
  return (await c.run(["cat", `${KEY}.pub`])).trim();
}

/** /etc/genpush/config.yaml: both root profiles, one nix cache signed with a credential. */
export function systemConfig(store: string): string {
  return `profiles:
  - name: system
    path: ${SYSTEM}
  - name: comin
    path: ${COMIN}
caches:
  - name: lan
    systems: [x86_64-linux]
    type: nix
    store: ${store}
    signingKeyFile: $CREDENTIALS_DIRECTORY/signing-key
`;
}

/** ~/.config/genpush/config.yaml of a home-manager user; stateDir left to its default. */
export function userConfig(store: string): string {
  return `profiles:
  - name: home-manager
    path: ~/.local/state/nix/profiles/home-manager
caches:
  - name: lan
    systems: [x86_64-linux]
    type: nix
    store: ${store}
    signingKeyFile: ~/.config/genpush/signing-key
`;
}

export function inCache(cache: Cache, storePath: string): boolean {
  return existsSync(join(cache.dir, `${hashOf(storePath)}.narinfo`));
}

/** The line `push` logs for a profile x cache it pushed. */
export function pushedLine(profile: string, generation: number): RegExp {
  return new RegExp(`^pushed \\d+ of \\d+ paths? \\(.*\\) of ${profile} generation ${generation} to lan in \\S+$`);
}

/** The generation number N of `PROFILE -> PROFILE-N-link`. */
export async function generationOf(c: Container, profile: string, opts: ExecOptions = {}): Promise<number> {
  const link = (await c.run(["readlink", profile], opts)).trim();
  const n = Number(/-(\d+)-link$/.exec(link)?.[1]);
  if (!Number.isInteger(n)) throw new Error(`${profile} -> ${link} is not a generation link`);
  return n;
}

/** Waits until the push of `storePath` reached the cache and the service has finished. */
export async function waitPushed(
  c: Container,
  cache: Cache,
  storePath: string,
  unit: string,
  opts: { user?: string; timeoutMs?: number } = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  try {
    await waitUntil(() => inCache(cache, storePath), timeoutMs, `${storePath} in the cache`);
    await waitIdle(c, unit, { ...opts, timeoutMs });
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${await journalText(c, unit, opts)}`);
  }
}

/** Waits until the unit is neither starting nor stopping: a run under way has finished. */
export async function waitIdle(
  c: Container,
  unit: string,
  opts: { user?: string; timeoutMs?: number } = {},
): Promise<void> {
  await waitUntil(
    async () => !["activating", "deactivating"].includes((await c.show(unit, ["ActiveState"], opts)).ActiveState ?? ""),
    opts.timeoutMs ?? 30_000,
    `${unit} to finish`,
  );
}

/** The unit's journal as text, for assertion messages. */
export async function journalText(c: Container, unit: string, opts: { user?: string } = {}): Promise<string> {
  const entries = await c.journal(unit, opts).catch((): JournalEntry[] => []);
  return `--- journal of ${unit} ---\n${entries
    .slice(-40)
    .map((e) => `<${e.PRIORITY}>${e.MESSAGE}`)
    .join("\n")}`;
}

/** Waits for the pushed line of a profile generation in the unit's journal; returns that entry. */
export async function waitJournalLine(
  c: Container,
  unit: string,
  line: RegExp,
  opts: { user?: string } = {},
): Promise<JournalEntry> {
  try {
    return await waitUntil(
      async () => (await c.journal(unit, opts)).find((e) => line.test(e.MESSAGE)),
      10_000,
      `${line} in the journal of ${unit}`,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${await journalText(c, unit, opts)}`);
  }
}

/** `genpush ARGS --json` inside; the parsed document, or a failure with everything said. */
// biome-ignore lint/suspicious/noExplicitAny: the JSON shape is what the tests assert on
export async function genpushJson(c: Container, args: string[], opts: ExecOptions = {}): Promise<any> {
  const r = await c.exec([...genpush, ...args, "--json"], opts);
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`genpush ${args.join(" ")} --json: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  }
}

/** A message that is one JSON object: pino output leaking into the journal. */
export function isRawJson(message: string): boolean {
  if (!message.trimStart().startsWith("{")) return false;
  try {
    JSON.parse(message);
    return true;
  } catch {
    return false;
  }
}
