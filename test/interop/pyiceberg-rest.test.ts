// Floe's REST catalog (`floe serve`, in-process on a random port, with an access key) driven by
// independent clients: pyiceberg's RestCatalog — authenticated with OAuth2 client credentials
// (`credential`) and, on a second bucket, with SigV4 signing (`rest.sigv4-enabled`) — creates
// namespaces and tables, appends with pyarrow, evolves the schema, runs a staged create transaction,
// renames and drops; DuckDB's iceberg extension attaches the catalog with OAuth2 and with SigV4 and
// reads. Floe's own view of the bucket must agree with what they did.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { repoRoot } from "../../scripts/services/common.ts";
import { currentSchema, currentSnapshot } from "../../src/iceberg/table-metadata.ts";
import { type RunningServer, startServer } from "../../src/server/server.ts";
import { interopPython } from "../helpers/python.ts";

/** runReader, but without blocking the event loop: the server answering the reader runs in this process. */
function runReaderAsync<T>(command: string, ...args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(interopPython(), [join(repoRoot, "test", "interop", "readers.py"), command, ...args]);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`readers.py ${command} failed (exit ${code}):\n${stderr}`));
      else resolve(JSON.parse(stdout) as T);
    });
  });
}

interface PyicebergRestResult {
  namespaces: string[];
  children: string[];
  namespaceProperties: Record<string, string>;
  duplicateCreate: string;
  staleCommit: string;
  metadataLocation: string;
  schema: string[];
  properties: Record<string, string>;
  snapshots: number;
  rows: Array<Record<string, unknown>>;
  stagedLocation: string;
  stagedRows: Array<Record<string, unknown>>;
  tablesBeforeDrop: string[];
  dropped: string;
  tableExists: boolean;
}

const expectedRows = [
  { id: 1, name: "a", score: null },
  { id: 2, name: "b", score: null },
  { id: 3, name: null, score: null },
  { id: 4, name: "d", score: 4.5 },
  { id: 5, name: null, score: null },
];

// No "+" in the secret: DuckDB 1.5's OAuth2 request does not form-encode it (a "+" arrives as a space).
const key = { accessKeyId: "AKINTEROP", secretAccessKey: "interop/secret-key" };
const credential = `${key.accessKeyId}:${key.secretAccessKey}`;
const byKey = (a: Record<string, unknown>, b: Record<string, unknown>) => Number(a.id) - Number(b.id);

function checkPyicebergResult(result: PyicebergRestResult): void {
  assert.deepEqual(result.namespaces, ["interop"]);
  assert.deepEqual(result.children, ["interop.nested"]);
  assert.deepEqual(result.namespaceProperties, { owner: "pyiceberg" });
  assert.equal(result.duplicateCreate, "TableAlreadyExistsError");
  assert.equal(result.staleCommit, "CommitFailedException");
  assert.deepEqual(result.schema, ["id", "name", "score"]);
  assert.equal(result.properties.touched, "by-pyiceberg");
  assert.equal(result.snapshots, 2);
  assert.deepEqual([...result.rows].sort(byKey), expectedRows);
  assert.deepEqual(result.stagedRows, [{ id: 10, name: "x" }]);
  assert.deepEqual(result.tablesBeforeDrop, ["interop.events", "interop.renamed"]);
  assert.equal(result.dropped, "NoSuchTableError");
  assert.equal(result.tableExists, true);
}

test("pyiceberg and DuckDB work against floe serve's REST catalog, with OAuth2 and with SigV4", async (t) => {
  interopPython(); // create the venv before the server starts (it can take a while the first time)
  const dataDir = mkdtempSync(join(tmpdir(), "floe-rest-interop-"));
  let server: RunningServer | undefined;
  t.after(async () => {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  server = await startServer({ dataDir, host: "127.0.0.1", port: 0, auth: { keys: [key] } });
  const bucket = await server.buckets.create("interop");

  const result = await runReaderAsync<PyicebergRestResult>(
    "pyiceberg-rest",
    server.catalogUri,
    bucket.arn,
    "--credential",
    credential,
  );
  checkPyicebergResult(result);

  // Floe's catalog over the same bucket sees exactly what pyiceberg committed.
  const catalog = server.buckets.catalog(bucket);
  const table = await catalog.loadTable({ namespace: ["interop"], name: "events" });
  assert.equal(table.metadataLocation, result.metadataLocation);
  assert.match(table.metadata.location, new RegExp(`^${bucket.storage}/interop/events-[0-9a-f]{32}$`));
  assert.deepEqual(
    currentSchema(table.metadata).fields.map((f) => f.name),
    ["id", "name", "score"],
  );
  assert.equal(currentSnapshot(table.metadata)?.summary["total-records"], "5");
  assert.deepEqual(await catalog.listTables(["interop"]), [{ namespace: ["interop"], name: "events" }]);

  await t.test(
    "DuckDB's iceberg extension attaches with OAuth2 client credentials and reads the table",
    async () => {
      const rows = await runReaderAsync<Array<Record<string, unknown>> | { skipped: string }>(
        "duckdb-rest-scan",
        server!.catalogUri,
        bucket.name,
        "--credential",
        credential,
      );
      // httpfs is pinned in test/interop/requirements.txt, so DuckDB must be able to attach.
      assert.ok(Array.isArray(rows), `DuckDB could not attach the REST catalog: ${JSON.stringify(rows)}`);
      assert.deepEqual([...rows].sort(byKey), expectedRows);
    },
  );

  await t.test(
    "DuckDB's iceberg extension attaches with SigV4 (an S3 secret) and reads the table",
    async () => {
      // The extension takes the SigV4 service and region from the host name; curl resolves *.localhost
      // to the loopback address, so this names the same server.
      const port = new URL(server!.url).port;
      const rows = await runReaderAsync<Array<Record<string, unknown>> | { skipped: string }>(
        "duckdb-rest-scan",
        `http://s3tables.us-east-1.localhost:${port}/iceberg`,
        bucket.name,
        "--sigv4",
        credential,
      );
      assert.ok(Array.isArray(rows), `DuckDB could not attach with SigV4: ${JSON.stringify(rows)}`);
      assert.deepEqual([...rows].sort(byKey), expectedRows);
    },
  );

  await t.test("without credentials pyiceberg and DuckDB are refused", async () => {
    await assert.rejects(
      runReaderAsync("pyiceberg-rest", server!.catalogUri, bucket.arn),
      /NotAuthorizedException|Unauthorized|401/,
    );
    await assert.rejects(
      runReaderAsync("duckdb-rest-scan", server!.catalogUri, bucket.name),
      /Unauthorized_401|401/,
    );
    await assert.rejects(
      runReaderAsync(
        "pyiceberg-rest",
        server!.catalogUri,
        bucket.arn,
        "--credential",
        `${key.accessKeyId}:wrong`,
      ),
      /invalid_client|401|Unauthorized/,
    );
  });

  await t.test("pyiceberg with SigV4 signing (rest.sigv4-enabled) runs the same scenario", async () => {
    const signed = await server!.buckets.create("interop-sigv4");
    checkPyicebergResult(
      await runReaderAsync<PyicebergRestResult>(
        "pyiceberg-rest",
        server!.catalogUri,
        signed.arn,
        "--sigv4",
        credential,
      ),
    );
    const table = await server!.buckets.catalog(signed).loadTable({ namespace: ["interop"], name: "events" });
    assert.equal(currentSnapshot(table.metadata)?.summary["total-records"], "5");
  });
});
