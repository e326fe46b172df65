#!/usr/bin/env node
// The installed `floe` command: runs the compiled CLI (npm run build), or the TypeScript sources through
// tsx in a checkout that has not been built.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const compiled = fileURLToPath(new URL("../dist/cli/main.js", import.meta.url));
if (existsSync(compiled)) {
  const { run } = await import(compiled);
  process.exit(await run(process.argv.slice(2)));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  const { run } = await import("../src/cli/main.ts");
  process.exit(await run(process.argv.slice(2)));
}
