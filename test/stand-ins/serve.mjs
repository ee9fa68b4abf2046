// What the stand-in D-Bus services share: export one object, own the name, say `ready`, and
// take lines on standard input until a pipe there ends. As a service (stdin /dev/null, under
// systemd-run), stdin is not read and SIGTERM stops it.
import { fstatSync } from "node:fs";
import { createInterface } from "node:readline";
import dbus from "dbus-next";

/** Serves `iface` at `path` as `name` on `bus`; `onLine` gets each line of standard input. */
export async function serve(bus, name, path, iface, onLine = () => {}) {
  bus.export(path, iface);
  const reply = await bus.requestName(name, dbus.NameFlag.DO_NOT_QUEUE);
  if (reply !== dbus.RequestNameReply.PRIMARY_OWNER) {
    process.stderr.write(`could not own ${name} (reply ${reply})\n`);
    process.exit(1);
  }
  process.stdout.write("ready\n");
  const stdin = fstatSync(0);
  if (!stdin.isFIFO() && !stdin.isSocket()) return;
  createInterface({ input: process.stdin }).on("line", onLine);
  process.stdin.on("end", () => {
    bus.disconnect();
    process.exit(0);
  });
}
