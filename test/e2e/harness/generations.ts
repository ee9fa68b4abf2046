// Synthetic generations (test/integration/harness/nix.ts) built and switched INSIDE the container.
//
// Why inside: the host's root is the overlay's lower layer, so a path the host builds after boot
// shows up as files but is not valid in the container's store: its Nix database was copied up to
// the overlay at the first write and never sees the host's later registrations ("path ... is not
// valid", tried). Building before boot would work, but each scenario would have to know its
// generations up front. So the container builds them through its own nix-daemon, as the user who
// switches (root, or alice in group nix-users), exactly as a real switch would.
import { type GenerationSpec, generationExpr } from "../../integration/harness/nix.js";
import type { Container } from "./container.js";

export interface Built {
  storePath: string;
  closure: string[];
}

const DAEMON = { NIX_REMOTE: "daemon" };

export async function buildInside(c: Container, spec: GenerationSpec, opts: { user?: string } = {}): Promise<Built> {
  const expr = generationExpr(spec);
  const args = ["--no-out-link", "--option", "sandbox", "false", "--option", "substituters", "", "--max-jobs", "8"];
  const out = await c.run(["nix-build", ...args, "-E", expr], { ...opts, env: DAEMON, timeoutMs: 300_000 });
  const storePath = out.trim().split("\n").pop() ?? "";
  const closure = (await c.run(["nix-store", "-qR", storePath], { ...opts, env: DAEMON })).trim().split("\n");
  return { storePath, closure: closure.sort() };
}

/** `nix-env --profile P --set S` inside (one or more in a row, as fast as the shell runs them). */
export async function switchInside(
  c: Container,
  profile: string,
  storePaths: string[],
  opts: { user?: string } = {},
): Promise<void> {
  const script = storePaths.map((_, i) => `nix-env --profile "$1" --set "$${i + 2}"`).join(" && ");
  await c.run(["sh", "-ec", script, "sh", profile, ...storePaths], { ...opts, env: DAEMON });
}
