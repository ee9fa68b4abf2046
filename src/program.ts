/**
 * The command line's definition: every command, option and help text, and what each one runs.
 * src/cli.ts parses with it and maps errors to exit codes; the docs test parses every example
 * of README, docs/ and the help texts with it, so an example cannot name an option that
 * does not exist.
 */
import { readFileSync } from "node:fs";
import { Command, Help, InvalidArgumentError, Option } from "commander";
import type { GlobalOptions } from "./commands/context.js";
import { type ExitCode, UsageError } from "./runtime/errors.js";
import { LOG_FORMATS } from "./runtime/log.js";

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  version: string;
};

function integer(what: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min) throw new InvalidArgumentError(`expected ${what}, got \`${value}\``);
    return n;
  };
}

/** A help text's examples: command lines, each as a reader would paste it into a shell. */
export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  ${line}\n`).join("")}`;
}

/** --lock-timeout, of the commands that take a profile's lock (push, verify). */
function lockTimeout(): Option {
  return new Option("--lock-timeout <seconds>", "how long to wait for another genpush working on the same profile")
    .argParser(integer("a number of seconds", 0))
    .default(600);
}

/** --to of push, status, verify and diff: a store URI in every command. */
const TO_HELP =
  "a store by its URI (any `nix copy --to` URI; repeatable), as `push --to` took it: added to the configuration's caches, or alone with no configuration file";

// Each command's module is loaded when it runs: a no-op push does not pay for D-Bus or execa.
const collect = (value: string, previous: string[]) => [...previous, value];

