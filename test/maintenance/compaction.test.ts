import assert from "node:assert/strict";
import { test } from "node:test";
import type { Catalog, CommitTableRequest, LoadedTable } from "../../src/catalog/catalog.ts";
import { DataFileContent } from "../../src/iceberg/data-file.ts";
import type { Row } from "../../src/iceberg/parquet-writer.ts";
import { readTable } from "../../src/iceberg/reader.ts";
import { planScan } from "../../src/iceberg/scan.ts";
import { sortField } from "../../src/iceberg/sort-order.ts";
import { identity } from "../../src/iceberg/transforms.ts";
import { compactTable, planCompaction, rowComparator } from "../../src/maintenance/compaction.ts";
import { MaintenanceError } from "../../src/maintenance/errors.ts";
import { localWarehouse, ordersId, ordersSchema } from "../helpers/tables.ts";
import { cdcCommit, Model, sortById } from "./cdc.ts";

const row = (id: number, status: string, day = 19_000): Row => ({ id: BigInt(id), status, day });

async function fileCounts(table: LoadedTable) {
  const plan = await planScan(table);
  const deletes = new Set(plan.tasks.flatMap((t) => t.deletes.map((d) => d.filePath)));
  return { data: plan.tasks.length, deletes: deletes.size };
}

async function cdcTable(t: { after(fn: () => void): void }, options: { sorted?: boolean } = {}) {
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["shop"]);
  const create: Parameters<typeof catalog.createTable>[1] = { schema: ordersSchema };
  if (options.sorted) create.sortOrder = { orderId: 1, fields: [sortField(2, "desc"), sortField(1)] };
  const table = await catalog.createTable(ordersId, create);
  return { catalog, table, model: new Model() };
}

test("bin-packing rewrites small files with equality and position deletes applied and drops the deletes", async (t) => {
  let { catalog, table, model } = await cdcTable(t);
  for (let i = 0; i < 6; i++)
    table = await cdcCommit(
      catalog,
      table,
      model,
      { upserts: [row(i * 2, "a"), row(i * 2 + 1, "a")], deletes: [] },
      "equality",
    );
  table = await cdcCommit(catalog, table, model, { upserts: [row(1, "b")], deletes: [4] }, "equality");
  table = await cdcCommit(catalog, table, model, { upserts: [row(3, "c")], deletes: [6] }, "position");
  const before = await fileCounts(table);
  assert.ok(before.deletes >= 2);

  const result = await compactTable(catalog, table, { targetFileSizeBytes: 64 * 1024 * 1024 });
  assert.equal(result.committed, true);
  assert.equal(result.strategy, "binpack");
  assert.equal(result.rewrittenDataFiles, before.data);
  assert.equal(result.addedDataFiles, 1);
  assert.ok(result.rewrittenDeleteFiles >= 2);
  const after = await fileCounts(result.table);
  assert.deepEqual(after, { data: 1, deletes: 0 });
  assert.deepEqual(sortById(await readTable(result.table)), model.sorted());
  assert.equal(result.table.metadata.snapshots.at(-1)?.summary.operation, "replace");

  // Nothing left to do: the next pass plans no group and commits nothing.
  const again = await compactTable(catalog, result.table, { targetFileSizeBytes: 64 * 1024 * 1024 });
  assert.equal(again.committed, false);
});

