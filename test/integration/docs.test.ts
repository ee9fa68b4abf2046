// Every example of README.md and docs/*.md, and every example of the commands' --help, is run
// or checked here, read from the files themselves, so the docs cannot drift from the tool:
// - sh: each command line is parsed as a shell would split it, then: a genpush command line by
//   genpush's own command-line definition (src/program.ts: an unknown option, a missing value,
//   a bad choice fails); systemctl and journalctl by the units genpush ships or `units install`
//   writes for the page's configuration; npm by package.json; nix build/run by the flake's
//   outputs; bash and node by the files they run; the key generation by running it. README's
//   set-up is run as written.
// - yaml: accepted by `genpush config check`; one followed by a console block is that
//   example's input instead.
// - console: run, and its output compared line for line.
// - json, text: the shape of `push --json` and the result lines of real pushes.
// - ini: the LoadCredential= drop-in, which the end-to-end suite installs from the docs.
// - nginx: the cache's server block, run by a real nginx, pushed to and substituted from.
// - nix: evaluated by test/nix/docs.test.ts.
// - prometheus: a Prometheus rules file whose genpush metrics are ones the metrics file has.
// A block of any other kind, or a command no check knows, fails.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { CommanderError } from "commander";
import { execa } from "execa";
import { parse as parseYaml } from "yaml";
import { benchOptions } from "../../bench/options.js";
import { program } from "../../src/program.js";
import { METRICS } from "../../src/state/metrics.js";
import { blocksOf, type DocBlock, docBlocks, namedPath, where } from "../docs-blocks.js";
import { nixEval, standIns } from "../nix/lib.js";
import { repoRoot } from "./harness/cli.js";
import { scenario } from "./harness/fixture.js";
import { freePort, waitFor } from "./harness/nginx.js";
import { nixEnv, pullIntoFreshStore, tempDir } from "./harness/nix.js";

const cli = join(repoRoot, "dist", "cli.js");
const packageJson = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  scripts: Record<string, string>;
  bin: Record<string, string>;
};

/** A shell word list, split as sh splits it (quotes, backslashes, `$(...)`), minus comments. */
export function shellCommands(text: string): string[][] {
  const joined = text.replace(/\\\n\s*/g, " ");
  const commands: string[][] = [];
  for (const line of joined.split("\n")) {
    let words: string[] = [];
    let word: string | undefined;
    const end = () => {
      if (word !== undefined) words.push(word);
      word = undefined;
    };
    const split = () => {
      end();
      if (words.length > 0) commands.push(words);
      words = [];
    };
    for (let i = 0; i < line.length; i++) {
      const c = line[i] as string;
      if (c === "'" || c === '"') {
        const close = line.indexOf(c, i + 1);
        assert.ok(close > i, `an unclosed ${c} in: ${line}`);
        word = (word ?? "") + line.slice(i + 1, close);
        i = close;
      } else if (c === "$" && line[i + 1] === "(") {
        const close = line.indexOf(")", i);
        word = (word ?? "") + line.slice(i, close + 1);
        i = close;
      } else if (c === "\\") {
        word = (word ?? "") + (line[i + 1] ?? "");
        i++;
      } else if (c === "#" && word === undefined) break;
      else if (c === "&" || c === "|" || c === ";") {
        split();
        if (line[i + 1] === c) i++;
      } else if (c === " " || c === "\t") end();
      else word = (word ?? "") + c;
    }
    split();
  }
  return commands;
}

/**
 * Parses a genpush command line with genpush's own definition and stops before the command
 * runs. Returns what commander said about it, or "" when it parses.
 */
async function genpushParses(args: string[]): Promise<string> {
  const cli = program(new AbortController().signal, () => {});
  let said = "";
  const every = (c: typeof cli): (typeof cli)[] => [c, ...c.commands.flatMap(every)];
  for (const c of every(cli)) {
    c.exitOverride().configureOutput({ writeOut: () => {}, writeErr: (s) => (said += s) });
  }
  class Parsed extends Error {}
  cli.hook("preAction", () => {
    throw new Parsed();
  });
  try {
    await cli.parseAsync(["node", "genpush", ...args]);
    return "the command line ran instead of stopping before its action";
  } catch (error) {
    if (error instanceof Parsed) return "";
    if (error instanceof CommanderError && error.exitCode === 0) return "";
    return said || String(error);
  }
}

