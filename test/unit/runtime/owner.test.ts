import assert from "node:assert/strict";
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { asOwnerCommand, otherOwner, userName } from "../../../src/runtime/owner.js";

describe("whose a file is, and the command that runs genpush as them", () => {
  test("user names come from /etc/passwd; a uid it does not list is named by number", () => {
    assert.equal(userName(0), "root");
    assert.equal(userName(65534), "nobody");
    assert.equal(userName(4_000_000_000), "uid 4000000000");
  });

  test("the command line as typed, under sudo (sudo -u NAME for another user), quoted for a shell", () => {
    assert.equal(
      asOwnerCommand(0, ["push", "--config", "/etc/genpush/config.yaml"]),
      "sudo genpush push --config /etc/genpush/config.yaml",
    );
    assert.equal(asOwnerCommand(65534, ["status"]), "sudo -u nobody genpush status");
    assert.equal(
      asOwnerCommand(0, ["--config", "/srv/my config.yaml", "diff", "--profile", "it's"]),
      "sudo genpush --config '/srv/my config.yaml' diff --profile 'it'\\''s'",
    );
  });

  test("the owner of a file, or of the nearest directory on its way that can be looked at; none when it is the reader's", async () => {
    const dir = await mkdtemp(join(tmpdir(), "genpush-owner-"));
    const file = join(dir, "key");
    writeFileSync(file, "x");
    chownSync(file, 65534, 65534);
    assert.deepEqual(await otherOwner(file, 0), { path: file, owner: 65534 });
    assert.equal(await otherOwner(file, 65534), undefined);
    // A file that is not there: the directory it would be in.
    const missing = join(dir, "sub", "none");
    mkdirSync(join(dir, "sub"));
    chmodSync(join(dir, "sub"), 0o700);
    assert.deepEqual(await otherOwner(missing, 65534), { path: join(dir, "sub"), owner: 0 });
  });
});
