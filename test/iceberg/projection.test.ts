// Inclusive projection through each transform, the manifest summary evaluator and the metrics evaluator.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { toBinary } from "../../src/iceberg/conversions.ts";
import { type DataFile, DataFileContent } from "../../src/iceberg/data-file.ts";
import {
  type BoundExpression,
  bind,
  type Expression,
  equal,
  evaluate,
  greaterThan,
  isIn,
  isNull,
  lessThan,
  notEqual,
  notNull,
  startsWith,
} from "../../src/iceberg/expressions.ts";
import { fileMightMatch } from "../../src/iceberg/metrics-evaluator.ts";
import type { PartitionSpec } from "../../src/iceberg/partitioning.ts";
import { manifestMightMatch, projectInclusive } from "../../src/iceberg/projection.ts";
import { Schema } from "../../src/iceberg/schema.ts";
import {
  applyTransform,
  bucket,
  day,
  hour,
  identity,
  month,
  truncate,
} from "../../src/iceberg/transforms.ts";

const schema = new Schema(0, [
  { id: 1, name: "id", required: false, type: { kind: "long" } },
  { id: 2, name: "name", required: false, type: { kind: "string" } },
  { id: 3, name: "ts", required: false, type: { kind: "timestamp" } },
]);

const spec: PartitionSpec = {
  specId: 1,
  fields: [
    { sourceId: 1, fieldId: 1000, name: "id_bucket", transform: bucket(8) },
    { sourceId: 2, fieldId: 1001, name: "name_trunc", transform: truncate(3) },
    { sourceId: 3, fieldId: 1002, name: "ts_day", transform: day },
    { sourceId: 3, fieldId: 1003, name: "ts_hour", transform: hour },
    { sourceId: 3, fieldId: 1004, name: "ts_month", transform: month },
    { sourceId: 1, fieldId: 1005, name: "id", transform: identity },
  ],
};

const project = (expr: Expression) => projectInclusive(bind(expr, schema), spec);

/** The partition tuple of a row, by partition field id. */
function partitionOf(row: { id: bigint | null; name: string | null; ts: bigint | null }) {
  const source: Record<number, bigint | string | null> = { 1: row.id, 2: row.name, 3: row.ts };
  const types = { 1: { kind: "long" }, 2: { kind: "string" }, 3: { kind: "timestamp" } } as const;
  const values = new Map(
    spec.fields.map((f) => [
      f.fieldId,
      applyTransform(f.transform, types[f.sourceId as 1 | 2 | 3], source[f.sourceId] ?? null),
    ]),
  );
  return (id: number) => values.get(id) ?? null;
}

const us = (iso: string) => BigInt(Date.parse(`${iso}Z`)) * 1000n;

describe("projectInclusive", () => {
  it("never drops a partition that holds a matching row", () => {
    const rows = [
      { id: 7n, name: "alpha", ts: us("2024-03-01T10:00:00") },
      { id: 8n, name: "alp", ts: us("2024-03-01T23:59:59") },
      { id: -3n, name: "beta", ts: us("2024-02-29T00:00:00") },
      { id: null, name: null, ts: null },
    ];
    const filters: Expression[] = [
      equal("id", 7),
      isIn("id", [8, -3]),
      lessThan("ts", "2024-03-01T00:00:00"),
      greaterThan("ts", "2024-03-01T10:00:00"),
      startsWith("name", "al"),
      startsWith("name", "alphabet"),
      lessThan("name", "b"),
      notEqual("id", 7),
      isNull("name"),
      notNull("ts"),
    ];
    for (const filter of filters) {
      const bound = bind(filter, schema);
      const projected = projectInclusive(bound, spec);
      for (const row of rows) {
        const rowValue = (id: number) => ({ 1: row.id, 2: row.name, 3: row.ts })[id as 1 | 2 | 3] ?? null;
        if (evaluate(bound, rowValue)) {
          assert.ok(evaluate(projected, partitionOf(row)), `${JSON.stringify(filter)} keeps ${row.name}`);
        }
      }
    }
  });

  it("uses the transforms that can answer the predicate", () => {
    const eq = project(equal("id", 7));
    // bucket and identity answer equality: both appear.
    assert.equal(eq.op, "and");
    const prunes = (expr: BoundExpression, row: Parameters<typeof partitionOf>[0]) =>
      !evaluate(expr, partitionOf(row));
    assert.ok(prunes(eq, { id: 9n, name: null, ts: null }));
    assert.ok(
      prunes(project(lessThan("ts", "2024-03-01T00:00:00")), {
        id: 1n,
        name: null,
        ts: us("2024-03-01T00:00:00"),
      }),
    );
    assert.ok(prunes(project(startsWith("name", "alphabet")), { id: 1n, name: "alz", ts: null }));
    assert.deepEqual(project(notEqual("name", "x")), { op: "true" });
  });
});

