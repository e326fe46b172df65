import assert from "node:assert/strict";
import { test } from "node:test";
import { DumpError } from "../../src/dump/errors.ts";
import { MAX_WHERE_DEPTH, parseWhere } from "../../src/dump/where.ts";
import { bind, toDuckDbSql } from "../../src/iceberg/expressions.ts";
import { Schema } from "../../src/iceberg/schema.ts";

const schema = new Schema(0, [
  { id: 1, name: "id", required: true, type: { kind: "long" } },
  { id: 2, name: "status", required: false, type: { kind: "string" } },
  { id: 3, name: "amount", required: false, type: { kind: "decimal", precision: 20, scale: 4 } },
  { id: 4, name: "day", required: false, type: { kind: "date" } },
  { id: 5, name: "odd name", required: false, type: { kind: "double" } },
]);

const sql = (text: string) => toDuckDbSql(bind(parseWhere(text, { schema }), schema));

function rejects(text: string, pattern?: RegExp) {
  assert.throws(
    () => parseWhere(text, { schema }),
    (error: unknown) => {
      assert.ok(error instanceof DumpError, `${text}: ${error}`);
      assert.equal(error.code, "INVALID_FILTER");
      if (pattern) assert.match(error.message, pattern);
      return true;
    },
  );
}

test("comparisons, boolean logic and precedence", () => {
  assert.deepEqual(parseWhere("id = 1"), { op: "eq", column: "id", value: 1n });
  assert.deepEqual(parseWhere("a = 1 or b = 2 and c = 3"), {
    op: "or",
    left: { op: "eq", column: "a", value: 1n },
    right: {
      op: "and",
      left: { op: "eq", column: "b", value: 2n },
      right: { op: "eq", column: "c", value: 3n },
    },
  });
  assert.deepEqual(parseWhere("(a = 1 OR b = 2) AND NOT c <> 'x'"), {
    op: "and",
    left: {
      op: "or",
      left: { op: "eq", column: "a", value: 1n },
      right: { op: "eq", column: "b", value: 2n },
    },
    right: { op: "not", child: { op: "notEq", column: "c", value: "x" } },
  });
  for (const [op, name] of [
    ["<", "lt"],
    ["<=", "ltEq"],
    [">", "gt"],
    [">=", "gtEq"],
    ["!=", "notEq"],
    ["==", "eq"],
  ]) {
    assert.deepEqual(parseWhere(`x ${op} -2.5`), { op: name, column: "x", value: -2.5 });
  }
  // literal on the left flips the operator
  assert.deepEqual(parseWhere("10 < id"), { op: "gt", column: "id", value: 10n });
});

test("is null, is nan, in, starts with, booleans, quoted and dotted names", () => {
  assert.deepEqual(parseWhere("status is null"), { op: "isNull", column: "status" });
  assert.deepEqual(parseWhere("status IS NOT NULL"), { op: "notNull", column: "status" });
  assert.deepEqual(parseWhere("x is nan"), { op: "isNan", column: "x" });
  assert.deepEqual(parseWhere("id in (1, 2,3)"), { op: "in", column: "id", values: [1n, 2n, 3n] });
  assert.deepEqual(parseWhere("status not in ('a')"), { op: "notIn", column: "status", values: ["a"] });
  assert.deepEqual(parseWhere("status starts with 'pa'"), {
    op: "startsWith",
    column: "status",
    value: "pa",
  });
  assert.deepEqual(parseWhere("status not starts with 'pa'"), {
    op: "notStartsWith",
    column: "status",
    value: "pa",
  });
  assert.deepEqual(parseWhere("flag = true"), { op: "eq", column: "flag", value: true });
  assert.deepEqual(parseWhere('"odd name" >= 1e3'), { op: "gtEq", column: "odd name", value: 1000 });
  assert.deepEqual(parseWhere('"say ""hi""" = 1'), { op: "eq", column: 'say "hi"', value: 1n });
  assert.deepEqual(parseWhere("address.city = 'Oslo'"), { op: "eq", column: "address.city", value: "Oslo" });
  assert.deepEqual(parseWhere("status = 'it''s'"), { op: "eq", column: "status", value: "it's" });
});

test("literals take the column's type: exact decimals and longs, dates from strings", () => {
  assert.deepEqual(parseWhere("amount = 12345678901234.1234", { schema }), {
    op: "eq",
    column: "amount",
    value: "12345678901234.1234",
  });
  assert.equal(
    sql("amount = 12345678901234.1234"),
    "(\"amount\" = CAST('12345678901234.1234' AS DECIMAL(20,4)))",
  );
  assert.equal(sql("id > 9007199254740993"), "(\"id\" > CAST('9007199254740993' AS BIGINT))");
  assert.equal(sql("day >= '2024-01-31'"), "(\"day\" >= CAST('2024-01-31' AS DATE))");
});

test("injection attempts are refused or end up as quoted literals", () => {
  rejects("id = 1; drop table t", /unexpected character ";"/);
  rejects("id = 1 -- comment");
  rejects("id = 1 /* x */");
  rejects("id = 1) or (1 = 1");
  rejects("id = (select 1)");
  rejects("status = 'unterminated", /unterminated string/);
  rejects("read_csv('/etc/passwd') = 1");
  rejects("id = 1 union select 2");
  rejects("1 = 1");
  // A quote inside a string stays inside the literal, and reaches SQL doubled.
  assert.equal(sql("status = 'x'' or 1=1 --'"), "(\"status\" = 'x'' or 1=1 --')");
  // A quoted name is an identifier, never SQL: it must exist in the schema, and is quoted in SQL.
  assert.throws(() => bind(parseWhere('"id"" = 1 or ""x" = 1'), schema), /not in schema/);
  rejects("status = 'a\0b'", /NUL/);
});

test("malformed filters name what was expected and where", () => {
  rejects("", /empty filter/);
  rejects("id =", /expected a literal/);
  rejects("id = null", /IS NULL/);
  rejects("id in ()", /expected a literal/);
  rejects("id in (1 2)", /expected ',' or '\)'/);
  rejects("id is 3", /NULL or NAN/);
  rejects("id between 1 and 2", /expected a comparison/);
  rejects("and = 1", /column name/);
  rejects(`${"(".repeat(MAX_WHERE_DEPTH + 2)}id = 1${")".repeat(MAX_WHERE_DEPTH + 2)}`, /nesting/);
  rejects("x".repeat(20_000));
});
