// The fenced examples of README.md and docs/*.md, read from the files themselves, so the tests
// that run or check them (test/integration/docs.test.ts, test/nix/docs.test.ts, and the e2e
// suite's LoadCredential= drop-in) cannot drift from what a reader copies.
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

/** Every documentation file, as a path from the repository root: README.md, then docs/. */
export function docFiles(): string[] {
  const docs = readdirSync(join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`);
  return ["README.md", ...docs];
}

/** A fenced block of a documentation file. */
export interface DocBlock {
  /** The file, from the repository root. */
  file: string;
  /** Line of the file where the block's first line of code stands. */
  line: number;
  /** The fence's language: sh, yaml, json, nix, ini, console, text ("" when none was given). */
  lang: string;
  /** The heading the block stands under. */
  heading: string;
  text: string;
}

/** Where a block is, for messages: `docs/units.md:42`. */
export function where(block: DocBlock): string {
  return `${block.file}:${block.line}`;
}

/** Every fenced block of `file` (or of `text`, read as that file), in order. */
export function blocksOf(file: string, text = readFileSync(join(ROOT, file), "utf8")): DocBlock[] {
  const blocks: DocBlock[] = [];
  let heading = "";
  let open: DocBlock | undefined;
  text.split("\n").forEach((line, i) => {
    if (open === undefined) {
      const fence = /^```(\S*)\s*$/.exec(line);
      if (fence) open = { file, line: i + 2, lang: fence[1] ?? "", heading, text: "" };
      else if (line.startsWith("#")) heading = line.replace(/^#+\s*/, "");
    } else if (line === "```") {
      blocks.push(open);
      open = undefined;
    } else open.text += `${line}\n`;
  });
  if (open) throw new Error(`${where(open)}: a fence that never closes`);
  return blocks;
}

/** Every fenced block of every documentation file. */
export function docBlocks(): DocBlock[] {
  return docFiles().flatMap((file) => blocksOf(file));
}

/** The path a block's first line names as a comment (`# /etc/genpush/config.yaml ...`), if any. */
export function namedPath(block: DocBlock): string | undefined {
  return /^# (\/\S+|~\/\S+)/.exec(block.text)?.[1];
}

/** The one block of the documentation whose first line names `path`. */
export function blockNaming(path: string): DocBlock {
  const found = docBlocks().filter((b) => namedPath(b) === path);
  if (found.length !== 1) throw new Error(`the docs have ${found.length} blocks naming ${path}, not one`);
  return found[0] as DocBlock;
}
