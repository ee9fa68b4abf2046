/**
 * A configuration file as data, with the line of every key: what the YAML
 * reader (yaml.ts) and the parse cache (source.ts) make, and what the checks
 * (schema.ts, config.ts) read and name in their messages.
 */

export type KeyPath = readonly (string | number)[];

export interface ConfigIssue {
  path: KeyPath;
  message: string;
  /** What to do about this issue in particular, beside the general "fix the keys named above". */
  hint?: string;
}

export interface ConfigSource {
  file: string;
  data: unknown;
  /** 1-based line of the node at `path`, or of its nearest existing parent. */
  lineOf(path: KeyPath): number | undefined;
  /** Data from the parse cache has no lines: this parses the file's text for them. */
  withLines?: () => Promise<ConfigSource>;
}

export function formatKeyPath(path: KeyPath): string {
  let out = "";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : out ? `.${key}` : key;
  return out || "(top level)";
}
