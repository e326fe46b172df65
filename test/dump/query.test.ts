// runQuery / the query and dump commands over a local catalog: views per namespace.table with deletes
// applied, snapshot choice per table, read-only enforcement, and the three output formats.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import { dumpCommand, parseBucketTable, parseSize } from "../../src/cli/dump.ts";
import { queryCommand } from "../../src/cli/query.ts";
import { csvField, renderTable } from "../../src/dump/format.ts";
import { queryRows, runQuery } from "../../src/dump/query.ts";
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
