// Automatic maintenance in floe serve: a pass compacts a table's small files with the table's S3 Tables
// configuration, GetTableMaintenanceJobStatus reports it, a disabled job is left alone, and the
// interval timer really runs passes by itself.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import * as S3T from "@aws-sdk/client-s3tables";
import type { Catalog, LoadedTable } from "../../src/catalog/catalog.ts";
import { openRestCatalog } from "../../src/cli/dump.ts";
import { FastAppend } from "../../src/iceberg/operations/append.ts";
import { writeDataFiles } from "../../src/iceberg/parquet-writer.ts";
import { readTable } from "../../src/iceberg/reader.ts";
import { planScan } from "../../src/iceberg/scan.ts";
import { currentSchema, defaultSpec } from "../../src/iceberg/table-metadata.ts";
import { startServer } from "../../src/server/server.ts";
import { ordersSchema } from "../helpers/tables.ts";

async function smallCommits(catalog: Catalog, table: LoadedTable, count: number): Promise<LoadedTable> {
  let current = table;
  for (let i = 1; i <= count; i++) {
    const files = await writeDataFiles({
      schema: currentSchema(current.metadata),
      spec: defaultSpec(current.metadata),
      rows: [{ id: BigInt(i), status: "new", day: 19_000 + i }],
      io: current.io,
      location: `${current.metadata.location}/data`,
    });
    const append = new FastAppend(catalog, current);
    for (const f of files) append.appendFile(f);
    current = (await append.commit()).table;
  }
  return current;
}

async function setup(t: { after(fn: () => unknown): void }, maintenanceIntervalMs: number) {
  const dataDir = mkdtempSync(join(tmpdir(), "floe-scheduler-"));
  const server = await startServer({
    dataDir,
    host: "127.0.0.1",
    port: 0,
    logger: false,
    maintenanceIntervalMs,
    auth: { keys: [{ accessKeyId: "test", secretAccessKey: "test" }] },
  });
  const client = new S3T.S3TablesClient({
    endpoint: server.url,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
  t.after(async () => {
    client.destroy();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const bucket = await server.buckets.create("lake");
  const catalog = await openRestCatalog(server.url, "lake", { credential: "test:test" });
  await catalog.createNamespace(["shop"]);
  return { server, client, bucket, catalog };
}

test("a maintenance pass compacts with the table's configuration and reports job status", async (t) => {
  const { server, client, bucket, catalog } = await setup(t, 0);
  const orders = await smallCommits(
    catalog,
    await catalog.createTable({ namespace: ["shop"], name: "orders" }, { schema: ordersSchema }),
    6,
  );
  const frozen = await smallCommits(
    catalog,
    await catalog.createTable({ namespace: ["shop"], name: "frozen" }, { schema: ordersSchema }),
    6,
  );
  await client.send(
    new S3T.PutTableMaintenanceConfigurationCommand({
      tableBucketARN: bucket.arn,
      namespace: "shop",
      name: "frozen",
      type: "icebergCompaction",
      value: { status: "disabled", settings: { icebergCompaction: { targetFileSizeMB: 128 } } },
    }),
  );

  const summary = await server.maintenance.runOnce();
  assert.deepEqual({ tables: summary.tables, failedJobs: summary.failedJobs }, { tables: 2, failedJobs: 0 });

  const compacted = await catalog.loadTable(orders.identifier);
  assert.equal((await planScan(compacted)).tasks.length, 1);
  assert.equal((await readTable(compacted)).length, 6);
  const untouched = await catalog.loadTable(frozen.identifier);
  assert.equal((await planScan(untouched)).tasks.length, 6);

  const ordersStatus = await client.send(
    new S3T.GetTableMaintenanceJobStatusCommand({
      tableBucketARN: bucket.arn,
      namespace: "shop",
      name: "orders",
    }),
  );
  assert.equal(ordersStatus.status?.icebergCompaction?.status, "Successful");
  assert.ok(ordersStatus.status?.icebergCompaction?.lastRunTimestamp);
  assert.equal(ordersStatus.status?.icebergSnapshotManagement?.status, "Successful");
  assert.equal(ordersStatus.status?.icebergUnreferencedFileRemoval?.status, "Successful");
  const frozenStatus = await client.send(
    new S3T.GetTableMaintenanceJobStatusCommand({
      tableBucketARN: bucket.arn,
      namespace: "shop",
      name: "frozen",
    }),
  );
  assert.equal(frozenStatus.status?.icebergCompaction?.status, "Disabled");
});

test("the scheduler runs passes on its own interval", async (t) => {
  const { client, bucket, catalog } = await setup(t, 200);
  await smallCommits(
    catalog,
    await catalog.createTable({ namespace: ["shop"], name: "orders" }, { schema: ordersSchema }),
    1,
  );
  const deadline = Date.now() + 20_000;
  let status: string | undefined;
  while (Date.now() < deadline) {
    const jobs = await client.send(
      new S3T.GetTableMaintenanceJobStatusCommand({
        tableBucketARN: bucket.arn,
        namespace: "shop",
        name: "orders",
      }),
    );
    status = jobs.status?.icebergSnapshotManagement?.status;
    if (status === "Successful") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status, "Successful");
});
