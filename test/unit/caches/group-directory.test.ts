// Where a compressor program's group of small NARs is written (groupParent in
// src/caches/compression.ts): the unit's runtime directory, else the session's, when nobody but
// root and this user can change it, this process may write to it, and it has room for the group
// twice over per group at once, with a reserve to spare; else $TMPDIR.
// Real directories, modes, owners and file systems (CI runs as root: chown needs it).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { groupDirectoryReserve, groupParent } from "../../../src/caches/compression.js";

if (process.getuid?.() !== 0) assert.fail("these tests chown directories: they need root (CI runs as root)");

const base = mkdtempSync(join(tmpdir(), "genpush-group-dir-"));
// As /run is: root's, and others may look into it (a user's genpush, below, reaches its own directory).
chmodSync(base, 0o755);
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

  it("is not one without room for the group twice over, for each group compressed at once, and a reserve to spare", async () => {
    const unit = own("small");
    const { bavail, blocks, bsize } = statfsSync(unit);
    // What groups may take of this file system: what is free, less a tenth of it (64 MiB at least).
    const room = bavail * bsize - groupDirectoryReserve(blocks * bsize);
    assert.equal(groupDirectoryReserve(blocks * bsize), Math.max(64 * KIB * KIB, (blocks * bsize) / 10));
    assert.ok(room > 4 * KIB * KIB * KIB, `the test needs more than 4 GiB free beyond the reserve on ${unit}`);
    // Margins of a quarter, and of 256 MiB: other processes write to this file system meanwhile.
    assert.equal(await groupParent(Math.floor(room / 4), { RUNTIME_DIRECTORY: unit }, 0, 1), unit);
    // Within what is free, but not beside the reserve.
    assert.equal(
      await groupParent(Math.floor(room / 2) + 256 * KIB * KIB, { RUNTIME_DIRECTORY: unit }, 0, 1),
      tmpdir(),
    );
    // Four groups at once: each needs a quarter of what one alone may take.
    assert.equal(await groupParent(Math.floor(room / 16), { RUNTIME_DIRECTORY: unit }, 0, 4), unit);
    assert.equal(await groupParent(Math.floor(room / 4), { RUNTIME_DIRECTORY: unit }, 0, 4), tmpdir());
  });

  it("is not one this process may not write to (a root's service's, inherited by a user's genpush)", async () => {
    // Root's 0700 directory, trusted by a genpush running as uid 1000 (root may change what it
    // acts on), but not writable by it: checked as that user would be, in a process of its own.
    const unit = own("roots-own");
    const session = join(base, "users-session");
    mkdirSync(session, { mode: 0o700 });
    chownSync(session, 1000, 1000);
    const script = `
      const { groupParent } = await import(${JSON.stringify(new URL("../../../src/caches/compression.ts", import.meta.url).pathname)});
      process.stdout.write(await groupParent(1024, { RUNTIME_DIRECTORY: ${JSON.stringify(unit)}, XDG_RUNTIME_DIR: ${JSON.stringify(session)} }, 1000, 1));
    `;
    const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      uid: 1000,
      gid: 1000,
      encoding: "utf8",
      cwd: process.cwd(),
    });
    assert.equal(
      child.status,
      0,
      `${child.error ?? child.stderr} (uid 1000 runs ${process.execPath}: every directory on the way to it must let others in)`,
    );
    assert.equal(child.stdout, session);
  });
});
