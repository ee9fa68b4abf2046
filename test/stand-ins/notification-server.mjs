#!/usr/bin/env node
// The suite's own notification server: owns org.freedesktop.Notifications on the session
// bus (DBUS_SESSION_BUS_ADDRESS) as a desktop's notification daemon does, and writes each
// Notify call it receives to standard output as one JSON line. It prints `ready` once
// the name is its own, and stops when a pipe on its standard input ends; as a service, on
// SIGTERM (serve.mjs). With the argument `silent`, it takes each Notify call (and prints it)
// but never answers: a desktop whose notification daemon hangs.
import dbus from "dbus-next";
import { serve } from "./serve.mjs";

const NAME = "org.freedesktop.Notifications";
let id = 0;
const silent = process.argv[2] === "silent";

class Notifications extends dbus.interface.Interface {
  Notify(appName, replacesId, appIcon, summary, body, actions, hints, expireTimeout) {
    const urgency = hints.urgency?.value ?? null;
    const call = { appName, replacesId, appIcon, summary, body, actions, urgency, expireTimeout };
    process.stdout.write(`${JSON.stringify(call)}\n`);
    if (silent) return new Promise(() => {});
    id += 1;
    return id;
  }
  GetCapabilities() {
    return ["body"];
  }
  GetServerInformation() {
    return ["genpush-test-notifications", "genpush", "1", "1.2"];
  }
}
Notifications.configureMembers({
  methods: {
    Notify: { inSignature: "susssasa{sv}i", outSignature: "u" },
    GetCapabilities: { inSignature: "", outSignature: "as" },
    GetServerInformation: { inSignature: "", outSignature: "ssss" },
  },
});

await serve(dbus.sessionBus(), NAME, "/org/freedesktop/Notifications", new Notifications(NAME));
