// `floe query` over a table whose files live in S3 (the development SeaweedFS): the files a WHERE clause
// rules out are never downloaded, and the answer is the same as reading everything.
import assert from "node:assert/strict";
import { test } from "node:test";
import { InMemoryCatalogStore } from "../../src/catalog/catalog-store.ts";
import { StoreCatalog } from "../../src/catalog/store-catalog.ts";
import { queryRows } from "../../src/dump/query.ts";
import { updatePartitionSpec } from "../../src/iceberg/operations/table-changes.ts";
import { identity } from "../../src/iceberg/transforms.ts";
import type { FileIO } from "../../src/io/file-io.ts";
import { S3FileIO } from "../../src/io/index.ts";
import { createTestBucket, defer } from "../helpers/services.ts";
import { appendRows, ordersId, ordersSchema } from "../helpers/tables.ts";

test("query pruning skips the downloads of S3 files the WHERE clause rules out", async (t) => {
  const { info, bucket } = await createTestBucket(t);
  const s3 = new S3FileIO({
    endpoint: info.endpoint,
    region: info.region,
    credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
    forcePathStyle: true,
  });
  defer(t, () => s3.close());
  const downloads: string[] = [];
  const io = new Proxy(s3, {
    get(target, property) {
      if (property === "downloadToFile") {
        return (location: string, path: string) => {
          downloads.push(location);
          return target.downloadToFile(location, path);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as FileIO;
  const catalog = new StoreCatalog({
    name: "s3",
    store: new InMemoryCatalogStore(),
    io,
    warehouse: `s3://${bucket}/warehouse`,
  });
  await catalog.createNamespace(["shop"]);
  let table = await catalog.createTable(ordersId, { schema: ordersSchema });
  table = (await updatePartitionSpec(catalog, table, [{ sourceId: 2, transform: identity }])).table;
  const statuses = ["new", "paid", "shipped", "returned"];
  table = await appendRows(
    catalog,
    table,
    Array.from({ length: 400 }, (_, i) => ({
      id: BigInt(i),
      status: statuses[i % 4]!,
      day: 19_000 + (i % 9),
    })),
  );

  const sql =
    "SELECT status, count(*), min(id), max(id) FROM shop.orders WHERE status IN ('paid', 'returned') GROUP BY 1 ORDER BY 1";
  const pruned = await queryRows(catalog, sql);
  const prunedDownloads = downloads.splice(0);
  const full = await queryRows(catalog, sql, { pruning: false });
  assert.deepEqual(pruned.rows, [
    ["paid", "100", "1", "397"],
    ["returned", "100", "3", "399"],
  ]);
  assert.deepEqual(pruned.rows, full.rows);
  assert.equal(downloads.length, 4, downloads.join("\n"));
  assert.equal(prunedDownloads.length, 2, prunedDownloads.join("\n"));
  assert.ok(
    prunedDownloads.every((location) => /status=(paid|returned)\//.test(location)),
    prunedDownloads.join("\n"),
  );
  assert.equal(pruned.tables[0]?.metrics.dataFilesSkippedByPartition, 2);
});