describe("manifestMightMatch", () => {
  const identitySpec: PartitionSpec = {
    specId: 0,
    fields: [{ sourceId: 2, fieldId: 1000, name: "name", transform: identity }],
  };
  const summary = (lower: string | null, upper: string | null, containsNull: boolean) => [
    {
      containsNull,
      containsNan: false,
      lowerBound: lower === null ? null : toBinary({ kind: "string" }, lower),
      upperBound: upper === null ? null : toBinary({ kind: "string" }, upper),
    },
  ];
  const filter = (expr: Expression) => projectInclusive(bind(expr, schema), identitySpec);

  it("compares the filter with the summary's bounds and null flag", () => {
    assert.equal(
      manifestMightMatch(filter(equal("name", "m")), identitySpec, summary("a", "k", false)),
      false,
    );
    assert.equal(
      manifestMightMatch(filter(equal("name", "c")), identitySpec, summary("a", "k", false)),
      true,
    );
    assert.equal(manifestMightMatch(filter(isNull("name")), identitySpec, summary("a", "k", false)), false);
    assert.equal(manifestMightMatch(filter(isNull("name")), identitySpec, summary(null, null, true)), true);
    assert.equal(manifestMightMatch(filter(notNull("name")), identitySpec, summary(null, null, true)), false);
    assert.equal(
      manifestMightMatch(filter(startsWith("name", "l")), identitySpec, summary("a", "k", false)),
      false,
    );
    assert.equal(manifestMightMatch(filter(equal("name", "m")), identitySpec, null), true);
  });
});

describe("fileMightMatch", () => {
  const file: DataFile = {
    content: DataFileContent.DATA,
    filePath: "file:///t/f.parquet",
    fileFormat: "parquet",
    partition: {},
    recordCount: 4,
    fileSizeInBytes: 1,
    valueCounts: new Map([
      [1, 4],
      [2, 4],
    ]),
    nullValueCounts: new Map([
      [1, 0],
      [2, 4],
    ]),
    lowerBounds: new Map([[1, toBinary({ kind: "long" }, 10n)]]),
    upperBounds: new Map([[1, toBinary({ kind: "long" }, 20n)]]),
  };
  const matches = (expr: Expression) => fileMightMatch(bind(expr, schema), file);

  it("skips by bounds and null counts, keeps what it cannot refute", () => {
    assert.equal(matches(equal("id", 5)), false);
    assert.equal(matches(equal("id", 15)), true);
    assert.equal(matches(lessThan("id", 10)), false);
    assert.equal(matches(greaterThan("id", 19)), true);
    assert.equal(matches(isIn("id", [1, 25])), false);
    assert.equal(matches(isNull("id")), false);
    assert.equal(matches(notNull("name")), false);
    assert.equal(matches(equal("name", "x")), false);
    assert.equal(matches(notEqual("id", 15)), true);
    assert.equal(matches(equal("ts", 0n)), true); // no metrics for ts
  });
});
