/**
 * Shell-style globs, as the configuration writes them (`exclude` on store path
 * names, `hosts` on host names): compiled once where the configuration is
 * validated, matched by planning and routing. They live below both, so that
 * neither imports the other for them.
 */

/**
 * An `exclude` glob, compiled once where the configuration is validated, so a
 * glob that cannot compile is a configuration error with its line, not a
 * failure of every push.
 */
export class Glob {
  readonly #re: RegExp;

  /** Throws, naming the glob and why, when it cannot compile. */
  constructor(readonly glob: string) {
    this.#re = globToRegExp(glob);
  }

  matches(name: string): boolean {
    return this.#re.test(name);
  }

  /** `config check` and `--json` print it as written. */
  toJSON(): string {
    return this.glob;
  }
}

/** Shell-style globs on store path names: `*`, `?` and `[...]`. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        re += `[${glob
          .slice(i + 1, end)
          .replace(/^!/, "^")
          .replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, "\\$&");
  }
  try {
    return new RegExp(`^${re}$`);
  } catch (error) {
    // Only a `[...]` can be invalid (`[z-a]`); V8's message ends with why, after the regular expression.
    const why = /: ([^:]*)$/.exec(String(error))?.[1] ?? "";
    throw new Error(`\`${glob}\` is not a valid glob (${why.charAt(0).toLowerCase()}${why.slice(1)})`);
  }
}
