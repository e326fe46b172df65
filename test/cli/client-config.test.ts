// `--config floe.yaml` for the catalog clients, through the real `floe` binary against an in-process
// `floe serve`: the file supplies mandatory flags, a command's section wins over the top level, flags
// and environment variables win over the file, and a bad value is a usage error naming file and key.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startServer } from "../../src/server/server.ts";

// The test's own settings only: none of the developer's FLOE_* variables.
const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("FLOE_")));

function floe(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ["bin/floe.js", ...args], {
      env: { ...clean, ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk;
    });
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

test("--config supplies catalog flags; section > top level; env and flags win; bad values are usage errors", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "floe-client-config-"));
  const server = await startServer({
    dataDir: join(dir, "data"),
    host: "127.0.0.1",
    port: 0,
    logger: false,
    maintenanceIntervalMs: 0,
    auth: { anonymous: true },
  });
  t.after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await server.buckets.create("lake");
  const file = join(dir, "floe.yaml");
  const write = (yaml: string) => writeFileSync(file, yaml);
  const sql = "select 42 as answer";

  // Mandatory --bucket and the catalog URL come from the file; the query section's format wins.
  write(
    `catalog: ${server.url}\nbucket: lake\nformat: csv\nport: 9999  # serve's key: ignored here\nquery:\n  format: json\n`,
  );
  let result = await floe(["query", sql, "--config", file]);
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), [{ answer: 42 }]);

  // FLOE_CONFIG works like --config; a flag beats the file.
  result = await floe(["query", sql, "--format", "csv"], { FLOE_CONFIG: file });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout.trim(), "answer\n42");

  // The environment beats the file: a bucket that does not exist.
  result = await floe(["query", sql, "--config", file], { FLOE_BUCKET: "nope" });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /nope/);

  // A flag beats the file too.
  result = await floe(["query", sql, "--config", file, "--bucket", "nope"]);
  assert.equal(result.status, 1);
  assert.match(result.stderr, /nope/);

  // A value the flag would refuse is a usage error naming the file and the key.
  write(`catalog: ${server.url}\nbucket: lake\nquery:\n  format: xml\n`);
  result = await floe(["query", sql, "--config", file]);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /format in .*floe\.yaml is 'xml'; allowed: table, csv, json/);

  result = await floe(["query", sql, "--config", join(dir, "missing.yaml")]);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /cannot read the config file/);
});
