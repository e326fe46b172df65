// runQuery / the query and dump commands over a local catalog: views per namespace.table with deletes
// applied, snapshot choice per table, read-only enforcement, the three output formats, and pruning: the
// same rows with and without it on a partitioned table with deletes, the files it skips, and the queries
// it must leave alone (query-pruning.test.ts covers the analysis itself).
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { dumpCommand, parseBucketTable, parseSize } from "../../src/cli/dump.ts";
import { queryCommand } from "../../src/cli/query.ts";
import { csvField, renderTable } from "../../src/dump/format.ts";
import { queryRows, runQuery } from "../../src/dump/query.ts";
import { writeEqualityDeletes, writePositionDeletes } from "../../src/iceberg/delete-writer.ts";
import { RowDelta } from "../../src/iceberg/operations/row-delta.ts";
import { updatePartitionSpec } from "../../src/iceberg/operations/table-changes.ts";
import type { Row } from "../../src/iceberg/parquet-writer.ts";
import { planScan } from "../../src/iceberg/scan.ts";
import { Schema } from "../../src/iceberg/schema.ts";
import { currentSchema, defaultSpec } from "../../src/iceberg/table-metadata.ts";
import { day as dayTransform } from "../../src/iceberg/transforms.ts";
import { appendRows, localWarehouse, ordersId, ordersSchema } from "../helpers/tables.ts";

async function fixture(t: TestContext) {
  const warehouse = localWarehouse(t);
  const { catalog } = warehouse;
  await catalog.createNamespace(["shop"]);
  await catalog.createNamespace(["crm"]);
  let orders = await catalog.createTable(ordersId, { schema: ordersSchema });
  orders = await appendRows(catalog, orders, [
    { id: 1n, status: "new", day: 19_700 },
    { id: 2n, status: "paid", day: 19_701 },
  ]);
  const first = orders.metadata.refs.main!.snapshotId;
  orders = await appendRows(catalog, orders, [{ id: 3n, status: "paid", day: null }]);
  let customers = await catalog.createTable(
    { namespace: ["crm"], name: "customers" },
    { schema: ordersSchema },
  );
  customers = await appendRows(catalog, customers, [{ id: 1n, status: "Ada", day: null }]);
  return { ...warehouse, first };
}

test("tables are views by namespace.table; joins across namespaces; snapshot per table", async (t) => {
  const { catalog, first } = await fixture(t);
  const joined = await queryRows(
    catalog,
    "SELECT o.id, c.status AS name FROM shop.orders o JOIN crm.customers c USING (id) ORDER BY 1",
  );
  assert.deepEqual(joined.columns, [
    { name: "id", type: "BIGINT" },
    { name: "name", type: "VARCHAR" },
  ]);
  assert.deepEqual(joined.rows, [["1", "Ada"]]);
  const counts = await queryRows(catalog, 'SELECT count(*) FROM "shop"."orders"');
  assert.deepEqual(counts.rows, [["3"]]);
  const old = await queryRows(catalog, "SELECT count(*) FROM shop.orders", {
    snapshots: { "shop.orders": { snapshotId: first } },
  });
  assert.deepEqual(old.rows, [["2"]]);
  // One namespace in scope: bare table names resolve in it.
  const bare = await queryRows(catalog, "SELECT max(id) FROM orders", { namespaces: [["shop"]] });
  assert.deepEqual(bare.rows, [["3"]]);
});

