#!/usr/bin/env node
/**
 * The entry point: V8's settings, and Node's compile cache (runtime/compile-cache.ts), both
 * before anything else is loaded; then the command line (main.ts).
 */
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { useCompileCache } from "./runtime/compile-cache.js";

// The young generation stays at the size it starts with (1 MiB a semi-space) rather than
// growing to V8's 16: a push's garbage is short-lived, and an update's push peaked about
// 20 MiB higher with it grown; it costs about 30 ms more scavenging. (--max-semi-space-size in NODE_OPTIONS does
// the same, but any heap flag there costs Node its start-up snapshot: 15 ms a run.)
setFlagsFromString("--semi-space-growth-factor=1");

await useCompileCache(fileURLToPath(import.meta.url));
await import("./main.js");
