/**
 * Where genpush's own files are: the package root, one level above this
 * module both in a checkout (`src/`) and once bundled (`dist/`). The unit
 * files (`units/`) are found from here.
 */
import { fileURLToPath } from "node:url";

export const PACKAGE_ROOT = fileURLToPath(new URL("..", import.meta.url));
