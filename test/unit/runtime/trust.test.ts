// Who may change what genpush acts on (src/runtime/trust.ts): as root, a file or directory is trusted only
// if it and every directory on its way (links followed, the links' own directories too) are root's
// and not writable by group or others, a sticky directory on the way holding a root-owned entry.
// Real files, modes and owners (CI runs as root: chown needs it).
import assert from "node:assert/strict";
import { chmodSync, chownSync, lchownSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ExitCode, UsageError } from "../../../src/runtime/errors.js";
import { assertTrusted, distrust, distrustWithin, trustedOwners } from "../../../src/runtime/trust.js";

if (process.getuid?.() !== 0) assert.fail("these tests chown files: they need root (CI runs as root)");

const ROOT = trustedOwners(0);
const NOBODY = 65534;

/** A root 0755 directory (mkdtemp's 0700, in /tmp: 1777, root's) with `config.yaml`, root 0644. */
function layout(): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), "genpush-trust-"));
  chmodSync(dir, 0o755);
  const file = join(dir, "config.yaml");
  writeFileSync(file, "caches: []\n", { mode: 0o644 });
  chmodSync(file, 0o644);
  return { dir, file };
}

describe("trust: who may change a file", () => {
  it("trusts a root 0644 file in a root 0755 directory, in /tmp (sticky, root's entries)", async () => {
    const { file } = layout();
    assert.equal(await distrust(file, ROOT), undefined);
  });

  it("refuses a file another user owns", async () => {
    const { file } = layout();
    chownSync(file, NOBODY, NOBODY);
    assert.deepEqual(await distrust(file, ROOT), { culprit: file, why: "is owned by uid 65534" });
  });

  it("refuses a file its group or anyone can write", async () => {
    const { file } = layout();
    chmodSync(file, 0o664);
    assert.deepEqual(await distrust(file, ROOT), {
      culprit: file,
      why: "is writable by its group, gid 0 (mode 0664)",
    });
    chmodSync(file, 0o646);
    assert.deepEqual(await distrust(file, ROOT), { culprit: file, why: "is writable by anyone (mode 0646)" });
  });

  it("refuses a file whose directory others can write, or another user owns", async () => {
    const { dir, file } = layout();
    chmodSync(dir, 0o777);
    assert.deepEqual(await distrust(file, ROOT), { culprit: dir, why: "is writable by anyone (mode 0777)" });
    chmodSync(dir, 0o755);
    const theirs = join(dir, "theirs");
    mkdirSync(theirs, { mode: 0o755 });
    writeFileSync(join(theirs, "config.yaml"), "caches: []\n", { mode: 0o644 });
    chownSync(theirs, NOBODY, NOBODY);
    assert.deepEqual(await distrust(join(theirs, "config.yaml"), ROOT), {
      culprit: theirs,
      why: "is owned by uid 65534",
    });
  });

  it("trusts root's entry of a sticky directory others write to, and refuses another user's there", async () => {
    const { dir, file } = layout();
    chmodSync(dir, 0o1777);
    assert.equal(await distrust(file, ROOT), undefined);
    chownSync(file, NOBODY, NOBODY);
    assert.deepEqual(await distrust(file, ROOT), {
      culprit: file,
      why: `is owned by uid 65534, in ${dir}, a directory others can write to`,
    });
  });

  it("refuses a directory others can write to as the thing used, sticky or not (a state directory in /tmp)", async () => {
    const { dir } = layout();
    chmodSync(dir, 0o1777);
    assert.deepEqual(await distrust(dir, ROOT), { culprit: dir, why: "is writable by anyone (mode 1777)" });
  });

  it("follows links: a link into a sticky directory passes, as NixOS's /etc/static into /nix/store", async () => {
    const { dir } = layout();
    const store = join(dir, "store");
    mkdirSync(join(store, "abc-etc", "genpush"), { recursive: true });
    chmodSync(store, 0o1775);
    chownSync(store, 0, NOBODY);
    const target = join(store, "abc-etc", "genpush", "config.yaml");
    writeFileSync(target, "caches: []\n", { mode: 0o444 });
    symlinkSync(join(store, "abc-etc"), join(dir, "static"));
    mkdirSync(join(dir, "genpush"), { mode: 0o755 });
    const link = join(dir, "genpush", "config.yaml");
    symlinkSync("../static/genpush/config.yaml", link);
    assert.equal(await distrust(link, ROOT), undefined);
    // The target replaceable by its group: refused through the links.
    chmodSync(target, 0o664);
    assert.deepEqual(await distrust(link, ROOT), {
      culprit: target,
      why: `is writable by its group, gid 0 (mode 0664)`,
    });
    chmodSync(target, 0o444);
    // A link of another user's in the sticky directory: theirs to replace.
    const theirs = join(store, "theirs");
    symlinkSync(target, theirs);
    lchownSync(theirs, NOBODY, NOBODY);
    assert.deepEqual(await distrust(theirs, ROOT), {
      culprit: theirs,
      why: `is owned by uid 65534, in ${store}, a directory others can write to`,
    });
  });

  it("checks a link's own directory: a root link in a directory others can write to is refused", async () => {
    const { dir, file } = layout();
    const open = join(dir, "open");
    mkdirSync(open);
    chmodSync(open, 0o777);
    symlinkSync(file, join(open, "config.yaml"));
    assert.deepEqual(await distrust(join(open, "config.yaml"), ROOT), {
      culprit: open,
      why: "is writable by anyone (mode 0777)",
    });
  });

  it("refuses a loop of links, and has nothing to say about a path that does not exist", async () => {
    const { dir } = layout();
    symlinkSync(join(dir, "b"), join(dir, "a"));
    symlinkSync(join(dir, "a"), join(dir, "b"));
    assert.match((await distrust(join(dir, "a"), ROOT))?.why ?? "", /more than 40 symbolic links/);
    assert.equal(await distrust(join(dir, "absent", "config.yaml"), ROOT), undefined);
    // ...but the directories on its way that do exist count.
    chmodSync(dir, 0o777);
    assert.equal((await distrust(join(dir, "absent", "config.yaml"), ROOT))?.culprit, dir);
  });

  it("trusts a user's genpush with that user's own files, and refuses another user's", async () => {
    const { dir, file } = layout();
    chownSync(dir, 1000, 1000);
    chownSync(file, 1000, 1000);
    assert.equal(await distrust(file, trustedOwners(1000)), undefined);
    // Its directory is in /tmp, sticky: there, an entry of another user's is theirs to replace.
    assert.deepEqual(await distrust(file, trustedOwners(1001)), {
      culprit: dir,
      why: "is owned by uid 1000, in /tmp, a directory others can write to",
    });
    assert.equal((await distrust(file, ROOT))?.culprit, dir);
  });

  it("checks the entries of a trusted directory that exist, parents first", async () => {
    const { dir } = layout();
    mkdirSync(join(dir, "queue", "new"), { recursive: true, mode: 0o755 });
    assert.equal(await distrustWithin(dir, ["profiles", "queue", "queue/new"], ROOT), undefined);
    chmodSync(join(dir, "queue", "new"), 0o733);
    assert.deepEqual(await distrustWithin(dir, ["profiles", "queue", "queue/new"], ROOT), {
      culprit: join(dir, "queue", "new"),
      why: "is writable by anyone (mode 0733)",
    });
  });

  it("is an exit-2 error naming the file, what can change it, and the fix", async () => {
    const { dir, file } = layout();
    chmodSync(dir, 0o775);
    const error = await assertTrusted(file, "configuration file", 0).then(
      () => assert.fail("expected a refusal"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof UsageError);
    assert.equal(error.exitCode, ExitCode.usage);
    assert.equal(
      error.message,
      `configuration file ${file} can be changed by others: ${dir} is writable by its group, gid 0 (mode 0775)`,
    );
    assert.equal(
      error.hint,
      `genpush uses only files and directories that root only can change; run \`chown root:root ${dir} && chmod go-w ${dir}\``,
    );
  });
});