test("only one read-only statement runs, and it cannot reach other files", async (t) => {
  const { catalog, dir } = await fixture(t);
  const refused = [
    ["SELECT 1; SELECT 2", "INVALID_QUERY"],
    ["DROP VIEW shop.orders", "INVALID_QUERY"],
    ["CREATE TABLE x AS SELECT 1", "INVALID_QUERY"],
    [`COPY (SELECT 1) TO '${join(dir, "leak.csv")}'`, /INVALID_QUERY|QUERY_FAILED/],
    ["ATTACH ':memory:' AS other", "INVALID_QUERY"],
    ["SET enable_external_access = true", "INVALID_QUERY"],
    ["SELECT * FROM read_text('/etc/hostname')", "QUERY_FAILED"],
    ["SELECT * FROM no_such_table", "QUERY_FAILED"],
  ] as const;
  for (const [sql, code] of refused) {
    await assert.rejects(queryRows(catalog, sql), { code }, sql);
  }
  assert.equal(existsSync(join(dir, "leak.csv")), false);
});

test("output formats: table, csv, json", async (t) => {
  const { catalog } = await fixture(t);
  const sql = "SELECT id, status, day FROM shop.orders ORDER BY id";
  const render = async (format: "table" | "csv" | "json") => {
    let text = "";
    await runQuery(catalog, sql, { format, write: (chunk) => (text += chunk) });
    return text;
  };
  assert.equal(await render("csv"), "id,status,day\n1,new,2023-12-09\n2,paid,2023-12-10\n3,paid,\n");
  assert.deepEqual(JSON.parse(await render("json")), [
    { id: 1, status: "new", day: "2023-12-09" },
    { id: 2, status: "paid", day: "2023-12-10" },
    { id: 3, status: "paid", day: null },
  ]);
  assert.equal(
    await render("table"),
    [
      "id | status | day",
      "---+--------+-----------",
      " 1 | new    | 2023-12-09",
      " 2 | paid   | 2023-12-10",
      " 3 | paid   | NULL",
      "(3 rows)",
      "",
    ].join("\n"),
  );
  assert.equal(csvField('a "b", c'), '"a ""b"", c"');
  assert.equal(csvField(" lead"), '" lead"');
  assert.equal(csvField(null), "");
  assert.equal(renderTable([{ name: "x", type: "VARCHAR" }], []), "x\n-\n(0 rows)\n");
});

test("the dump and query commands parse their arguments and use the injected catalog", async (t) => {
  const { catalog, dir } = await fixture(t);
  const opened: string[] = [];
  let stdout = "";
  const deps = {
    openCatalog: async (url: string, bucket: string) => {
      opened.push(`${url} ${bucket}`);
      return catalog;
    },
    stdout: { write: (text: string) => (stdout += text) } as unknown as NodeJS.WritableStream,
  };
  const out = join(dir, "orders.csv");
  await dumpCommand(deps)
    .exitOverride()
    .parseAsync(["lake.shop.orders", "--out", out, "--where", "status = 'paid'", "--no-progress"], {
      from: "user",
    });
  assert.deepEqual(opened, ["http://127.0.0.1:8181 lake"]);
  assert.equal(JSON.parse(stdout).rows, 2);
  assert.deepEqual(readFileSync(out, "utf8").split("\n").sort(), [
    "",
    "2,paid,2023-12-10",
    "3,paid,",
    "id,status,day",
  ]);

  stdout = "";
  await queryCommand(deps)
    .exitOverride()
    .parseAsync(
      [
        "SELECT count(*) AS n FROM shop.orders",
        "--bucket",
        "lake",
        "--catalog",
        "http://x",
        "--format",
        "csv",
      ],
      {
        from: "user",
      },
    );
  assert.equal(stdout, "n\n3\n");

  const silent = { writeOut: () => {}, writeErr: () => {} };
  for (const argv of [
    ["lake.orders", "--out", out],
    ["lake.shop.orders", "--out", out, "--where", "id = 1; drop"],
    ["lake.shop.orders", "--out", out, "--format", "xml"],
    ["lake.shop.orders", "--out", out, "--snapshot-id", "1", "--ref", "main"],
    ["lake.shop.orders", "--out", out, "--as-of", "someday"],
    ["lake.shop.orders", "--out", out, "--max-file-size", "lots"],
  ]) {
    await assert.rejects(
      dumpCommand(deps).exitOverride().configureOutput(silent).parseAsync(argv, { from: "user" }),
      { name: "CommanderError" },
      argv.join(" "),
    );
  }
  assert.deepEqual(parseBucketTable("b.a.b.t"), {
    bucket: "b",
    identifier: { namespace: ["a", "b"], name: "t" },
  });
  assert.equal(parseSize("256MB"), 256_000_000);
  assert.equal(parseSize("1GiB"), 1024 ** 3);
  assert.equal(parseSize("1000"), 1000);
});

