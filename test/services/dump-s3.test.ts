// `floe dump` with S3 on both ends, against the real development store (SeaweedFS): a table whose files
// live in a bucket (downloaded for DuckDB) dumped to s3:// as one file and as part files, never
// replacing an existing object without overwrite.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { InMemoryCatalogStore } from "../../src/catalog/catalog-store.ts";
import { StoreCatalog } from "../../src/catalog/store-catalog.ts";
import { dumpTable } from "../../src/dump/dump.ts";
import { withDuckDb } from "../../src/iceberg/duckdb.ts";
import { FastAppend } from "../../src/iceberg/operations/append.ts";
import { writeDataFiles } from "../../src/iceberg/parquet-writer.ts";
import { currentSchema, defaultSpec } from "../../src/iceberg/table-metadata.ts";
import { S3FileIO } from "../../src/io/index.ts";
import { createTestBucket, defer } from "../helpers/services.ts";
import { ordersId, ordersSchema } from "../helpers/tables.ts";

test("dump from an S3 table to s3:// URLs, single file and split", async (t) => {
  const { info, bucket } = await createTestBucket(t);
  const io = new S3FileIO({
    endpoint: info.endpoint,
    region: info.region,
    credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
    forcePathStyle: true,
  });
  defer(t, () => io.close());
  const catalog = new StoreCatalog({
    name: "s3",
    store: new InMemoryCatalogStore(),
    io,
    warehouse: `s3://${bucket}/warehouse`,
  });
  await catalog.createNamespace(["shop"]);
  let table = await catalog.createTable(ordersId, { schema: ordersSchema });
  const rows = Array.from({ length: 50_000 }, (_, i) => ({
    id: BigInt(i),
    status: `s${i % 7}-${i}`,
    day: 19_000 + (i % 50),
  }));
  const files = await writeDataFiles({
    schema: currentSchema(table.metadata),
    spec: defaultSpec(table.metadata),
    rows,
    io,
    location: `${table.metadata.location}/data`,
  });
  const op = new FastAppend(catalog, table);
  for (const f of files) op.appendFile(f);
  table = (await op.commit()).table;

  const local = mkdtempSync(join(tmpdir(), "floe-dump-s3-"));
  defer(t, () => rmSync(local, { recursive: true, force: true }));

  const single = `s3://${bucket}/exports/orders.parquet`;
  const result = await dumpTable(table, { out: single, io, where: "id < 1000" });
  assert.equal(result.rows, 1000);
  assert.deepEqual(result.files, [single]);
  assert.equal((await io.stat(single)).size, result.bytes);
  await io.downloadToFile(single, join(local, "orders.parquet"));
  const back = await withDuckDb(async (c) =>
    (
      await c.runAndReadAll(
        `SELECT count(*), min(id), max(id) FROM read_parquet('${join(local, "orders.parquet")}')`,
      )
    ).getRowsJson(),
  );
  assert.deepEqual(back, [["1000", "0", "999"]]);

  await assert.rejects(dumpTable(table, { out: single, io }), { code: "OUTPUT_EXISTS" });
  await dumpTable(table, { out: single, io, overwrite: true, columns: ["id"] });

  const prefix = `s3://${bucket}/exports/split`;
  const split = await dumpTable(table, { out: prefix, io, format: "jsonl", maxFileSizeBytes: 500_000 });
  assert.equal(split.rows, 50_000);
  assert.ok(split.files.length >= 2, String(split.files.length));
  const listed: string[] = [];
  for await (const file of io.list(`${prefix}/`)) listed.push(file.location);
  assert.deepEqual(listed.sort(), split.files);
  assert.deepEqual(
    split.files.map((f) => f.slice(prefix.length + 1)),
    split.files.map((_, i) => `part-${String(i).padStart(5, "0")}.jsonl`),
  );
  await assert.rejects(dumpTable(table, { out: prefix, io, format: "jsonl", maxFileSizeBytes: 500_000 }), {
    code: "OUTPUT_EXISTS",
  });
});
