// Clients that blurt out their secrets: an `attic` that reads its token the way the real one
// does (the token file named in $XDG_CONFIG_HOME/attic/config.toml) and a `cachix` that takes
// CACHIX_AUTH_TOKEN and CACHIX_SIGNING_KEY; both print them in an error, as a server echoing a
// refused token would, and fail. genpush quotes what a client says: only ever scrubbed.
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../integration/harness/nix.js";

const ATTIC = `#!/usr/bin/env node
const fs = require("node:fs");
const path = require("node:path");
const conf = fs.readFileSync(path.join(process.env.XDG_CONFIG_HOME, "attic", "config.toml"), "utf8");
const token = fs.readFileSync(/token-file = "([^"]+)"/.exec(conf)[1], "utf8").trim();
process.stdout.write("Pushing with token " + token + "\\n");
process.stderr.write("Error: 401 Unauthorized: the token " + token + " was refused\\n");
process.exit(1);
`;

const CACHIX = `#!/usr/bin/env node
const token = process.env.CACHIX_AUTH_TOKEN || "";
const key = process.env.CACHIX_SIGNING_KEY || "";
process.stdout.write("using signing key " + key + "\\n");
process.stderr.write("Error: 401 Unauthorized: CACHIX_AUTH_TOKEN=" + token + " is not valid\\n");
process.exit(1);
`;

export function leakyClients(): { attic: string; cachix: string } {
  const dir = tempDir("genpush-leaky-");
  const attic = join(dir, "attic");
  const cachix = join(dir, "cachix");
  // CommonJS: a directory without package.json.
  writeFileSync(attic, ATTIC);
  writeFileSync(cachix, CACHIX);
  chmodSync(attic, 0o755);
  chmodSync(cachix, 0o755);
  return { attic, cachix };
}