// ---------------------------------------------------------------------------------------------------------
// Pruning: a day-partitioned table with position and equality deletes, and a customers table in two files.

const day0 = Date.parse("2024-01-01T00:00:00Z") / 86_400_000;
const isoDay = (d: number) => new Date(d * 86_400_000).toISOString().slice(0, 10);

async function prunedFixture(t: TestContext) {
  const warehouse = localWarehouse(t);
  const { catalog } = warehouse;
  await catalog.createNamespace(["shop"]);
  await catalog.createNamespace(["crm"]);
  let orders = await catalog.createTable(ordersId, { schema: ordersSchema });
  orders = (await updatePartitionSpec(catalog, orders, [{ sourceId: 3, transform: dayTransform }])).table;
  const live = new Map<number, { id: number; status: string | null; day: number | null }>();
  // Three appends over six days: ids 1-30, 31-60, 61-90, one file per day each (18 files), plus a null day.
  for (let batch = 0; batch < 3; batch++) {
    const rows: Row[] = [];
    for (let i = 1; i <= 30; i++) {
      const id = batch * 30 + i;
      const row = { id, status: ["new", "paid", "shipped"][id % 3]!, day: day0 + (id % 6) };
      live.set(id, row);
      rows.push({ ...row, id: BigInt(id) });
    }
    orders = await appendRows(catalog, orders, rows);
  }
  orders = await appendRows(catalog, orders, [{ id: 100n, status: null, day: null }]);
  live.set(100, { id: 100, status: null, day: null });

  // Position deletes: the first row of each file of day0+1 (ids 1, 31, 61 — rows are written in id order).
  const plan = await planScan(orders);
  const dayOne = plan.tasks.filter((task) => task.partition[0] === day0 + 1);
  assert.equal(dayOne.length, 3);
  const positionDeletes = await writePositionDeletes({
    schema: currentSchema(orders.metadata),
    spec: dayOne[0]!.spec,
    partition: dayOne[0]!.partition,
    io: orders.io,
    location: `${orders.metadata.location}/data`,
    deletes: dayOne.map((task) => ({ filePath: task.dataFile.filePath, pos: 0 })),
  });
  // Equality deletes: ids 8 and 40 (days 2 and 4).
  const equalityDeletes = await writeEqualityDeletes({
    schema: currentSchema(orders.metadata),
    spec: defaultSpec(orders.metadata),
    io: orders.io,
    location: `${orders.metadata.location}/data`,
    equalityIds: [1],
    rows: [8, 40].map((id) => ({ id: BigInt(id), day: live.get(id)!.day })),
  });
  const delta = new RowDelta(catalog, orders);
  for (const file of [...positionDeletes, ...equalityDeletes]) delta.addDeletes(file);
  orders = (await delta.commit()).table;
  for (const id of [1, 31, 61, 8, 40]) live.delete(id);

  // Customers 1-5 all have a tier (file 1); customers 6-10 have some without (file 2).
  let customers = await catalog.createTable(
    { namespace: ["crm"], name: "customers" },
    { schema: ordersSchema },
  );
  customers = await appendRows(
    catalog,
    customers,
    [1, 2, 3, 4, 5].map((id) => ({ id: BigInt(id), status: id % 2 ? "gold" : "silver", day: null })),
  );
  customers = await appendRows(
    catalog,
    customers,
    [6, 7, 8, 9, 10].map((id) => ({ id: BigInt(id), status: id % 2 ? null : "bronze", day: null })),
  );
  return { ...warehouse, live };
}

