import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IcebergError } from "../../src/iceberg/errors.ts";
import {
  and,
  type BoundExpression,
  bind,
  equal,
  evaluate,
  greaterThanOrEqual,
  isIn,
  isNan,
  isNull,
  lessThan,
  not,
  notIn,
  or,
  rewriteNot,
  startsWith,
  toDuckDbSql,
} from "../../src/iceberg/expressions.ts";
import { Schema } from "../../src/iceberg/schema.ts";

const schema = new Schema(0, [
  { id: 1, name: "id", required: true, type: { kind: "long" } },
  { id: 2, name: 'na"me', required: false, type: { kind: "string" } },
  { id: 3, name: "day", required: false, type: { kind: "date" } },
  { id: 4, name: "ts", required: false, type: { kind: "timestamptz" } },
  { id: 5, name: "price", required: false, type: { kind: "decimal", precision: 9, scale: 2 } },
  { id: 6, name: "score", required: false, type: { kind: "double" } },
  {
    id: 7,
    name: "address",
    required: false,
    type: { kind: "struct", fields: [{ id: 8, name: "city", required: false, type: { kind: "string" } }] },
  },
  {
    id: 9,
    name: "tags",
    required: false,
    type: { kind: "list", elementId: 10, elementRequired: false, element: { kind: "string" } },
  },
]);

describe("bind", () => {
  it("resolves names to field ids and converts literals to the column type", () => {
    const bound = bind(
      and(equal("id", 5), equal("day", "2024-01-02"), equal("ts", "2024-01-01T00:00:01+01:00")),
      schema,
    );
    assert.equal(bound.op, "and");
    const leaves: unknown[] = [];
    const walk = (e: BoundExpression) => {
      if (e.op === "and") {
        walk(e.left);
        walk(e.right);
      } else if ("value" in e) leaves.push([e.ref.fieldId, e.value]);
    };
    walk(bound);
    assert.deepEqual(leaves, [
      [1, 5n],
      [3, 19724],
      [4, -3_599_000_000n + 1_704_067_200_000_000n],
    ]);
    const price = bind(equal("price", "12.5"), schema);
    assert.equal(price.op === "eq" && price.value, 1250n);
    const nested = bind(equal("address.city", "Paris"), schema);
    assert.equal(nested.op === "eq" && nested.ref.fieldId, 8);
  });

  it("names an unknown column", () => {
    assert.throws(
      () => bind(equal("nope", 1), schema),
      (error: unknown) =>
        error instanceof IcebergError && error.code === "DATA_INVALID" && /'nope'/.test(error.message),
    );
    assert.equal(bind(equal("ID", 1), schema, { caseSensitive: false }).op, "eq");
  });

  it("rejects literals and operators the column cannot take", () => {
    assert.throws(() => bind(equal("id", "x"), schema), /'id'/);
    assert.throws(() => bind(equal("price", "1.234"), schema), /price/);
    assert.throws(() => bind(startsWith("id", "1"), schema), /string column/);
    assert.throws(() => bind(isNan("id"), schema), /float or double/);
    assert.throws(() => bind(equal("tags.element", "x"), schema), /inside a list/);
  });
});

describe("toDuckDbSql", () => {
  it("quotes identifiers and escapes literals", () => {
    const sql = toDuckDbSql(
      bind(or(equal('na"me', "it's'; DROP TABLE x; --"), isNull("address.city")), schema),
    );
    assert.equal(sql, `(("na""me" = 'it''s''; DROP TABLE x; --') OR ("address"."city" IS NULL))`);
  });

  it("renders typed literals", () => {
    const sql = toDuckDbSql(
      bind(
        and(greaterThanOrEqual("day", "2024-01-02"), isIn("price", ["1.50", "2"]), lessThan("ts", 0n)),
        schema,
      ),
    );
    assert.equal(
      sql,
      "(((\"day\" >= CAST('2024-01-02' AS DATE)) AND (\"price\" IN (CAST('1.50' AS DECIMAL(9,2)), CAST('2.00' AS DECIMAL(9,2))))) AND (\"ts\" < CAST('1970-01-01T00:00:00.000000+00:00' AS TIMESTAMPTZ)))",
    );
    assert.equal(toDuckDbSql(bind(notIn("id", []), schema)), '("id" IS NOT NULL)');
  });
});

describe("evaluate and rewriteNot", () => {
  const values = new Map<number, unknown>([
    [1, 5n],
    [2, null],
    [6, Number.NaN],
  ]);
  const valueOfField = (id: number) => (values.get(id) ?? null) as never;

  it("uses SQL null semantics", () => {
    assert.equal(evaluate(bind(equal("id", 5), schema), valueOfField), true);
    assert.equal(evaluate(bind(equal('na"me', "x"), schema), valueOfField), false);
    assert.equal(evaluate(bind(not(equal('na"me', "x")), schema), valueOfField), true);
    assert.equal(evaluate(bind(isNan("score"), schema), valueOfField), true);
    assert.equal(evaluate(bind(isIn("id", [1, 5]), schema), valueOfField), true);
  });

  it("pushes not down to the predicates", () => {
    const rewritten = rewriteNot(bind(not(and(lessThan("id", 3), isNull('na"me'))), schema));
    assert.equal(rewritten.op, "or");
    if (rewritten.op !== "or") return;
    assert.equal(rewritten.left.op, "gtEq");
    assert.equal(rewritten.right.op, "notNull");
  });
});
