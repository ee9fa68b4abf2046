/**
 * Write a file so that a crash, a kill or a full disk at any moment leaves
 * either the old content or the new, never a mix: temp file in the same
 * directory, fsync, rename over the old one, fsync the directory.
 */
import { mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/**
 * `tmpDir`, on the same file system, takes the temp file instead of the file's own
 * directory: for a directory whose every entry counts (a systemd `DirectoryNotEmpty=`).
 */
export async function writeFileAtomic(path: string, content: string, mode = 0o644, tmpDir?: string): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const tmp = join(tmpDir ?? dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const handle = await open(tmp, "wx", mode);
    try {
      await handle.writeFile(content, "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  const dirHandle = await open(dir, "r");
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}