type Plans = Awaited<ReturnType<typeof queryRows>>["tables"];
/** Data files and manifests planning ruled out. */
const skipped = (plans: Plans, table: string) => {
  const { metrics } = plans.find((p) => p.table === table)!;
  return metrics.manifestsSkipped + metrics.dataFilesSkippedByPartition + metrics.dataFilesSkippedByMetrics;
};

test("query pruning: same rows as without it, fewer files read", async (t) => {
  const { catalog, live } = await prunedFixture(t);
  const expected = (keep: (row: { id: number; status: string | null; day: number | null }) => boolean) =>
    [...live.values()]
      .filter(keep)
      .sort((a, b) => a.id - b.id)
      .map((r) => [String(r.id), r.status, r.day === null ? null : isoDay(r.day)]);
  const cases: {
    where: string;
    keep: (row: { id: number; status: string | null; day: number | null }) => boolean;
    filesRead: number;
  }[] = [
    // 19 data files: 18 partitioned by day + the null-day one.
    { where: "day = '2024-01-02'", keep: (r) => r.day === day0 + 1, filesRead: 3 },
    {
      where: "day BETWEEN DATE '2024-01-02' AND '2024-01-03' AND status = 'paid'",
      keep: (r) => r.day !== null && r.day >= day0 + 1 && r.day <= day0 + 2 && r.status === "paid",
      // Partitions keep 6 files; day0+2's hold only 'shipped' (id % 6 = 2): their status bounds skip them.
      filesRead: 3,
    },
    // ids 31-60 live in the second append's files only: the others are skipped by their id bounds.
    { where: "id IN (32, 40, 44)", keep: (r) => [32, 40, 44].includes(r.id), filesRead: 6 },
    { where: "day IS NULL", keep: (r) => r.day === null, filesRead: 1 },
    {
      where: "o.id > 85 OR day = '2024-01-01'",
      keep: (r) => r.id > 85 || r.day === day0,
      // day0's 3 files, the third append's files whose largest id is above 85 (days 2-5), id 100's file.
      filesRead: 3 + 4 + 1,
    },
    { where: "status = 'new' AND id < 0", keep: () => false, filesRead: 0 },
  ];
  for (const { where, keep, filesRead } of cases) {
    const sql = `SELECT id, status, day FROM shop.orders o WHERE ${where} ORDER BY id`;
    const pruned = await queryRows(catalog, sql);
    const full = await queryRows(catalog, sql, { pruning: false });
    assert.deepEqual(pruned.rows, expected(keep), where);
    assert.deepEqual(pruned.rows, full.rows, where);
    const [plan] = pruned.tables;
    assert.equal(plan?.table, "shop.orders");
    assert.equal(plan?.dataFilesRead, filesRead, `${where}: ${JSON.stringify(plan?.metrics)}`);
    assert.ok(skipped(pruned.tables, "shop.orders") > 0, where);
    assert.equal(full.tables[0]?.dataFilesRead, 19);
    assert.equal(full.pruningDisabled, "pruning is switched off");
  }
  // Deletes follow their data files: only day0+1's delete files are read for that day.
  const dayOne = await queryRows(catalog, "SELECT count(*) FROM shop.orders WHERE day = '2024-01-02'");
  assert.deepEqual(dayOne.rows, [[String(expected((r) => r.day === day0 + 1).length)]]);
  assert.equal(dayOne.tables[0]?.deleteFilesRead, 1);
  assert.equal(dayOne.tables[0]?.filter, 'day = "2024-01-02"');
});

