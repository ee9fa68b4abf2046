import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { formatBytes, formatDuration } from "../../../src/runtime/format.js";
import { renderLine, resolveLogFormat } from "../../../src/runtime/log.js";

const line = (level: number, msg: string, extra: object = {}) => JSON.stringify({ level, time: 1, msg, ...extra });

describe("log: journal lines carry the syslog priority", () => {
  it("info 6, warning 4, error 3, debug 7", () => {
    assert.equal(renderLine("journal", line(30, "pushed")), "<6>pushed\n");
    assert.equal(renderLine("journal", line(40, "slow")), "<4>slow\n");
    assert.equal(renderLine("journal", line(50, "failed")), "<3>failed\n");
    assert.equal(renderLine("journal", line(20, "detail")), "<7>detail\n");
  });
  it("a hint is appended, and a multi-line message stays one entry", () => {
    assert.equal(renderLine("journal", line(50, "a\nb", { hint: "do x" })), "<3>a / b (hint: do x)\n");
  });
  it("pretty: a label for warnings and errors, the hint on its own line", () => {
    assert.equal(renderLine("pretty", line(30, "pushed")), "pushed\n");
    assert.equal(renderLine("pretty", line(50, "failed", { hint: "retry" })), "error: failed\n  hint: retry\n");
  });
  it("auto picks the journal only when JOURNAL_STREAM is stderr's", () => {
    const { dev, ino } = fstatSync(2);
    assert.equal(resolveLogFormat("auto", { JOURNAL_STREAM: `${dev}:${ino}` }), "journal");
    assert.equal(resolveLogFormat("auto", {}), "pretty");
    assert.equal(resolveLogFormat("auto", { JOURNAL_STREAM: "1:1" }), "pretty");
    assert.equal(resolveLogFormat("json", {}), "json");
  });
  it("a logger on a stderr systemd connected: each level's line with its priority", () => {
    // As systemd starts a service: stderr a stream whose device and inode JOURNAL_STREAM names.
    const dir = mkdtempSync(join(tmpdir(), "genpush-log-"));
    const file = join(dir, "stderr");
    const fd = openSync(file, "w");
    const { dev, ino } = fstatSync(fd);
    const script = `
      import { createLogger, resolveLogFormat } from ${JSON.stringify(new URL("../../../src/runtime/log.ts", import.meta.url).href)};
      const log = createLogger(resolveLogFormat("auto"), true);
      log.debug("detail");
      log.info("pushed");
      log.warn("slow");
      log.error({ hint: "retry" }, "failed");`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      env: { ...process.env, JOURNAL_STREAM: `${dev}:${ino}` },
      stdio: ["ignore", "pipe", fd],
      encoding: "utf8",
    });
    closeSync(fd);
    const printed = readFileSync(file, "utf8");
    rmSync(dir, { recursive: true });
    assert.equal(r.status, 0, printed);
    assert.equal(printed, "<7>detail\n<6>pushed\n<4>slow\n<3>failed (hint: retry)\n");
  });
});

describe("log: no line carries a secret genpush has read", () => {
  it("json, pretty and journal: message and hint scrubbed", () => {
    const secret = randomBytes(12).toString("base64url");
    // A process of its own: the json format writes to file descriptor 2 directly.
    const script = `
      import { createLogger } from ${JSON.stringify(new URL("../../../src/runtime/log.ts", import.meta.url).href)};
      import { rememberSecret } from ${JSON.stringify(new URL("../../../src/runtime/secrets.ts", import.meta.url).href)};
      rememberSecret(${JSON.stringify(secret)});
      for (const format of ["json", "pretty", "journal"]) {
        const log = createLogger(format, true);
        log.warn("the server said ${secret}");
        log.error({ hint: "not ${secret}" }, "refused ${secret}");
        log.debug("detail ${secret}");
      }`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.split("[secret]").length - 1, 12, r.stderr);
    assert.ok(!r.stderr.includes(secret), r.stderr);
  });
});

describe("format", () => {
  it("bytes", () => {
    assert.equal(formatBytes(512), "512 B");
    assert.equal(formatBytes(41 * 1024), "41 KiB");
    assert.equal(formatBytes(1.5 * 1024 * 1024), "1.5 MiB");
  });
  it("durations", () => {
    assert.equal(formatDuration(800), "0.8s");
    assert.equal(formatDuration(125_000), "2m5s");
  });
});