test("a partition below the thresholds is left alone; a delete file still needed elsewhere stays", async (t) => {
  let { catalog, table, model } = await cdcTable(t);
  for (let i = 0; i < 3; i++)
    table = await cdcCommit(catalog, table, model, { upserts: [row(i, "a")], deletes: [] }, "equality");
  const plan = await planCompaction(table, { targetFileSizeBytes: 64 * 1024 * 1024 });
  assert.equal(plan.groups.length, 0, "3 small files < minInputFiles and no deletes");

  // An equality delete of id 0 applies to all three older files (unpartitioned = global).
  table = await cdcCommit(catalog, table, model, { upserts: [], deletes: [0] }, "equality");
  const withDeletes = await planCompaction(table, {
    targetFileSizeBytes: 64 * 1024 * 1024,
    minInputFiles: 100,
  });
  const rewritten = withDeletes.groups.flatMap((g) => g.tasks.map((t) => t.dataFile.filePath));
  assert.equal(rewritten.length, 3, "every file the delete applies to is rewritten");
  assert.equal(withDeletes.removableDeleteFiles.length, 1);

  // Narrow by hand: if one data file were left out, the delete must stay.
  const narrowed = {
    ...withDeletes,
    groups: [{ ...withDeletes.groups[0]!, tasks: withDeletes.groups[0]!.tasks.slice(0, 2) }],
  };
  const left = withDeletes.scan.tasks.find((t) => !narrowed.groups[0]!.tasks.includes(t))!;
  assert.ok(left.deletes.length === 1, "the left-out file still needs the delete");
});

test("sort strategy (and auto with a sort order) writes rows in the table's sort order", async (t) => {
  let { catalog, table, model } = await cdcTable(t, { sorted: true });
  const statuses = ["b", "a", "c", null];
  for (let i = 0; i < 8; i++)
    table = await cdcCommit(
      catalog,
      table,
      model,
      { upserts: [{ ...row(100 - i, "x"), status: statuses[i % 4] ?? null }], deletes: [] },
      "equality",
    );
  const result = await compactTable(catalog, table, {
    targetFileSizeBytes: 64 * 1024 * 1024,
    strategy: "auto",
  });
  assert.equal(result.strategy, "sort");
  const rows = await readTable(result.table);
  const expected = [...rows].sort(
    rowComparator(ordersSchema, table.metadata.sortOrders.find((o) => o.orderId === 1)!),
  );
  assert.deepEqual(rows, expected);
  assert.deepEqual(
    rows.map((r) => r.status),
    ["c", "c", "b", "b", "a", "a", null, null],
    "status desc, nulls last",
  );
  const plan = await planScan(result.table);
  assert.equal(plan.tasks[0]?.dataFile.sortOrderId, 1);
  assert.deepEqual(sortById(rows), model.sorted());

  const binpack = await compactTable(catalog, result.table, { strategy: "binpack" });
  assert.equal(binpack.strategy, "binpack");
});

test("row comparator: identity transform, asc nulls-first", () => {
  const cmp = rowComparator(ordersSchema, {
    orderId: 1,
    fields: [{ sourceId: 1, transform: identity, direction: "asc", nullOrder: "nulls-first" }],
  });
  const rows = [row(3, "a"), row(1, "a"), row(2, "a")];
  assert.deepEqual(
    rows.sort(cmp).map((r) => r.id),
    [1n, 2n, 3n],
  );
});

test("partitioned table: groups per partition, each written into its own partition", async (t) => {
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["shop"]);
  const { day } = await import("../../src/iceberg/transforms.ts");
  let table = await catalog.createTable(ordersId, {
    schema: ordersSchema,
    spec: { specId: 0, fields: [{ sourceId: 3, fieldId: 1000, name: "day_day", transform: day }] },
  });
  const model = new Model();
  for (let i = 0; i < 12; i++)
    table = await cdcCommit(
      catalog,
      table,
      model,
      { upserts: [row(i, "a", 19_000 + (i % 2))], deletes: [] },
      "equality",
    );
  table = await cdcCommit(
    catalog,
    table,
    model,
    { upserts: [row(2, "z", 19_001)], deletes: [5] },
    "equality",
  );
  const result = await compactTable(catalog, table, { targetFileSizeBytes: 64 * 1024 * 1024 });
  assert.equal(result.fileGroups, 2);
  const after = await fileCounts(result.table);
  assert.deepEqual(after, { data: 2, deletes: 0 });
  assert.deepEqual(sortById(await readTable(result.table)), model.sorted());
});