test("query pruning never changes a result: outer joins, OR across tables, references it cannot see through", async (t) => {
  const { catalog } = await prunedFixture(t);
  const same = async (sql: string) => {
    const pruned = await queryRows(catalog, sql);
    const full = await queryRows(catalog, sql, { pruning: false });
    assert.deepEqual(pruned.rows, full.rows, sql);
    return pruned;
  };

  // WHERE c.status IS NULL keeps orders without a customer AND orders whose customer has no tier: pruning
  // customers by `status IS NULL` would turn ids 2-5 into "no customer" rows. Not pruned.
  const leftIsNull = await same(
    "SELECT o.id, c.status FROM shop.orders o LEFT JOIN crm.customers c ON c.id = o.id " +
      "WHERE c.status IS NULL AND o.id <= 12 ORDER BY o.id",
  );
  assert.deepEqual(leftIsNull.rows, [
    ["7", null],
    ["9", null],
    ["11", null],
    ["12", null],
  ]);
  assert.equal(skipped(leftIsNull.tables, "crm.customers"), 0);
  assert.equal(leftIsNull.tables.find((p) => p.table === "crm.customers")?.filter, undefined);

  // A null-rejecting predicate on the nullable side prunes (the WHERE removes null-extended rows anyway).
  const leftGold = await same(
    "SELECT o.id, c.status FROM shop.orders o LEFT JOIN crm.customers c ON c.id = o.id " +
      "WHERE c.id >= 6 ORDER BY o.id",
  );
  assert.deepEqual(leftGold.rows, [
    ["6", "bronze"],
    ["7", null],
    ["9", null],
    ["10", "bronze"],
  ]);
  assert.equal(skipped(leftGold.tables, "crm.customers"), 1);

  // OR across two tables prunes neither.
  const across = await same(
    "SELECT o.id FROM shop.orders o JOIN crm.customers c ON c.id = o.id " +
      "WHERE o.day = '2024-01-02' OR c.status = 'gold' ORDER BY o.id",
  );
  assert.deepEqual(across.rows, [["3"], ["5"], ["7"]]);
  assert.equal(skipped(across.tables, "shop.orders") + skipped(across.tables, "crm.customers"), 0);

  // The same table twice: one reference without a filter keeps every file.
  const twice = await same(
    "SELECT count(*) FROM shop.orders a JOIN shop.orders b ON b.id = a.id + 1 WHERE a.day = '2024-01-02'",
  );
  assert.equal(skipped(twice.tables, "shop.orders"), 0);
  // Filters on each reference are ORed.
  const union = await same(
    "SELECT id FROM shop.orders WHERE day = '2024-01-02' UNION ALL SELECT id FROM shop.orders WHERE day IS NULL ORDER BY 1",
  );
  assert.equal(union.tables[0]?.dataFilesRead, 4);
  // A CTE named like the table, and a table function, are not the table's WHERE.
  await same(
    "WITH orders AS (SELECT * FROM shop.orders WHERE day = '2024-01-03') SELECT count(*) FROM orders WHERE id < 40",
  );
  const fn = await same("SELECT count(*) FROM query_table('shop.orders') WHERE day = '2024-01-02'");
  assert.match(fn.pruningDisabled ?? "", /TABLE_FUNCTION/);
});

test("query pruning: literals with quotes and odd identifiers are values, not SQL", async (t) => {
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["shop"]);
  const schema = new Schema(0, [
    { id: 1, name: "id", required: true, type: { kind: "long" } },
    { id: 2, name: 'we"ird; col', required: false, type: { kind: "string" } },
  ]);
  let table = await catalog.createTable({ namespace: ["shop"], name: "odd" }, { schema });
  const nasty = "x'); DROP VIEW shop.odd; SELECT ('";
  table = await appendRows(catalog, table, [{ id: 1n, 'we"ird; col': nasty }]);
  table = await appendRows(catalog, table, [{ id: 2n, 'we"ird; col': "plain" }]);
  const literal = nasty.replaceAll("'", "''");
  const sql = `SELECT id, "we""ird; col" FROM shop.odd WHERE "we""ird; col" = '${literal}'`;
  const result = await queryRows(catalog, sql);
  assert.deepEqual(result.rows, [["1", nasty]]);
  assert.equal(result.tables[0]?.dataFilesRead, 1);
  assert.equal(result.tables[0]?.filter, `we"ird; col = ${JSON.stringify(nasty)}`);
  // The view is still there and whole: the literal never reached a statement of its own.
  assert.deepEqual((await queryRows(catalog, "SELECT count(*) FROM shop.odd")).rows, [["2"]]);
});

