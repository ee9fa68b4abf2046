// Where a compressor program's group of small NARs is written (groupParent in
// src/caches/compression.ts): the unit's runtime directory, else the session's, when nobody but
// root and this user can change it and it has room for the group twice over; else $TMPDIR.
// Real directories, modes, owners and file systems (CI runs as root: chown needs it).
import assert from "node:assert/strict";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { groupParent } from "../../../src/caches/compression.js";

if (process.getuid?.() !== 0) assert.fail("these tests chown directories: they need root (CI runs as root)");

const base = mkdtempSync(join(tmpdir(), "genpush-group-dir-"));
after(() => rmSync(base, { recursive: true, force: true }));

/** A directory of root's, 0700, as systemd makes RuntimeDirectory= (RuntimeDirectoryMode=0700). */
function own(name: string): string {
  const dir = join(base, name);
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

const KIB = 1024;

describe("the compressor's group directory", () => {
  it("is the unit's RUNTIME_DIRECTORY (its first, where systemd lists several), before XDG_RUNTIME_DIR", async () => {
    const unit = own("unit");
    const session = own("session");
    assert.equal(await groupParent(KIB, { RUNTIME_DIRECTORY: unit, XDG_RUNTIME_DIR: session }, 0), unit);
    assert.equal(await groupParent(KIB, { RUNTIME_DIRECTORY: `${unit}:${own("second")}` }, 0), unit);
  });

  it("is XDG_RUNTIME_DIR where the unit has none (a login, a user service)", async () => {
    const session = own("session-only");
    assert.equal(await groupParent(KIB, { XDG_RUNTIME_DIR: session }, 0), session);
  });

  it("is $TMPDIR where neither is set, or set to a relative path or to nothing that exists", async () => {
    assert.equal(await groupParent(KIB, {}, 0), tmpdir());
    assert.equal(await groupParent(KIB, { RUNTIME_DIRECTORY: "run/genpush", XDG_RUNTIME_DIR: "" }, 0), tmpdir());
    assert.equal(await groupParent(KIB, { RUNTIME_DIRECTORY: join(base, "absent") }, 0), tmpdir());
  });

  it("is not one that someone else can change: writable by others, or another user's", async () => {
    const open = own("open");
    chmodSync(open, 0o777);
    const theirs = own("theirs");
    chownSync(theirs, 1000, 1000);
    const session = own("fallback-session");
    assert.equal(await groupParent(KIB, { RUNTIME_DIRECTORY: open, XDG_RUNTIME_DIR: session }, 0), session);
    assert.equal(await groupParent(KIB, { RUNTIME_DIRECTORY: theirs }, 0), tmpdir());
    // The same directory is that user's own, for a genpush running as that user.
    assert.equal(await groupParent(KIB, { XDG_RUNTIME_DIR: theirs }, 1000), theirs);
  });

  it("is not one without room for the group twice over (its NARs and what the program writes), for each group compressed at once", async () => {
    const unit = own("small");
    const { bavail, bsize } = statfsSync(unit);
    const free = bavail * bsize;
    // Margins of a quarter, and of 256 MiB: other processes write to this file system meanwhile.
    assert.equal(await groupParent(Math.floor(free / 4), { RUNTIME_DIRECTORY: unit }, 0, 1), unit);
    assert.equal(
      await groupParent(Math.floor(free / 2) + 256 * KIB * KIB, { RUNTIME_DIRECTORY: unit }, 0, 1),
      tmpdir(),
    );
    // Four groups at once: each needs a quarter of what one alone may take.
    assert.equal(await groupParent(Math.floor(free / 16), { RUNTIME_DIRECTORY: unit }, 0, 4), unit);
    assert.equal(await groupParent(Math.floor(free / 4), { RUNTIME_DIRECTORY: unit }, 0, 4), tmpdir());
  });
});
