/**
 * The one place genpush speaks D-Bus (dbus-next): systemd's manager for unit
 * states and reloads. Every call is bounded in
 * time, and every failure means "no bus": callers carry on without it (a
 * container, a plain shell, a CI runner).
 */
import dbus, { type MessageBus, type Variant } from "dbus-next";

export type BusKind = "system" | "user";

const CALL_TIMEOUT_MS = 3000;
const SYSTEMD = "org.freedesktop.systemd1";

/** The bus whose systemd manages this user's units: the system one for root. */
export function busKindFor(uid: number): BusKind {
  return uid === 0 ? "system" : "user";
}

export async function withBus<T>(kind: BusKind, use: (bus: MessageBus) => Promise<T>): Promise<T> {
  const bus = connect(kind);
  const failed = new Promise<never>((_, reject) => {
    bus.on("error", (error: Error) => reject(new Error(`D-Bus ${kind} bus: ${error.message}`)));
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`D-Bus ${kind} bus did not answer within ${CALL_TIMEOUT_MS / 1000}s`)),
      CALL_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([use(bus), failed, timeout]);
  } finally {
    clearTimeout(timer);
    bus.disconnect();
    // disconnect() only half-closes the socket: a bus that never closes its side would keep
    // a oneshot run alive after the time-out.
    (bus as unknown as { _connection?: { stream?: { destroy?(): void } } })._connection?.stream?.destroy?.();
  }
}

type Interface = Record<string, ((...args: unknown[]) => Promise<unknown>) | undefined>;

async function call(bus: MessageBus, service: string, path: string, iface: string, method: string, ...args: unknown[]) {
  const proxy = (await bus.getProxyObject(service, path)).getInterface(iface) as unknown as Interface;
  const fn = proxy[method];
  if (!fn) throw new Error(`${iface} has no method ${method}`);
  return fn.apply(proxy, args);
}

function connect(kind: BusKind): MessageBus {
  if (kind === "system") return dbus.systemBus();
  const runtime = process.env.XDG_RUNTIME_DIR;
  const busAddress =
    process.env.DBUS_SESSION_BUS_ADDRESS ?? (runtime ? `unix:path=${runtime}/bus` : "unix:path=/nonexistent/bus");
  return dbus.sessionBus({ busAddress });
}

export interface UnitState {
  name: string;
  activeState: string;
  subState: string;
  /** The outcome of the last run: `success`, `exit-code`, `timeout`, ... */
  result: string | null;
  /** When it last ran (services) or fired (timers), ISO 8601; null if never or unknown. */
  lastTrigger: string | null;
}

export async function unitStates(kind: BusKind, names: readonly string[]): Promise<UnitState[]> {
  return withBus(kind, async (bus) => {
    const states: UnitState[] = [];
    for (const name of names) {
      const path = (await call(
        bus,
        SYSTEMD,
        "/org/freedesktop/systemd1",
        `${SYSTEMD}.Manager`,
        "LoadUnit",
        name,
      )) as string;
      const getAll = (iface: string) =>
        call(bus, SYSTEMD, path, "org.freedesktop.DBus.Properties", "GetAll", iface) as Promise<
          Record<string, Variant>
        >;
      const unit = await getAll(`${SYSTEMD}.Unit`);
      const type = name.endsWith(".service") ? "Service" : name.endsWith(".timer") ? "Timer" : "Path";
      const own = await getAll(`${SYSTEMD}.${type}`);
      const since =
        type === "Service" ? own.ExecMainStartTimestamp : type === "Timer" ? own.LastTriggerUSec : undefined;
      states.push({
        name,
        activeState: String(unit.ActiveState?.value ?? "unknown"),
        subState: String(unit.SubState?.value ?? "unknown"),
        result: own.Result ? String(own.Result.value) : null,
        lastTrigger: timestamp(since?.value),
      });
    }
    return states;
  });
}

/** systemd timestamps are microseconds since the epoch; 0 means never. */
function timestamp(usec: unknown): string | null {
  if (typeof usec !== "bigint" && typeof usec !== "number") return null;
  const ms = Number(BigInt(usec) / 1000n);
  return ms > 0 ? new Date(ms).toISOString() : null;
}

/** `systemctl daemon-reload`, over the bus. */
export async function reloadManager(kind: BusKind): Promise<void> {
  await withBus(kind, async (bus) => {
    await call(bus, SYSTEMD, "/org/freedesktop/systemd1", `${SYSTEMD}.Manager`, "Reload");
  });
}