test("floe query --stats prints each table's planning; --no-pruning reads every file", async (t) => {
  const { catalog } = await prunedFixture(t);
  let stdout = "";
  let stderr = "";
  const deps = {
    openCatalog: async () => catalog,
    stdout: { write: (text: string) => (stdout += text) } as unknown as NodeJS.WritableStream,
    stderr: { write: (text: string) => (stderr += text) } as unknown as NodeJS.WritableStream,
  };
  const run = (...flags: string[]) =>
    queryCommand(deps)
      .exitOverride()
      .parseAsync(
        [
          "SELECT count(*) AS n FROM shop.orders WHERE day = '2024-01-02'",
          "--bucket",
          "lake",
          "--format",
          "csv",
          ...flags,
        ],
        { from: "user" },
      );
  await run("--stats");
  assert.equal(stdout, "n\n12\n");
  const stats = JSON.parse(stderr.trim()) as Record<string, unknown>;
  assert.equal(stats.table, "shop.orders");
  assert.equal(stats.filter, 'day = "2024-01-02"');
  assert.equal(stats.dataFilesRead, 3);
  // The null day's file has a manifest of its own, skipped whole by its partition summary.
  assert.deepEqual(stats.metrics, {
    manifests: 5,
    manifestsSkipped: 1,
    dataFiles: 18,
    dataFilesSkippedByPartition: 15,
    dataFilesSkippedByMetrics: 0,
    deleteFiles: 3,
    deleteFilesSkippedByPartition: 2,
  });
  stdout = "";
  stderr = "";
  await run("--stats", "--no-pruning");
  assert.equal(stdout, "n\n12\n");
  assert.equal((JSON.parse(stderr.trim()) as Record<string, unknown>).dataFilesRead, 19);
});

test("query pruning keeps DuckDB's float semantics: NaN sorts above every number", async (t) => {
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["shop"]);
  const schema = new Schema(0, [
    { id: 1, name: "id", required: true, type: { kind: "long" } },
    { id: 2, name: "price", required: false, type: { kind: "double" } },
  ]);
  let table = await catalog.createTable({ namespace: ["shop"], name: "prices" }, { schema });
  table = await appendRows(catalog, table, [
    { id: 1n, price: 1 },
    { id: 2n, price: Number.NaN },
    { id: 3n, price: -0 },
  ]);
  table = await appendRows(catalog, table, [
    { id: 4n, price: 10 },
    { id: 5n, price: 20 },
  ]);
  const ids = async (where: string) => {
    const result = await queryRows(catalog, `SELECT id FROM shop.prices WHERE ${where} ORDER BY id`);
    return { ids: result.rows.map((r) => Number(r[0])), read: result.tables[0]?.dataFilesRead };
  };
  // Iceberg bounds leave NaN out (the first file's upper bound is 1), DuckDB returns it for `>`.
  assert.deepEqual(await ids("price > 5"), { ids: [2, 4, 5], read: 2 });
  assert.deepEqual(await ids("price >= 5"), { ids: [2, 4, 5], read: 2 });
  // -0 = 0 in DuckDB; Iceberg orders -0 below 0.
  assert.deepEqual(await ids("price = 0"), { ids: [3], read: 2 });
  assert.deepEqual(await ids("price <= 0"), { ids: [3], read: 2 });
  // What floats do prune: < and = with non-zero literals.
  assert.deepEqual(await ids("price < 5"), { ids: [1, 3], read: 1 });
  assert.deepEqual(await ids("price = 20"), { ids: [5], read: 1 });
});
