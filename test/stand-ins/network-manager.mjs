#!/usr/bin/env node
// A stand-in for NetworkManager's D-Bus service, named as such (test-infrastructure.md):
// NetworkManager itself cannot manage devices in the test container. It owns
// org.freedesktop.NetworkManager on the system bus (DBUS_SYSTEM_BUS_ADDRESS, else the
// machine's) and serves one property of /org/freedesktop/NetworkManager, `Metered`
// (NMMetered: 0 unknown, 1 yes, 2 no, 3 guess-yes, 4 guess-no), set from argv[2] and
// changed by a line on standard input (answered `set N`). It prints `ready` once the name is
// its own, and one line `get` per read of the property, so a test can tell that it was asked.
// It stops when a pipe on its standard input ends; as a service, on SIGTERM (serve.mjs).
import dbus from "dbus-next";
import { serve } from "./serve.mjs";

const NAME = "org.freedesktop.NetworkManager";
let metered = Number(process.argv[2] ?? 0);

class NetworkManager extends dbus.interface.Interface {
  get Metered() {
    process.stdout.write("get\n");
    return metered;
  }
}
NetworkManager.configureMembers({
  properties: { Metered: { signature: "u", access: dbus.interface.ACCESS_READ } },
});

await serve(dbus.systemBus(), NAME, "/org/freedesktop/NetworkManager", new NetworkManager(NAME), (line) => {
  metered = Number(line);
  process.stdout.write(`set ${metered}\n`);
});
