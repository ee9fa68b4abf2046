/**
 * Metered networks: on a phone hotspot a first push of gigabytes is unwelcome. When
 * NetworkManager says the connection is metered (its `Metered` property: yes, or
 * guess-yes), an upload of more NAR bytes than `meteredLimit` waits: the push is
 * deferred, the generation stays pending (and held against garbage collection), and
 * the next trigger or the verify timer on an unmetered network pushes it.
 *
 * No system bus, no NetworkManager, no answer within withBus's bound: not metered.
 * The bus is asked once per run, and only when an upload is over the limit, so a
 * small switch never waits on it. A cache on this machine (a file:// or local store)
 * is never held back.
 */
import type { CacheConfig } from "../config/config.js";
import { formatBytes } from "../runtime/format.js";

const NM = "org.freedesktop.NetworkManager";

/** NMMetered: unknown, yes, no, guess-yes, guess-no. */
const METERED_NAMES = ["unknown", "yes", "no", "guess-yes", "guess-no"] as const;

export interface NetworkState {
  metered: boolean;
  /** What NetworkManager said (`yes`, `guess-yes`...), or why nothing was learnt. */
  detail: string;
}

/** What NetworkManager says of the connection now; not metered where it cannot be asked. */
export async function networkState(): Promise<NetworkState> {
  try {
    const [{ withBus }, { default: dbus }] = await Promise.all([import("./bus.js"), import("dbus-next")]);
    const value = await withBus("system", async (bus) => {
      const reply = await bus.call(
        new dbus.Message({
          destination: NM,
          path: "/org/freedesktop/NetworkManager",
          interface: "org.freedesktop.DBus.Properties",
          member: "Get",
          signature: "ss",
          body: [NM, "Metered"],
        }),
      );
      return (reply?.body[0] as { value?: unknown } | undefined)?.value;
    });
    const name = typeof value === "number" ? (METERED_NAMES[value] ?? `unknown (${value})`) : "unknown";
    return { metered: name === "yes" || name === "guess-yes", detail: name };
  } catch (error) {
    return { metered: false, detail: `NetworkManager not reachable: ${(error as Error).message}` };
  }
}

/** Whether uploads to `cache` cross a network at all. */
export function crossesNetwork(cache: CacheConfig): boolean {
  if (cache.type !== "nix") return true;
  const store = cache.store;
  if (store.startsWith("/")) return false;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//.exec(store)?.[1] ?? store.split("?")[0];
  return !["file", "local", "daemon", "unix", "auto"].includes(scheme as string);
}

/**
 * Decides, per upload, whether it waits for an unmetered network. `limit`: the most NAR bytes
 * an upload may have on a metered one; 0 holds back every upload, -1 ignores metering.
 */
export class MeteredGate {
  private state: Promise<NetworkState> | undefined;

  constructor(
    private readonly limit: number,
    /** Told once what NetworkManager said, as a sentence for the debug log. */
    private readonly debug: (line: string) => void = () => {},
    private readonly ask: () => Promise<NetworkState> = networkState,
  ) {}

  /** The reason `narBytes` to `cache` waits, or undefined to go ahead. */
  async defer(cache: CacheConfig, narBytes: number): Promise<string | undefined> {
    if (this.limit < 0 || narBytes <= this.limit || !crossesNetwork(cache)) return undefined;
    this.state ??= this.ask().then((state) => {
      this.debug(`network metered: ${state.metered ? "yes" : "no"} (${state.detail})`);
      return state;
    });
    const { metered, detail } = await this.state;
    if (!metered) return undefined;
    const upload = `the upload of ${formatBytes(narBytes)} of NAR`;
    const why =
      this.limit === 0 ? `meteredLimit is 0: ${upload}` : `${upload} is over meteredLimit (${formatBytes(this.limit)})`;
    return `the network is metered (NetworkManager: ${detail}) and ${why} waits for an unmetered network`;
  }
}
