/**
 * The independent Iceberg readers (pyiceberg, DuckDB + its iceberg extension) as a Python virtualenv,
 * created on first use from test/interop/requirements.txt and cached by the file's hash, and a way to
 * run test/interop/readers.py commands that answer in JSON.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { cacheRoot, repoRoot, runOrThrow } from "../../scripts/services/common.ts";

const requirements = join(repoRoot, "test", "interop", "requirements.txt");
const readersScript = join(repoRoot, "test", "interop", "readers.py");

let python: string | undefined;

export function interopPython(): string {
  if (python) return python;
  const hash = createHash("sha256").update(readFileSync(requirements)).digest("hex").slice(0, 12);
  const venv = join(cacheRoot, `interop-venv-${hash}`);
  const bin = join(venv, "bin", "python");
  if (!existsSync(join(venv, ".complete"))) {
    rmSync(venv, { recursive: true, force: true });
    runOrThrow("Creating the interop virtualenv", "python3", ["-m", "venv", venv]);
    runOrThrow("Installing pyiceberg and DuckDB from PyPI", join(venv, "bin", "pip"), [
      "install",
      "--quiet",
      "--disable-pip-version-check",
      "-r",
      requirements,
    ]);
    runOrThrow("Marking the interop virtualenv complete", "touch", [join(venv, ".complete")]);
  }
  python = bin;
  return bin;
}

/** Runs one readers.py command and returns its parsed JSON output. */
export function runReader<T = unknown>(command: string, ...args: string[]): T {
  const result = spawnSync(interopPython(), [readersScript, command, ...args], {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.status !== 0) {
    throw new Error(`readers.py ${command} failed (exit ${result.status}):\n${result.stderr}`);
  }
  return JSON.parse(result.stdout) as T;
}
