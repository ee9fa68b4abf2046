/**
 * The compressions the configuration takes for a fleet's cache (UPLOADER_COMPRESSIONS in
 * config/store-uri.ts) are those genpush's own uploader writes: with any other, `nix copy`
 * uploads, and no path is claimed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { findCompression } from "../../../src/caches/compression.js";
import { COMPRESSIONS, UPLOADER_COMPRESSIONS } from "../../../src/config/store-uri.js";
import { findExecutable } from "../../../src/runtime/executable.js";

test("genpush's uploader writes exactly the compressions the configuration takes for a fleet", async () => {
  for (const method of COMPRESSIONS) {
    const found = await findCompression(method, false, 30_000);
    if (!UPLOADER_COMPRESSIONS.includes(method)) {
      assert.equal(found, undefined, `${method}: the uploader writes it, so a fleet's cache may name it`);
    } else if (found === undefined) {
      // Written by its program (xz, bzip2; zstd before Node 22.15) where that is installed.
      assert.equal(await findExecutable(method), undefined, `${method}: installed, but the uploader cannot write it`);
    } else {
      assert.equal(found?.method, method, `${method}: the configuration takes it, but the uploader cannot write it`);
    }
  }
});
