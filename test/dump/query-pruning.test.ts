// query-pruning.ts on its own: the filter each table gets from a statement parsed by DuckDB, for what must
// prune (comparisons, IN, BETWEEN, IS [NOT] NULL, AND, OR within one table, outer joins' preserved side and
// null-rejecting predicates on the nullable side) and everything that must not (OR across tables, IS NULL
// on a nullable side, ON clauses, functions, unsafe literals, CTE shadowing, table functions...).
import assert from "node:assert/strict";
import { test } from "node:test";
import { derivePruningFilters, describeFilter, parseSelect } from "../../src/dump/query-pruning.ts";
import { withDuckDb } from "../../src/iceberg/duckdb.ts";
import { bind, type Expression } from "../../src/iceberg/expressions.ts";
import { Schema } from "../../src/iceberg/schema.ts";
import { primitive } from "../../src/iceberg/types.ts";

const orders = new Schema(
  0,
  [
    { id: 1, name: "id", required: true, type: primitive("long") },
    { id: 2, name: "status", required: false, type: primitive("string") },
    { id: 3, name: "day", required: false, type: primitive("date") },
    { id: 4, name: "price", required: false, type: primitive("double") },
    { id: 5, name: "ts", required: false, type: primitive("timestamp") },
    { id: 6, name: "tz", required: false, type: primitive("timestamptz") },
    { id: 7, name: "amount", required: false, type: { kind: "decimal", precision: 10, scale: 2 } },
    { id: 8, name: "flag", required: false, type: primitive("boolean") },
    { id: 9, name: "qty", required: false, type: primitive("int") },
    { id: 10, name: 'we"ird col', required: false, type: primitive("string") },
  ],
  [1],
);
const customers = new Schema(
  0,
  [
    { id: 1, name: "id", required: true, type: primitive("long") },
    { id: 2, name: "tier", required: false, type: primitive("string") },
    { id: 3, name: "since", required: false, type: primitive("date") },
  ],
  [1],
);
const tables = [
  { schema: "shop", name: "orders", scanSchema: orders },
  { schema: "crm", name: "customers", scanSchema: customers },
];

/** The filters of `sql` as readable text: [orders, customers]; "-" for no pruning. */
async function derive(sql: string, defaultSchema?: string): Promise<string[]> {
  const analysis = await withDuckDb(async (connection) => {
    const parsed = await parseSelect(connection, sql);
    if ("disabled" in parsed) return { filters: tables.map(() => undefined), disabled: parsed.disabled };
    return derivePruningFilters(parsed.tree, tables, { defaultSchema });
  });
  return analysis.filters.map((f) => (f === undefined ? "-" : describeFilter(f)));
}

async function filterOf(sql: string): Promise<Expression | undefined> {
  return withDuckDb(async (connection) => {
    const parsed = await parseSelect(connection, sql);
    assert.ok(!("disabled" in parsed), sql);
    return derivePruningFilters(parsed.tree, tables).filters[0];
  });
}

test("comparisons, IN, BETWEEN, IS [NOT] NULL and AND/OR on one table become its filter", async () => {
  const cases: [string, string[]][] = [
    [
      "SELECT * FROM shop.orders WHERE status = 'paid' AND day >= '2024-01-02'",
      ['(status = "paid" and day >= "2024-01-02")', "-"],
    ],
    ["SELECT id FROM shop.orders o WHERE 5 < o.id", ["id > 5", "-"]],
    ["SELECT 1 FROM shop.orders WHERE id IN (1, 2, 3)", ["id in [1, 2, 3]", "-"]],
    ["SELECT 1 FROM shop.orders WHERE id NOT IN (1, 2)", ["id notIn [1, 2]", "-"]],
    ["SELECT 1 FROM shop.orders WHERE id BETWEEN 10 AND 20", ["(id >= 10 and id <= 20)", "-"]],
    ["SELECT 1 FROM shop.orders WHERE status IS NULL", ["status isNull", "-"]],
    ["SELECT 1 FROM shop.orders WHERE status IS NOT NULL", ["status notNull", "-"]],
    [
      "SELECT 1 FROM shop.orders WHERE (status = 'a' AND id > 1) OR status = 'b'",
      ['((status = "a" and id > 1) or status = "b")', "-"],
    ],
    // Conjuncts it does not understand are dropped; the rest still prune.
    ["SELECT 1 FROM shop.orders WHERE lower(status) = 'a' AND id < 100 AND id + 1 = 3", ["id < 100", "-"]],
    // Bare names resolve in the one namespace in scope.
    ["SELECT 1 FROM orders WHERE id = 7", ["id = 7", "-"]],
    [
      "SELECT 1 FROM shop.orders, crm.customers WHERE tier = 'gold' AND status = 'x'",
      ['status = "x"', 'tier = "gold"'],
    ],
  ];
  for (const [sql, expected] of cases) {
    assert.deepEqual(await derive(sql, sql.includes("FROM orders") ? "shop" : undefined), expected, sql);
  }
});

