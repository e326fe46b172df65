// The scenarios of store-catalog.test.ts, through RestCatalog against `floe serve` on a real port: the
// REST client must behave as the embedded catalog does (codes, atomicity, retries), plus concurrent
// FastAppend commits to one table and to several tables, none lost.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { RestCatalog } from "../../src/catalog/rest-catalog.ts";
import { FastAppend } from "../../src/iceberg/operations/append.ts";
import { ancestorsOf, currentSnapshot, metadataFileVersion } from "../../src/iceberg/table-metadata.ts";
import { startServer } from "../../src/server/server.ts";
import { dataFile, ordersSchema } from "../helpers/tables.ts";
import { catalogContract } from "./catalog-contract.ts";

async function restWarehouse(t: { after(fn: () => unknown): void }) {
  const dataDir = mkdtempSync(join(tmpdir(), "floe-rest-catalog-"));
  const server = await startServer({ dataDir, host: "127.0.0.1", port: 0 });
  const bucket = await server.buckets.create("tables");
  const catalog = new RestCatalog({ uri: server.catalogUri, warehouse: bucket.arn });
  t.after(async () => {
    catalog.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { catalog, server, bucket, io: server.buckets.io(bucket) };
}

catalogContract(restWarehouse);

test("the REST catalog is named after its bucket's ARN", async (t) => {
  const { catalog } = await restWarehouse(t);
  assert.equal(catalog.name, "arn:aws:s3tables:us-east-1:000000000000:bucket/tables");
});

test("8 concurrent FastAppends to one table and to several tables: none is lost", async (t) => {
  const { catalog } = await restWarehouse(t);
  await catalog.createNamespace(["shop"]);
  const ids = [0, 1, 2].map((i) => ({ namespace: ["shop"], name: `t${i}` }));
  const tables = await Promise.all(ids.map((id) => catalog.createTable(id, { schema: ordersSchema })));
  const [single] = tables;
  assert.ok(single);
  // Each writer starts from the same base; losers reload and retry.
  const oneTable = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      new FastAppend(catalog, single)
        .appendFile(dataFile(single.metadata.location, i + 1))
        .commit({ minWaitMs: 1, maxWaitMs: 20, retries: 50 }),
    ),
  );
  const head = await catalog.loadTable(ids[0]!);
  const chain = ancestorsOf(head.metadata, currentSnapshot(head.metadata));
  assert.equal(chain.length, 8);
  assert.equal(currentSnapshot(head.metadata)?.summary["total-records"], String((8 * 9) / 2));
  assert.deepEqual(
    new Set(chain.map((s) => s.snapshotId)),
    new Set(oneTable.map((o) => o.result.snapshotId)),
  );
  assert.equal(metadataFileVersion(head.metadataLocation), 8);

  await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      const table = tables[i % tables.length]!;
      const base = await catalog.loadTable(table.identifier);
      return new FastAppend(catalog, base)
        .appendFile(dataFile(base.metadata.location, 100))
        .commit({ minWaitMs: 1, maxWaitMs: 20, retries: 50 });
    }),
  );
  const counts = await Promise.all(
    ids.map(async (id) => {
      const m = (await catalog.loadTable(id)).metadata;
      return ancestorsOf(m, currentSnapshot(m)).length;
    }),
  );
  assert.deepEqual(counts, [8 + 3, 3, 2]);
});
