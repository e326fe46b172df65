/**
 * `npm test`: starts (or reuses) the development services, then runs every `*.test.ts` under test/ with
 * node's test runner. `npm run test:unit` runs only the tests that need no services (everything outside
 * test/services, test/e2e and test/interop) and starts nothing. Extra arguments filter test files by substring.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describeError } from "../src/errors.ts";
import { repoRoot } from "./services/common.ts";
import { servicesUp } from "./services/index.ts";

/** Tests that need the running services. */
const serviceFolders = ["test/services/", "test/e2e/"];
/** Tests that need more than Node (services, or the Python interop readers installed from PyPI). */
const nonUnitFolders = [...serviceFolders, "test/interop/"];

function findTests(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (entry.endsWith(".test.ts")) found.push(relative(repoRoot, path));
  }
  return found.sort();
}

async function main(argv: string[]): Promise<number> {
  const unitOnly = argv.includes("--unit");
  const filters = argv.filter((a) => !a.startsWith("--"));
  let files = findTests(join(repoRoot, "test"));
  if (unitOnly) files = files.filter((f) => !nonUnitFolders.some((folder) => f.startsWith(folder)));
  if (filters.length > 0) files = files.filter((f) => filters.some((filter) => f.includes(filter)));
  if (files.length === 0) {
    console.error("no test files matched");
    return 1;
  }
  if (files.some((f) => serviceFolders.some((folder) => f.startsWith(folder)))) {
    const started = Date.now();
    await servicesUp();
    console.error(`services ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  const concurrency = process.env.FLOE_TEST_CONCURRENCY ?? "2";
  const result = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "--test",
      "--test-reporter=spec",
      `--test-concurrency=${concurrency}`,
      `--test-timeout=${process.env.FLOE_TEST_TIMEOUT_MS ?? 600_000}`,
      ...files,
    ],
    {
      cwd: repoRoot,
      stdio: "inherit",
      // The AWS SDK warns on every process that Node 20 support ends in 2027 (see docs/architecture.md).
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    },
  );
  return result.status ?? 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(describeError(error));
    process.exit(1);
  },
);