test("literals are taken only where DuckDB compares them in the column's type", async () => {
  const cases: [string, string][] = [
    ["id = 9007199254740993", "id = 9007199254740993"],
    ["id = 1.5", "-"],
    ["id = '7'", "-"],
    ["qty < 2147483648", "-"],
    ["amount >= 12.5", 'amount >= "12.5"'],
    ["amount = 3", "amount = 3"],
    ["amount = 0.125", "-"],
    ["price < 10.5", "price < 10.5"],
    ["price <= 3", "price <= 3"],
    // DuckDB sorts NaN above every number: > and >= on floats would skip NaN rows it returns.
    ["price > 1", "-"],
    ["price >= 1", "-"],
    ["price = 0", "-"],
    ["price < 0.1", "-"],
    ["day = DATE '2024-02-29'", 'day = "2024-02-29"'],
    ["day = '2024-02-30'", "-"],
    ["day = '2024-1-1'", "-"],
    ["day < TIMESTAMP '2024-01-01 10:00:00'", "-"],
    ["ts >= '2024-01-01 10:00'", "ts >= 1704103200000000"],
    ["ts >= '2024-01-01'", "ts >= 1704067200000000"],
    ["ts >= '2024-01-01 10:00:00+02'", "-"],
    ["tz >= '2024-01-01 12:00:00+02'", "tz >= 1704103200000000"],
    ["tz >= TIMESTAMPTZ '2024-01-01 10:00:00'", "tz >= 1704103200000000"],
    ["tz >= '2024-01-01 10:00:00 Europe/Paris'", "-"],
    ["flag = TRUE", "flag = true"],
    ["flag <> TRUE", "-"],
    ["status = 1", "-"],
    ["status = NULL", "-"],
    ["status = CAST(id AS VARCHAR)", "-"],
    ["status = $1", "-"],
  ];
  for (const [where, expected] of cases) {
    const [filter] = await derive(`SELECT 1 FROM shop.orders WHERE ${where}`);
    assert.equal(filter, expected, where);
  }
});

test("outer joins: the preserved side takes any predicate, the nullable side only null-rejecting ones", async () => {
  const join = "SELECT 1 FROM shop.orders o LEFT JOIN crm.customers c ON c.id = o.id";
  const cases: [string, string[]][] = [
    [`${join} WHERE c.tier = 'gold'`, ["-", 'tier = "gold"']],
    [`${join} WHERE c.tier IS NULL`, ["-", "-"]],
    [`${join} WHERE c.tier IS NOT NULL AND o.status IS NULL`, ["status isNull", "tier notNull"]],
    [`${join} WHERE c.tier IS NULL OR c.tier = 'x'`, ["-", "-"]],
    [`${join} WHERE (c.tier IS NULL AND c.since > '2024-01-01')`, ["-", 'since > "2024-01-01"']],
    // ON clauses never prune.
    ["SELECT 1 FROM shop.orders o JOIN crm.customers c ON c.id = o.id AND c.tier = 'x'", ["-", "-"]],
    [
      "SELECT 1 FROM shop.orders o RIGHT JOIN crm.customers c ON c.id = o.id WHERE o.status IS NULL AND c.tier IS NULL",
      ["-", "tier isNull"],
    ],
    [
      "SELECT 1 FROM shop.orders o FULL JOIN crm.customers c ON c.id = o.id WHERE o.status = 'a' AND c.tier IS NULL",
      ['status = "a"', "-"],
    ],
    // An inner join on the nullable side of a left join is nullable too.
    [
      "SELECT 1 FROM crm.customers c LEFT JOIN (shop.orders o JOIN (SELECT 1 AS k) s ON true) ON o.id = c.id WHERE o.status IS NULL",
      ["-", "-"],
    ],
    [
      "SELECT 1 FROM crm.customers c LEFT JOIN (shop.orders o JOIN (SELECT 1 AS k) s ON true) ON o.id = c.id WHERE o.status = 'a'",
      ['status = "a"', "-"],
    ],
  ];
  for (const [sql, expected] of cases) assert.deepEqual(await derive(sql), expected, sql);
});

