/**
 * The YAML side of configuration: parse a file keeping source positions, so
 * that every validation problem can name the file, the line and the key.
 * Loaded only when a configuration is not in the parse cache (source.ts).
 */
import { type Document, isMap, isSeq, LineCounter, type Node, parseDocument, visit } from "yaml";
import { UsageError } from "../runtime/errors.js";
import type { ConfigSource, KeyPath } from "./document.js";

export function parseConfigSource(file: string, text: string): ConfigSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((error) => {
      const line = lineCounter.linePos(error.pos[0]).line;
      return `${file}:${line}: YAML syntax error: ${firstLine(error.message)}`;
    });
    throw new UsageError(lines.join("\n"), "fix the YAML syntax at the line shown");
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (error) {
    // An alias to an anchor not defined before it, or an alias bomb: not in doc.errors.
    const line = firstAliasLine(doc, lineCounter);
    throw new UsageError(
      `${file}${line ? `:${line}` : ""}: YAML error: ${firstLine((error as Error).message)}`,
      "define an anchor (&name) before using its alias (*name), or write the value out",
    );
  }
  return {
    file,
    data,
    lineOf: (path) => lineOfPath(doc, lineCounter, path),
  };
}

function firstAliasLine(doc: Document, counter: LineCounter): number | undefined {
  let line: number | undefined;
  visit(doc, {
    Alias(_, node) {
      if (line === undefined && node.range) line = counter.linePos(node.range[0]).line;
    },
  });
  return line;
}

function lineOfPath(doc: Document, counter: LineCounter, path: KeyPath): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = nodeAt(doc, path.slice(0, depth));
    if (node?.range) return counter.linePos(node.range[0]).line;
  }
  return undefined;
}

function nodeAt(doc: Document, path: KeyPath): Node | undefined {
  let node: unknown = doc.contents;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => (item.key as { value?: unknown })?.value === key);
      // Point at the key when the value is empty: that is the line the user wrote.
      node = pair ? (pair.value ?? pair.key) : undefined;
    } else if (isSeq(node) && typeof key === "number") {
      node = node.items[key];
    } else {
      return undefined;
    }
  }
  return node as Node | undefined;
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}
