#!/usr/bin/env node
/**
 * The entry point: V8's settings, and Node's compile cache (runtime/compile-cache.ts), both
 * before anything else is loaded; then the command line (main.ts).
 */
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { useCompileCache } from "./runtime/compile-cache.js";

// A push makes several requests per path, each leaving a few KiB of garbage; left to itself, V8
// lets the heap grow to four times what is live before collecting it (a 20,000-path push
// peaked at 230 MiB, with 30 MiB live). Collecting when it has grown by half keeps the peak
// near what is live (150 MiB there) at no measurable cost in time. Not settable in
// NODE_OPTIONS; set here, before anything is allocated.
setFlagsFromString("--heap-growing-percent=50");
// And the young generation stays at the size it starts with (1 MiB a semi-space) rather than
// growing to V8's 16: a push's garbage is short-lived, and an update's push peaked about
// 20 MiB higher with it grown; it costs about 30 ms more scavenging. (--max-semi-space-size in NODE_OPTIONS does
// the same, but any heap flag there costs Node its start-up snapshot: 15 ms a run.)
setFlagsFromString("--semi-space-growth-factor=1");

await useCompileCache(fileURLToPath(import.meta.url));
await import("./main.js");
