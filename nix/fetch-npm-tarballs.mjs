// The builder of nix/npm-deps.nix, and what test/nix/npm-deps.test.ts runs to check its hash:
//   node fetch-npm-tarballs.mjs LIST OUT
// LIST is the JSON list nix/npm-lock.nix makes ({ name, version, integrity, file }); each
// package is fetched with `npm pack NAME@VERSION`, so npm's own default registry (or the one
// its configuration names) serves it and no file of genpush names a host. `npm pack` of a
// registry package writes the registry's tarball as it is, so the bytes, and the fixed
// output's hash, do not depend on npm's version; each is checked here against the integrity
// package-lock.json recorded before it lands at OUT/<file>. OUT holds nothing else: file
// names come from the list, modes are set, and Nix's directory hash sees no time stamps.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const [listFile, out] = process.argv.slice(2);
if (!listFile || !out) {
  process.stderr.write("usage: node fetch-npm-tarballs.mjs LIST OUT\n");
  process.exit(2);
}
const tarballs = JSON.parse(readFileSync(listFile, "utf8"));
const work = mkdtempSync(join(tmpdir(), "genpush-npm-tarballs-"));
// A cache of its own: nothing an earlier run left is reused.
const env = {
  ...process.env,
  npm_config_cache: join(work, "cache"),
  npm_config_update_notifier: "false",
  npm_config_audit: "false",
  npm_config_fund: "false",
};
// A few npm processes, each packing its share: one process per package would spend most of
// the time starting npm.
const PROCESSES = 4;

/** Whether `bytes` match an SRI `integrity`: one of the digests of its strongest algorithm, as npm checks. */
function matches(bytes, integrity) {
  const given = integrity
    .split(/\s+/)
    .filter(Boolean)
    .map((entry) => {
      const dash = entry.indexOf("-");
      return { algorithm: entry.slice(0, dash), digest: entry.slice(dash + 1).split("?")[0] };
    });
  const algorithm = ["sha512", "sha384", "sha256", "sha1"].find((a) => given.some((g) => g.algorithm === a));
  if (!algorithm) throw new Error(`no digest this script can check in \`${integrity}\``);
  const digest = createHash(algorithm).update(bytes).digest("base64");
  return given.some((g) => g.algorithm === algorithm && g.digest === digest);
}

/** `npm pack` of each package into `destination`; resolves to the file npm wrote for each, in order. */
function npmPack(batch, destination) {
  const specs = batch.map(({ name, version }) => `${name}@${version}`);
  return new Promise((resolve, reject) => {
    const child = spawn(
      "npm",
      ["pack", "--json", "--ignore-scripts", "--loglevel=error", "--pack-destination", destination, ...specs],
      { env, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`npm pack failed (exit ${code}):\n${stderr}`));
      const files = JSON.parse(stdout).map((packed) => packed.filename);
      // npm names `@s/a-b` and `s-a-b` alike: the same name twice in one process would
      // overwrite a tarball (the integrity check below would then fail).
      if (files.length !== specs.length || new Set(files).size !== files.length) {
        return reject(new Error(`npm pack wrote ${files.join(", ")} for ${specs.join(", ")}`));
      }
      resolve(files);
    });
  });
}

async function fetchBatch(batch, index) {
  const destination = join(work, String(index));
  mkdirSync(destination);
  const files = await npmPack(batch, destination);
  batch.forEach(({ name, version, integrity, file }, i) => {
    const from = join(destination, files[i]);
    if (!matches(readFileSync(from), integrity)) {
      throw new Error(
        `${name}@${version}: the tarball npm fetched does not match package-lock.json's integrity ${integrity}`,
      );
    }
    const to = join(out, file);
    mkdirSync(dirname(to), { recursive: true, mode: 0o755 });
    copyFileSync(from, to);
    chmodSync(to, 0o644);
  });
}

mkdirSync(out, { recursive: true, mode: 0o755 });
const batches = Array.from({ length: PROCESSES }, (_, i) => tarballs.filter((_, j) => j % PROCESSES === i));
const results = await Promise.allSettled(batches.map(fetchBatch));
rmSync(work, { recursive: true, force: true });
const failures = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
if (failures.length > 0) {
  process.stderr.write(failures.map((message) => `${message}\n`).join(""));
  process.exit(1);
}
process.stderr.write(`fetched ${tarballs.length} npm packages into ${out}\n`);
