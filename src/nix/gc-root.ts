/**
 * While a generation is being pushed, and for as long as a push of it failed,
 * it is held by an indirect GC root in the state directory, so neither
 * `nix-collect-garbage -d` nor comin deleting its link can take it away before
 * it reaches every cache (cachix#370 is what happens otherwise). The root is
 * released once it is pushed, or moved to the newer generation that
 * supersedes it.
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { addIndirectRoots } from "./cli.js";
import type { StorePath } from "./store-path.js";

export function gcRootLink(stateDir: string, profile: string): string {
  return join(stateDir, "gcroots", profile);
}

export async function holdGeneration(stateDir: string, profile: string, storePath: StorePath): Promise<void> {
  const link = gcRootLink(stateDir, profile);
  await mkdir(join(stateDir, "gcroots"), { recursive: true, mode: 0o755 });
  await addIndirectRoots(link, [storePath]);
}

export async function releaseGeneration(stateDir: string, profile: string): Promise<void> {
  await rm(gcRootLink(stateDir, profile), { force: true });
}
