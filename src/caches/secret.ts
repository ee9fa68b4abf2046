import { readFile } from "node:fs/promises";
import { GenpushError } from "../runtime/errors.js";
import { rememberSecret } from "../runtime/secrets.js";

/**
 * A secret from its file, trimmed; errors name the file and the cache, never
 * the content. Remembered, so nothing genpush quotes can carry it.
 */
export async function readSecret(file: string, cacheName: string, what: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new GenpushError(
      `cache ${cacheName}: cannot read the ${what} file ${file}: ${(error as NodeJS.ErrnoException).code}`,
      {
        hint: "check that the file exists and genpush may read it",
      },
    );
  }
  const secret = text.trim();
  if (!secret) throw new GenpushError(`cache ${cacheName}: the ${what} file ${file} is empty`);
  rememberSecret(secret);
  return secret;
}