/** The units `genpush units install --dry-run` writes for a configuration, by scope. */
async function unitsWritten(configText: string, scope: "system" | "user"): Promise<string[]> {
  const config = join(tempDir("genpush-docs-units-"), "config.yaml");
  writeFileSync(config, configText);
  const r = await execa(process.execPath, [cli, "--config", config, "units", "install", `--${scope}`, "--dry-run"], {
    env: nixEnv,
    reject: false,
  });
  assert.equal(r.exitCode, 0, `units install --dry-run for:\n${configText}\n${r.stderr}`);
  return [...r.stdout.matchAll(/^# \/\S+\/(genpush-[^/\s]+)$/gm)].map((m) => m[1] as string);
}

/** Context for checking one block's commands: the yaml configurations of its page. */
interface Page {
  file: string;
  configs: string[];
}

const shippedUnits = (scope: "system" | "user") => readdirSync(join(repoRoot, "units", scope));

/** Checks one command line of the docs, or fails saying why. */
async function checkCommand(words: string[], page: Page, flakeAttrs: string[]): Promise<void> {
  const env: Record<string, string> = {};
  let i = 0;
  for (; /^[A-Z_][A-Z0-9_]*=/.test(words[i] ?? ""); i++) {
    const [name, ...value] = (words[i] as string).split("=");
    env[name as string] = value.join("=");
  }
  let [program_, ...args] = words.slice(i);
  if (program_ === "sudo") [program_, ...args] = args;
  if (program_ === "npx" && args[0] === "genpush") [program_, ...args] = args;
  const line = words.join(" ");
  switch (program_) {
    case "genpush": {
      const said = await genpushParses(args);
      assert.equal(said, "", `${line}: genpush does not take it:\n${said}`);
      return;
    }
    case "systemctl":
    case "journalctl": {
      const scope = args.includes("--user") ? "user" : "system";
      const named =
        program_ === "journalctl"
          ? args.flatMap((a, j) => (args[j - 1] === "-u" ? [a.includes(".") ? a : `${a}.service`] : []))
          : args.filter((a) => a.startsWith("genpush"));
      assert.ok(named.length > 0, `${line}: names no genpush unit`);
      const known = new Set(shippedUnits(scope));
      for (const config of page.configs) for (const unit of await unitsWritten(config, scope)) known.add(unit);
      for (const unit of named) {
        assert.ok(
          known.has(unit),
          `${line}: ${scope} unit ${unit} is neither in units/${scope}/ nor written by \`units install\` for a configuration of ${page.file}`,
        );
      }
      return;
    }
    case "npm": {
      const [verb, ...rest] = args;
      if (verb === "run")
        assert.ok(packageJson.scripts[rest[0] ?? ""], `${line}: package.json has no script ${rest[0]}`);
      else if (verb === "test") assert.ok(packageJson.scripts.test, `${line}: package.json has no test script`);
      else if (verb === "ci")
        assert.ok(existsSync(join(repoRoot, "package-lock.json")), `${line}: no package-lock.json`);
      else if (verb === "link" || (verb === "install" && rest.includes("--global") && rest.includes("."))) {
        assert.ok(packageJson.bin.genpush, `${line}: package.json has no bin genpush`);
      } else assert.fail(`${line}: no check knows npm ${verb}`);
      for (const name of Object.keys(env)) {
        assert.match(name, /^BENCH_/, `${line}: ${name} is no setting of the benchmark`);
        assert.ok(readFileSync(join(repoRoot, "bench/options.ts"), "utf8").includes(name), `${line}: ${name}`);
      }
      if (Object.keys(env).length > 0) benchOptions(env);
      return;
    }
    case "nix": {
      const ref = args.find((a) => a.startsWith(".#"));
      if ((args[0] === "build" || args[0] === "run") && ref) {
        // The flake's outputs, where nixpkgs' NixOS tests add `driverInteractive` to a check.
        const attr = ref.slice(2).replace(/\.driverInteractive$/, "");
        assert.ok(flakeAttrs.includes(attr), `${line}: the flake has no ${attr} (it has ${flakeAttrs.join(", ")})`);
      } else assert.deepEqual(args, ["flake", "check"], `${line}: no check knows this nix command`);
      return;
    }
    case "nix-store": {
      // Run, into a directory of the test's own, and the secret key it makes must be one
      // genpush takes as a signingKeyFile.
      assert.equal(args[0], "--generate-binary-cache-key", `${line}: no check knows this nix-store command`);
      const dir = tempDir("genpush-docs-key-");
      const [, name, secret, pub] = args as [string, string, string, string];
      const into = (p: string) => join(dir, p.replace(/^\//, ""));
      mkdirSync(join(into(secret), ".."), { recursive: true });
      const r = await execa("nix-store", ["--generate-binary-cache-key", name, into(secret), into(pub)], {
        env: nixEnv,
        reject: false,
      });
      assert.equal(r.exitCode, 0, `${line}: ${r.stderr}`);
      const config = join(dir, "config.yaml");
      writeFileSync(
        config,
        `caches:\n  - name: lan\n    systems: [x86_64-linux]\n    type: nix\n    store: file://${dir}/cache\n    signingKeyFile: ${into(secret)}\n`,
      );
      const check = await execa(process.execPath, [cli, "--config", config, "config", "check"], {
        env: nixEnv,
        reject: false,
      });
      assert.equal(check.exitCode, 0, `${line}: genpush refuses the key it makes:\n${check.stderr}`);
      return;
    }
    case "bash":
    case "node": {
      // A script or test file of the repository, run with its interpreter.
      const file = args.at(-1) ?? "";
      assert.ok(
        existsSync(join(repoRoot, file)) && !file.startsWith("/"),
        `${line}: no file ${file} in the repository`,
      );
      if (program_ === "node") assert.deepEqual(args.slice(0, -1), ["--import", "tsx", "--test"], line);
      return;
    }
    default:
      assert.fail(`${line}: no check knows \`${program_}\``);
  }
}

const blocks = docBlocks();
const pages = new Map<string, Page>();
for (const [i, block] of blocks.entries()) {
  const page = pages.get(block.file) ?? { file: block.file, configs: [] };
  pages.set(block.file, page);
  if (block.lang === "yaml" && blocks[i + 1]?.lang !== "console") page.configs.push(block.text);
}
const pageOf = (block: DocBlock) => pages.get(block.file) as Page;

let flakeAttrsCache: string[] | undefined;
/** The flake's outputs, as `checks.x86_64-linux.vm`, evaluated with the stand-in nixpkgs. */
function flakeAttrs(): string[] {
  flakeAttrsCache ??= nixEval<string[]>(`
    let
      self = ${standIns().nix}.flakes.genpush;
      names = builtins.attrNames;
    in builtins.concatLists (map (output:
      [ output ] ++ builtins.concatLists (map (system:
        map (name: "\${output}.\${system}.\${name}") (names self.\${output}.\${system})
      ) (if builtins.elem output [ "packages" "apps" "checks" ] then names self.\${output} else [ ]))
    ) (names self))`);
  return flakeAttrsCache;
}

const SETUP = "Set-up: two commands";
/** What README's set-up test runs for real: genpush through npx, and nix. */
const runBySetUp = (words: string[]) => words[0] === "nix" || (words[0] === "npx" && words[1] === "genpush");
/** README's set-up runs as a reader runs it: genpush and nix for real, in a fresh home. */
async function runSetUp(setUp: DocBlock[]): Promise<void> {
  // As root, with no configuration file found, the first command pushes the system profiles.
  assert.equal(
    existsSync("/etc/genpush/config.yaml"),
    false,
    "this test needs a machine without /etc/genpush/config.yaml",
  );
  const s = await scenario({ paths: 5 });
  try {
    const gen = s.switchTo(0);
    const home = tempDir("genpush-readme-home-");
    symlinkSync(s.profile, join(home, ".nix-profile"));
    const env = { ...nixEnv, HOME: home, STATE_DIRECTORY: join(home, "state"), GENPUSH_CONFIG: "" };
    const ran: string[] = [];
    for (const block of setUp) {
      for (const words of shellCommands(block.text)) {
        if (!runBySetUp(words)) continue;
        // The line as written, in a shell, from a checkout (npx finds this package's bin).
        const line = block.text
          .replace(/\\\n\s*/g, " ")
          .split("\n")
          .find((l) => l.includes(words.slice(0, 3).join(" ")));
        assert.ok(line, `${where(block)}: ${words.join(" ")}`);
        const command = line.replace(/^.*&& /, "").replace(/\s+# .*$/, "");
        const r = await execa("sh", ["-c", command], { cwd: repoRoot, env, reject: false });
        assert.equal(r.exitCode, 0, `${where(block)}: ${command}\n${r.stdout}\n${r.stderr}`);
        ran.push(command);
        if (command.includes("--profile-path")) {
          assert.match(r.stdout, /^(pushed \d+ of 5 paths|.* is already in .*: nothing to push)/m, r.stdout);
        }
      }
    }
    assert.ok(ran.some((c) => c.includes("--profile-path")) && ran.some((c) => c.startsWith("nix ")), ran.join("\n"));
    assert.ok(existsSync(join(home, ".cache/genpush/demo-store", gen.storePath)), "the read-back fills the new store");
  } finally {
    await s.destroy();
  }
}

describe("the docs' examples", () => {
  it("every block says its language, and a check for it exists", () => {
    const known = new Set(["sh", "yaml", "console", "json", "text", "ini", "nix", "nginx", "prometheus"]);
    for (const block of blocks) assert.ok(known.has(block.lang), `${where(block)}: a \`${block.lang}\` block`);
    assert.ok(blocks.length > 20, `only ${blocks.length} blocks`);
  });

  it("README's set-up runs as written: a push with no configuration, a profile link, the read-back", async () => {
    const setUp = blocks.filter((b) => b.file === "README.md" && b.heading === SETUP);
    assert.ok(setUp.length >= 3, "README's set-up has its blocks");
    await runSetUp(setUp);
  });

  for (const block of blocks.filter((b) => b.lang === "sh")) {
    it(`${where(block)} (${block.heading}): every command line is one genpush, systemd, npm and nix take`, async () => {
      const commands = shellCommands(block.text);
      assert.ok(commands.length > 0);
      for (const words of commands) {
        if (block.file === "README.md" && block.heading === SETUP && words[0] === "nix" && runBySetUp(words)) continue;
        await checkCommand(words, pageOf(block), flakeAttrs());
      }
    });
  }

  for (const [i, block] of blocks.entries()) {
    if (block.lang !== "yaml" || blocks[i + 1]?.lang === "console") continue;
    it(`${where(block)} (${block.heading}): genpush config check accepts it`, async () => {
      const config = join(tempDir("genpush-docs-yaml-"), "config.yaml");
      writeFileSync(config, block.text);
      const env = { ...nixEnv, CREDENTIALS_DIRECTORY: "/run/credentials/genpush-system.service" };
      const r = await execa(process.execPath, [cli, "--config", config, "config", "check", "--no-secrets"], {
        env,
        reject: false,
      });
      assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    });
  }

  for (const [i, block] of blocks.entries()) {
    if (block.lang !== "console") continue;
    it(`${where(block)} (${block.heading}): runs and says exactly that`, async () => {
      const input = blocks[i - 1];
      assert.equal(input?.lang, "yaml", `${where(block)}: a console block follows the configuration it runs with`);
      const named = namedPath(input) ?? assert.fail(`${where(input)}: its first line names where the file is`);
      const config = join(tempDir("genpush-docs-console-"), "config.yaml");
      writeFileSync(config, input.text);
      const lines = block.text.trimEnd().split("\n");
      const commands = lines.filter((l) => l.startsWith("$ "));
      assert.equal(commands.length, 1, "one command");
      const [words] = shellCommands((commands[0] as string).slice(2));
      assert.equal(words?.[0], "genpush");
      const r = await execa(process.execPath, [cli, ...(words as string[]).slice(1)], {
        env: { ...nixEnv, GENPUSH_CONFIG: config },
        reject: false,
      });
      const said = `${r.stdout}${r.stderr}`.replaceAll(config, named).trimEnd();
      assert.equal(said, lines.filter((l) => !l.startsWith("$ ")).join("\n"));
    });
  }

  it("docs/commands.md's output examples: the result lines and --json of real pushes", async () => {
    const output = blocksOf("docs/commands.md").filter((b) => b.heading === "Output");
    const text = output.find((b) => b.lang === "text") ?? assert.fail("a text block of result lines");
    const json = output.find((b) => b.lang === "json") ?? assert.fail("a json block of push --json");
    const s = await scenario({ paths: 8 });
    try {
      s.config.caches[0].name = "lan";
      s.config.profiles[0].name = "system";
      s.switchTo(0);
      const pushed = await s.run("push", "--json");
      assert.equal(pushed.code, 0, pushed.stderr);
      // Already there; then a switch to a cache that refuses connections; then pushed.
      const outputs = async () => {
        const r = await s.run("push");
        return `${r.stdout}\n${r.stderr}`;
      };
      const said = [await outputs()];
      s.switchTo(1);
      const { store } = s.config.caches[0];
      Object.assign(s.config.caches[0], { store: "http://127.0.0.1:9", timeoutSeconds: 1 });
      s.configFile();
      said.push(await outputs());
      Object.assign(s.config.caches[0], { store });
      s.configFile();
      said.push(await outputs());
      const real = said.join("\n").split("\n");
      for (const doc of text.text.trimEnd().split("\n")) {
        const pattern = new RegExp(
          `^${doc
            .replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
            .replace(/cache\\\.lan:8080/g, "[\\w.]+:\\d+")
            .replace(/\d+(\\\.\d+)?/g, "\\d+(?:\\.\\d+)?")}$`,
        );
        assert.ok(
          real.some((l) => pattern.test(l)),
          `docs/commands.md: no push says a line like\n${doc}\nit said:\n${real.join("\n")}`,
        );
      }
      const shape = (v: unknown): unknown =>
        Array.isArray(v)
          ? v.slice(0, 1).map(shape)
          : v && typeof v === "object"
            ? Object.fromEntries(
                Object.entries(v)
                  .sort(([a], [b]) => a.localeCompare(b))
                  .map(([k, x]) => [k, shape(x)]),
              )
            : typeof v;
      assert.deepEqual(shape(JSON.parse(json.text)), shape(pushed.json), "the --json example has the real shape");
    } finally {
      await s.destroy();
    }
  });

  for (const block of blocks.filter((b) => b.lang === "prometheus")) {
    it(`${where(block)} (${block.heading}): a Prometheus rules file on the metrics genpush writes`, () => {
      const rules = parseYaml(block.text) as {
        groups?: { name?: string; rules?: { alert?: string; expr?: string }[] }[];
      };
      const all = (rules.groups ?? []).flatMap((group) => group.rules ?? []);
      assert.ok(all.length > 0, "groups with rules");
      const written = new Set(METRICS.map((metric) => metric.name));
      for (const rule of all) {
        assert.ok(rule.alert && rule.expr, `${JSON.stringify(rule)}: an alert with an expr`);
        for (const name of rule.expr.match(/genpush_\w+/g) ?? []) {
          assert.ok(written.has(name), `${rule.alert}: ${name} is not a metric genpush writes`);
        }
      }
    });
  }

  for (const block of blocks.filter((b) => b.lang === "nginx")) {
    it(`${where(block)} (${block.heading}): nginx runs it, genpush pushes to it, Nix substitutes from it`, async () => {
      const root = tempDir("genpush-docs-nginx-");
      const port = await freePort();
      const rootDir = /^\s*root (\S+);$/m.exec(block.text)?.[1] ?? assert.fail("a root directory");
      const listen = /^\s*listen (\d+);$/m.exec(block.text)?.[1] ?? assert.fail("a listen port");
      // The docs' server block as written, but for its port and directory, in an http block of the test's own.
      const server = block.text
        .replace(`listen ${listen};`, `listen 127.0.0.1:${port};`)
        .replace(`root ${rootDir};`, `root ${root}/cache;`);
      mkdirSync(join(root, "cache"));
      mkdirSync(join(root, "tmp"));
      const conf = join(root, "nginx.conf");
      writeFileSync(
        conf,
        `daemon on;\nuser root;\npid ${root}/nginx.pid;\nerror_log ${root}/error.log;\nevents {}\n` +
          `http {\n  access_log off;\n  client_body_temp_path ${root}/tmp;\n${server}}\n`,
      );
      const nginx = (...args: string[]) => execa("nginx", ["-p", root, "-c", conf, "-e", `${root}/error.log`, ...args]);
      await nginx();
      const s = await scenario({ paths: 6, sign: true });
      try {
        await waitFor("nginx", () => existsSync(join(root, "nginx.pid")));
        const url = `http://127.0.0.1:${port}`;
        s.config.caches[0].store = url;
        s.configFile();
        const gen = s.switchTo(0);
        const pushed = await s.run("push");
        assert.equal(pushed.code, 0, `${pushed.stdout}\n${pushed.stderr}`);
        const pulled = pullIntoFreshStore(url, gen.storePath, s.key?.publicKey ?? "");
        assert.ok(pulled.ok, pulled.stderr);
      } finally {
        await s.destroy();
        await nginx("-s", "stop").catch(() => {});
      }
    });
  }

  it("the LoadCredential= drop-in is the one the end-to-end suite installs, and names the yaml's credential", () => {
    const ini = blocks.filter((b) => b.lang === "ini");
    assert.deepEqual(
      ini.map((b) => namedPath(b)),
      ["/etc/systemd/system/genpush-.service.d/credentials.conf"],
      "test/e2e/harness/scene.ts installs this drop-in from the docs; another ini block needs a check",
    );
    const [block] = ini as [DocBlock];
    const credential = /^LoadCredential=([^:]+):/m.exec(block.text)?.[1];
    assert.ok(credential, block.text);
    assert.ok(
      pageOf(block).configs.some((c) => c.includes(`$CREDENTIALS_DIRECTORY/${credential}`)),
      `${where(block)}: a configuration of ${block.file} reads $CREDENTIALS_DIRECTORY/${credential}`,
    );
  });

  it("every example of every command's --help is a command line genpush and systemd take", async () => {
    const commands = [
      [],
      ["push"],
      ["enqueue"],
      ["diff"],
      ["status"],
      ["verify"],
      ["units"],
      ["units", "install"],
      ["config"],
      ["config", "check"],
    ];
    let examples = 0;
    for (const command of commands) {
      const r = await execa(process.execPath, [cli, ...command, "--help"], { reject: false });
      assert.equal(r.exitCode, 0, r.stderr);
      if (command.length === 0) continue;
      const at = r.stdout.indexOf("\nExamples:\n");
      assert.ok(at >= 0, `genpush ${command.join(" ")} --help has examples`);
      const lines = r.stdout.slice(at + "\nExamples:\n".length).split("\n");
      for (const line of lines) {
        if (!line.startsWith("  ")) break;
        for (const words of shellCommands(line)) {
          await checkCommand(words, { file: "--help", configs: [] }, flakeAttrs());
          examples++;
        }
      }
    }
    assert.ok(examples >= 12, `${examples} examples`);
  });
});

describe("the docs check itself", () => {
  it("splits command lines as sh does", () => {
    assert.deepEqual(
      shellCommands(
        `sudo genpush push --to "file://$HOME/x y"   # a comment\nnpm ci && npx genpush --help\nnix copy \\\n  --from 'a b' "$(readlink -f ~/p)"`,
      ),
      [
        ["sudo", "genpush", "push", "--to", "file://$HOME/x y"],
        ["npm", "ci"],
        ["npx", "genpush", "--help"],
        ["nix", "copy", "--from", "a b", "$(readlink -f ~/p)"],
      ],
    );
  });

  it("fails an option genpush does not have, a unit it does not ship, a script npm does not have", async () => {
    const page = { file: "test", configs: [] };
    await assert.rejects(checkCommand(["genpush", "push", "--profiles", "system"], page, []), /unknown option/);
    await assert.rejects(
      checkCommand(["genpush", "diff", "--profile", "system", "--generation", "latest"], page, []),
      /expected a generation number, got `latest`/,
    );
    await assert.rejects(
      checkCommand(["systemctl", "enable", "--now", "genpush-home-manager.path"], page, []),
      /system unit genpush-home-manager.path/,
    );
    await assert.rejects(checkCommand(["npm", "run", "benchmark"], page, []), /no script benchmark/);
    await assert.rejects(checkCommand(["curl", "http://cache.lan"], page, []), /no check knows `curl`/);
    await assert.rejects(checkCommand(["bash", ".ci/runs"], page, []), /no file .ci\/runs/);
    await assert.rejects(checkCommand(["nix", "build", ".#checks.x86_64-linux.vmm"], page, ["checks.x86_64-linux.vm"]));
  });
});