/** The program; each command's action hands its exit code to `exit`. */
export function program(signal: AbortSignal, exit: (code: ExitCode) => void): Command {
  const cli = new Command("genpush")
    .description(
      "Push every Nix generation you switch to into your binary caches: exactly the paths the new " +
        "generation added, only those each cache lacks, routed by architecture. Run by systemd path " +
        "units on every switch; safe to run by hand at any time.",
    )
    .version(version, "--version")
    .option(
      "--config <file>",
      "configuration file (default: $GENPUSH_CONFIG, else $XDG_CONFIG_HOME/genpush/config.yaml for a user, /etc/genpush/config.yaml for root)",
    )
    .addOption(
      new Option("--log-format <format>", "how logs are written (auto: journal under systemd, else pretty)")
        .choices(LOG_FORMATS)
        .default("auto"),
    )
    .option("-v, --verbose", "log more detail", false)
    .showHelpAfterError("(run with --help for usage)")
    // "(default: false)" after every flag, and "(default: [])" after a repeatable one, say nothing.
    .configureHelp({
      optionDescription: (option) => new Help().optionDescription(option).replace(/ \(default: (false|\[\])\)$/, ""),
    })
    .exitOverride();

  const globals = (): GlobalOptions => {
    const o = cli.opts<{ config?: string; logFormat: GlobalOptions["logFormat"]; verbose: boolean }>();
    return { ...(o.config ? { config: o.config } : {}), logFormat: o.logFormat, verbose: o.verbose, signal };
  };

  cli
    .command("push")
    .description("push the new generation of each profile to the caches serving its system")
    .option("--profile <name>", "push only this profile (repeatable; default: all configured)", collect, [])
    .option("--dry-run", "plan and ask the caches, but upload nothing and record nothing", false)
    .option(
      "--to <store-uri>",
      "also push to this store (any `nix copy --to` URI; repeatable); with no configuration file, push there alone",
      collect,
      [],
    )
    .option("--signing-key <file>", "sign what goes to the --to stores with this Nix secret key")
    .option("--profile-path <path>", "push this profile link instead of the configured profiles")
    .option("--queue", "push only the queue (what `genpush enqueue` recorded), no profile", false)
    .option(
      "--paths <path...>",
      "push these store paths and their closures now, instead of profiles and queue (for CI jobs and scripts)",
    )
    .option("--cache <name>", "with --paths: push to this configured cache only")
    .option(
      "--ignore-metered",
      "upload on a metered network too, whatever the configuration's meteredLimit (default: larger uploads wait)",
      false,
    )
    .option("--json", "print one JSON document with every result on stdout", false)
    .addOption(lockTimeout())
    .addHelpText(
      "after",
      examples(
        "genpush push                      # every configured profile, then the queue",
        "genpush push --profile system --dry-run",
        "genpush push --queue              # only what `genpush enqueue` recorded",
        "genpush push --paths ./result --cache lan   # a CI job's build, now",
        "genpush push --ignore-metered     # on a phone's hotspot, push what would wait",
        "genpush push --to file:///var/cache/nix-local   # no configuration file needed",
        "genpush push --to 'http://cache.lan:8080?compression=zstd' --signing-key /run/secrets/cache-key",
        'genpush push --profile-path ~/.nix-profile --to "file://$HOME/.cache/genpush/demo-cache"',
      ),
    )
    .allowExcessArguments(true)
    .action(async (o, command: Command) => {
      profilesAsOptions("push", command.args);
      exit(await (await import("./commands/push.js")).pushCommand(globals(), o));
    });

  cli
    .command("enqueue")
    .description(
      "record store paths for the next push, held against garbage collection; never builds, substitutes " +
        "or contacts a cache " +
        "(made to be Nix's post-build-hook: with no arguments it takes $OUT_PATHS)",
    )
    .argument("[path...]", "store paths to queue (default: $OUT_PATHS, as Nix sets it for post-build-hook)")
    .option("--stdin", "read store paths from standard input, one per line", false)
    .option("--hydra-json <file>", "queue the outputs of a Hydra RunCommand event ($HYDRA_JSON)")
    .addHelpText(
      "after",
      `${examples(
        "genpush enqueue ./result                     # a build's output, by hand or from a script",
        "genpush enqueue --stdin                      # store paths on standard input, one per line",
        'genpush enqueue --hydra-json "$HYDRA_JSON"   # in a Hydra RunCommand',
      )}
As Nix's post-build-hook, nix.conf names a script that runs it (on NixOS:
services.genpush.postBuildHook.enable = true):
  post-build-hook = /usr/local/bin/genpush-post-build-hook
  # the script: #!/bin/sh  then  exec genpush enqueue
genpush-queue.path starts genpush-queue.service (genpush push --queue) when something is queued.
`,
    )
    .action(async (paths: string[], o) =>
      exit(await (await import("./commands/enqueue.js")).enqueueCommand(globals(), { ...o, paths })),
    );

  cli
    .command("diff")
    .description("show what a push would send: new paths, which each cache lacks, NAR bytes")
    .option("--profile <name>", "the profile to diff (or --profile-path)")
    .option(
      "--generation <generation>",
      "diff this generation (default: the current one)",
      integer("a generation number", 1),
    )
    .option(
      "--from <generation>",
      "diff against this generation (default: the one last pushed to each cache)",
      integer("a generation number", 1),
    )
    .option("--to <store-uri>", TO_HELP, collect, [])
    .option("--profile-path <path>", "diff this profile link instead of a configured profile")
    .option("--json", "print one JSON document on stdout", false)
    .addHelpText(
      "after",
      examples(
        "genpush diff --profile system              # the current generation against what each cache got",
        "genpush diff --profile system --from 41 --generation 42",
        "genpush diff --profile home-manager --json",
        'genpush diff --profile-path ~/.nix-profile --to "file://$HOME/.cache/genpush/demo-cache"',
      ),
    )
    .action(async (o) => exit(await (await import("./commands/diff.js")).diffCommand(globals(), o)));

  cli
    .command("status")
    .description("per profile and cache: current and last pushed generation, pending work, last result")
    .option("--to <store-uri>", TO_HELP, collect, [])
    .option("--profile-path <path>", "show this profile link instead of the configured profiles")
    .option("--json", "print one JSON document on stdout", false)
    .addHelpText(
      "after",
      examples(
        "genpush status",
        "sudo genpush status --json   # root's profiles, and the units' states",
        'genpush status --to "file://$HOME/.cache/genpush/demo-cache"   # what `push --to` did, no configuration file',
      ),
    )
    .action(async (o) => exit(await (await import("./commands/status.js")).statusCommand(globals(), o)));

  cli
    .command("verify")
    .description("ask each cache about the whole closure of the current generation (finds what a cache lost)")
    .option("--profile <name>", "verify only this profile (repeatable; default: all configured)", collect, [])
    .option("--repair", "upload whatever is missing", false)
    .option("--ignore-metered", "with --repair: upload on a metered network too, whatever meteredLimit says", false)
    .option("--to <store-uri>", TO_HELP, collect, [])
    .option("--signing-key <file>", "the --to stores' Nix secret key: their narinfos must be signed by it, repairs are")
    .option("--profile-path <path>", "verify this profile link instead of the configured profiles")
    .option("--json", "print one JSON document on stdout", false)
    .addOption(lockTimeout())
    .addHelpText(
      "after",
      `${examples(
        "genpush verify                          # every profile: does each cache hold the whole closure?",
        "genpush verify --profile system --repair",
        'genpush verify --to "file://$HOME/.cache/genpush/demo-cache"   # no configuration file needed',
      )}\nExit status 1 when a cache lacks paths that were not repaired.\n`,
    )
    .allowExcessArguments(true)
    .action(async (o, command: Command) => {
      profilesAsOptions("verify", command.args);
      exit(await (await import("./commands/verify.js")).verifyCommand(globals(), o));
    });

  const units = cli
    .command("units")
    .description("manage the systemd units that run genpush on every switch")
    .addHelpText(
      "after",
      examples(
        "sudo genpush units install --dry-run   # the system units it would write, and what they would miss",
        "genpush units install --user           # a user's units, in ~/.config/systemd/user",
      ),
    );
  units
    .command("install")
    .description("write the unit files where systemd reads them, reload the manager, and print what to enable")
    .option("--system", "system units in /etc/systemd/system (default for root)", false)
    .option("--user", "user units in ~/.config/systemd/user (default for other users)", false)
    .option("--dry-run", "print the unit files instead of writing them", false)
    .addHelpText(
      "after",
      examples(
        "sudo genpush units install --dry-run   # show the units it would write",
        "sudo genpush units install && sudo systemctl enable --now genpush-system.path",
        "genpush units install --user && systemctl --user enable --now genpush-home-manager.path",
      ),
    )
    .action(async (o) => exit(await (await import("./commands/units.js")).unitsInstallCommand(globals(), o)));

  const config = cli
    .command("config")
    .description("work with the configuration")
    .addHelpText(
      "after",
      examples(
        "genpush config check                  # validate the configuration and print it resolved",
        "sudo genpush config check --json      # root's configuration (/etc/genpush/config.yaml)",
      ),
    );
  config
    .command("check")
    .description("validate the configuration and print it with every default filled in")
    .option("--json", "print one JSON document on stdout", false)
    .option("--no-secrets", "do not read secret files, nor check who may change the files (for a Nix build)")
    .addHelpText(
      "after",
      examples("genpush config check", "genpush --config ./config.yaml config check --no-secrets --json"),
    )
    .action(async (o) => exit(await (await import("./commands/config.js")).configCheckCommand(globals(), o)));

  return cli;
}

/** `genpush push system` means `--profile system`: say so, instead of commander's "too many arguments". */
function profilesAsOptions(command: string, args: readonly string[]): void {
  if (args.length === 0) return;
  throw new UsageError(
    `genpush ${command} takes no arguments, got ${args.map((a) => `\`${a}\``).join(" ")}`,
    `to name profiles: genpush ${command} ${args.map((a) => `--profile ${a}`).join(" ")}`,
  );
}
