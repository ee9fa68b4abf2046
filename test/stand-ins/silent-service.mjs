#!/usr/bin/env node
// A D-Bus service that takes every call and never answers, named as such: it owns the name in
// argv[2] on the system bus (DBUS_SYSTEM_BUS_ADDRESS) or, with argv[3] `session`, the session
// bus, receives each method call addressed to it and prints `called INTERFACE.MEMBER`, and
// sends no reply, so a caller waits for as long as its own bound lets it. Unlike a name that
// nobody owns, which the bus refuses at once, this is what a hung service looks like.
// It stops when a pipe on its standard input ends.
import dbus from "dbus-next";

const name = process.argv[2];
const bus = process.argv[3] === "session" ? dbus.sessionBus() : dbus.systemBus();
bus.addMethodHandler((message) => {
  process.stdout.write(`called ${message.interface}.${message.member}\n`);
  return true;
});
const reply = await bus.requestName(name, dbus.NameFlag.DO_NOT_QUEUE);
if (reply !== dbus.RequestNameReply.PRIMARY_OWNER) {
  process.stderr.write(`could not own ${name} (reply ${reply})\n`);
  process.exit(1);
}
process.stdout.write("ready\n");
process.stdin.resume();
process.stdin.on("end", () => {
  bus.disconnect();
  process.exit(0);
});