/** A catalog that runs `before` once, just before compaction's commit reaches the store. */
function racingCatalog(inner: Catalog, before: () => Promise<void>): Catalog {
  let fired = false;
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === "commitTable") {
        return async (request: CommitTableRequest) => {
          const isRewrite = request.updates.some(
            (u) => u.action === "add-snapshot" && u.snapshot.summary.operation === "replace",
          );
          if (isRewrite && !fired) {
            fired = true;
            await before();
          }
          return target.commitTable(request);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

test("a concurrent equality delete is carried forward onto the rewritten files", async (t) => {
  let { catalog, table, model } = await cdcTable(t);
  for (let i = 0; i < 6; i++)
    table = await cdcCommit(catalog, table, model, { upserts: [row(i, "a")], deletes: [] }, "equality");
  const racing = racingCatalog(catalog, async () => {
    await cdcCommit(
      catalog,
      await catalog.loadTable(ordersId),
      model,
      { upserts: [row(2, "late")], deletes: [3] },
      "equality",
    );
  });
  const result = await compactTable(racing, table, { targetFileSizeBytes: 64 * 1024 * 1024 });
  assert.equal(result.committed, true);
  assert.equal(result.retries, 0);
  const latest = await catalog.loadTable(ordersId);
  assert.deepEqual(sortById(await readTable(latest)), model.sorted());
  assert.equal(model.rows.get(2n)?.status, "late");
  assert.equal(model.rows.has(3n), false);
});

test("a concurrent position delete against a rewritten file makes compaction re-plan once", async (t) => {
  let { catalog, table, model } = await cdcTable(t);
  for (let i = 0; i < 6; i++)
    table = await cdcCommit(catalog, table, model, { upserts: [row(i, "a")], deletes: [] }, "equality");
  const racing = racingCatalog(catalog, async () => {
    await cdcCommit(
      catalog,
      await catalog.loadTable(ordersId),
      model,
      { upserts: [row(1, "new")], deletes: [4] },
      "position",
    );
  });
  const result = await compactTable(racing, table, { targetFileSizeBytes: 64 * 1024 * 1024 });
  assert.equal(result.committed, true);
  assert.equal(result.retries, 1);
  const latest = await catalog.loadTable(ordersId);
  assert.deepEqual(sortById(await readTable(latest)), model.sorted());
  assert.deepEqual(await fileCounts(latest), { data: 1, deletes: 0 });
  // The lost attempt's data files are gone: only referenced parquet files remain besides the old ones.
});

test("position deletes racing both attempts: compaction gives up with CONCURRENT_CHANGE", async (t) => {
  let { catalog, table, model } = await cdcTable(t);
  for (let i = 0; i < 6; i++)
    table = await cdcCommit(catalog, table, model, { upserts: [row(i, "a")], deletes: [] }, "equality");
  let next = 10;
  const always: Catalog = new Proxy(catalog, {
    get(target, prop, receiver) {
      if (prop === "commitTable") {
        return async (request: CommitTableRequest) => {
          if (
            request.updates.some(
              (u) => u.action === "add-snapshot" && u.snapshot.summary.operation === "replace",
            )
          ) {
            const id = next++;
            await cdcCommit(
              catalog,
              await catalog.loadTable(ordersId),
              model,
              { upserts: [row(id, "x")], deletes: [next - 10] },
              "position",
            );
          }
          return target.commitTable(request);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  await assert.rejects(
    compactTable(always, table, { targetFileSizeBytes: 64 * 1024 * 1024 }),
    (error: unknown) => {
      assert.ok(error instanceof MaintenanceError);
      assert.equal(error.code, "CONCURRENT_CHANGE");
      return true;
    },
  );
  const latest = await catalog.loadTable(ordersId);
  assert.deepEqual(sortById(await readTable(latest)), model.sorted());
  assert.ok((await planScan(latest)).tasks.every((task) => task.dataFile.content === DataFileContent.DATA));
});