test("what must not prune: OR across tables, ambiguity, CTE shadowing, positional joins, samples, table functions", async () => {
  const none = ["-", "-"];
  const cases: [string, string[], string?][] = [
    ["SELECT 1 FROM shop.orders o, crm.customers c WHERE o.status = 'a' OR c.tier = 'b'", none],
    // `id` is in both tables: ambiguous for this analysis.
    ["SELECT 1 FROM shop.orders o JOIN crm.customers c USING (id) WHERE id = 3", none],
    ["SELECT 1 FROM shop.orders o, (SELECT 1 AS k) s WHERE status = 'a'", none],
    ["SELECT 1 FROM shop.orders o, (SELECT 1 AS k) s WHERE o.status = 'a'", ['status = "a"', "-"]],
    ["WITH orders AS (SELECT * FROM crm.customers) SELECT 1 FROM orders WHERE id = 1", none, "shop"],
    // Column aliases rename by position: o.qty is the id column here.
    ["SELECT 1 FROM shop.orders o(qty, x) WHERE o.qty = 5", none],
    ["SELECT 1 FROM shop.orders POSITIONAL JOIN crm.customers WHERE status = 'a'", none],
    ["SELECT 1 FROM shop.orders o ASOF JOIN crm.customers c ON o.id >= c.id WHERE o.status = 'a'", none],
    ["SELECT 1 FROM shop.orders USING SAMPLE 5 ROWS WHERE status = 'a'", none],
    ["SELECT 1 FROM shop.orders TABLESAMPLE 5 ROWS WHERE status = 'a'", none],
    ["SELECT * FROM query_table('shop.orders') WHERE status = 'a'", none],
    ["SELECT * FROM shop.orders WHERE status = 'a' UNION ALL SELECT * FROM floe_table_0", none],
    ["EXPLAIN SELECT * FROM shop.orders WHERE status = 'a'", none],
    ["DESCRIBE shop.orders", none],
    // Several references: the OR of their filters, none if one reference reads everything.
    [
      "SELECT 1 FROM shop.orders WHERE status = 'a' UNION ALL SELECT 1 FROM shop.orders WHERE id = 2",
      ['(status = "a" or id = 2)', "-"],
    ],
    ["SELECT 1 FROM shop.orders WHERE status = 'a' UNION ALL SELECT 1 FROM shop.orders", none],
    ["SELECT 1 FROM shop.orders a JOIN shop.orders b ON a.id = b.id WHERE a.status = 'x'", none],
    // A subquery's own WHERE prunes its table; a correlated reference to the outer table does not.
    [
      "SELECT 1 FROM shop.orders o WHERE EXISTS (SELECT 1 FROM crm.customers c WHERE c.tier = 'g' AND o.status = 'x')",
      ["-", 'tier = "g"'],
    ],
    // A reference by our table's name that cannot be placed keeps the table whole for every reference.
    ["SELECT 1 FROM crm.orders WHERE id = 1", none],
    ["SELECT 1 FROM shop.orders WHERE id = 1 UNION ALL SELECT 1 FROM memory.orders", none],
    ["SELECT 1 FROM shop.orders WHERE id = 1 UNION ALL SELECT 1 FROM orders", none],
    ["SELECT 1 FROM shop.orders WHERE id = 1 UNION ALL SELECT 1 FROM other.thing", ["id = 1", "-"]],
  ];
  for (const [sql, expected, defaultSchema] of cases) {
    assert.deepEqual(await derive(sql, defaultSchema), expected, sql);
  }
});

test("literals and identifiers reach the filter as values, never as SQL text", async () => {
  const nasty = "x'); DROP VIEW shop.orders; SELECT ('";
  const filter = await filterOf(
    `SELECT * FROM shop.orders WHERE status = '${nasty.replaceAll("'", "''")}' AND "we""ird col" IN ('a"b', '--')`,
  );
  assert.deepEqual(filter, {
    op: "and",
    left: { op: "eq", column: "status", value: nasty },
    right: { op: "in", column: 'we"ird col', values: ['a"b', "--"] },
  });
  // The filter binds to the schema by name and value: it is data for the planner, not SQL.
  assert.doesNotThrow(() => bind(filter!, orders));
});

test("decimal literals accepted for double columns are the exact doubles DuckDB compares with", async () => {
  for (const text of ["10.5", "0.25", "-1234.125", "7.0", "1e3"]) {
    const filter = await filterOf(`SELECT * FROM shop.orders WHERE price < ${text}`);
    const value = filter && "value" in filter ? filter.value : undefined;
    const duckdb = await withDuckDb(async (c) =>
      Number((await c.runAndReadAll(`SELECT CAST(${text} AS DOUBLE)`)).getRows()[0]![0]),
    );
    if (text === "1e3") assert.equal(filter, undefined, "DOUBLE literals are not taken");
    else assert.equal(value, duckdb, text);
  }
});
