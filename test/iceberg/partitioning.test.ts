import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isoToTimestamp } from "../../src/iceberg/conversions.ts";
import { IcebergError } from "../../src/iceberg/errors.ts";
import {
  escapePathPart,
  evolvePartitionSpec,
  isUnpartitioned,
  type PartitionSpec,
  partitionKey,
  partitionPath,
  partitionSpecFromJson,
  partitionSpecToJson,
  partitionType,
  UNPARTITIONED_SPEC,
  validatePartitionSpec,
} from "../../src/iceberg/partitioning.ts";
import { Schema } from "../../src/iceberg/schema.ts";
import { bucket, parseTransform } from "../../src/iceberg/transforms.ts";
import { decimal, primitive } from "../../src/iceberg/types.ts";

const isCode = (code: string) => (error: unknown) => error instanceof IcebergError && error.code === code;

const schema = new Schema(0, [
  { id: 1, name: "id", required: true, type: primitive("long") },
  { id: 2, name: "name", required: false, type: primitive("string") },
  { id: 3, name: "price", required: false, type: decimal(9, 2) },
  { id: 4, name: "ts", required: false, type: primitive("timestamptz") },
  {
    id: 5,
    name: "address",
    required: false,
    type: { kind: "struct", fields: [{ id: 6, name: "city", required: false, type: primitive("string") }] },
  },
  {
    id: 7,
    name: "tags",
    required: false,
    type: { kind: "list", elementId: 8, elementRequired: true, element: primitive("string") },
  },
]);

// The spec's Appendix C example.
const specJson = {
  "spec-id": 0,
  fields: [
    { "source-id": 4, "field-id": 1000, name: "ts_day", transform: "day" },
    { "source-id": 1, "field-id": 1001, name: "id_bucket", transform: "bucket[16]" },
  ],
};

describe("partition spec JSON", () => {
  it("round-trips the spec's example", () => {
    const spec = partitionSpecFromJson(specJson);
    assert.deepEqual(spec.fields[1], {
      sourceId: 1,
      fieldId: 1001,
      name: "id_bucket",
      transform: bucket(16),
    });
    assert.deepEqual(partitionSpecToJson(spec), specJson);
  });

  it("assigns v1 field ids from 1000 and accepts a single source-ids entry", () => {
    const spec = partitionSpecFromJson({
      "spec-id": 1,
      fields: [
        { "source-id": 4, name: "ts_day", transform: "day" },
        { "source-ids": [1], name: "id_bucket", transform: "bucket[16]" },
      ],
    });
    assert.deepEqual(
      spec.fields.map((f) => [f.fieldId, f.sourceId]),
      [
        [1000, 4],
        [1001, 1],
      ],
    );
  });

  it("refuses multi-argument transforms and malformed fields", () => {
    assert.throws(
      () =>
        partitionSpecFromJson({
          "spec-id": 0,
          fields: [{ "source-ids": [1, 2], name: "x", transform: "zorder" }],
        }),
      isCode("FEATURE_UNSUPPORTED"),
    );
    assert.throws(() => partitionSpecFromJson({ fields: [] }), isCode("DATA_INVALID"));
    assert.throws(
      () => partitionSpecFromJson({ "spec-id": 0, fields: [{ "source-id": 1, name: "x" }] }),
      isCode("DATA_INVALID"),
    );
  });

  it("has an unpartitioned spec", () => {
    assert.deepEqual(partitionSpecToJson(UNPARTITIONED_SPEC), { "spec-id": 0, fields: [] });
    assert.equal(isUnpartitioned(UNPARTITIONED_SPEC), true);
    assert.equal(isUnpartitioned(partitionSpecFromJson(specJson)), false);
  });
});

describe("binding to a schema", () => {
  const spec = partitionSpecFromJson(specJson);

  it("derives the partition type", () => {
    assert.deepEqual(partitionType(spec, schema), {
      kind: "struct",
      fields: [
        { id: 1000, name: "ts_day", required: false, type: primitive("date") },
        { id: 1001, name: "id_bucket", required: false, type: primitive("int") },
      ],
    });
  });

  it("computes the partition key and path of a row", () => {
    const row = { id: 34n, ts: isoToTimestamp("2017-11-16T22:31:08+00:00", "us", true) };
    const key = partitionKey(spec, schema, row);
    assert.deepEqual(key, [17486, 3]);
    assert.equal(partitionPath(spec, schema, key), "ts_day=2017-11-16/id_bucket=3");
    assert.deepEqual(partitionKey(spec, schema, { id: 34n }), [null, 3]);
    assert.equal(partitionPath(spec, schema, [null, 3]), "ts_day=null/id_bucket=3");
  });

  it("reads nested sources and escapes paths like Java's URLEncoder", () => {
    const nested: PartitionSpec = {
      specId: 1,
      fields: [
        { sourceId: 6, fieldId: 1000, name: "address.city", transform: parseTransform("identity") },
        { sourceId: 3, fieldId: 1001, name: "price trunc", transform: parseTransform("truncate[50]") },
      ],
    };
    validatePartitionSpec(nested, schema);
    const key = partitionKey(nested, schema, { address: { city: "São Paulo/SP" }, price: 1065n });
    assert.deepEqual(key, ["São Paulo/SP", 1050n]);
    assert.equal(partitionPath(nested, schema, key), "address.city=S%C3%A3o+Paulo%2FSP/price+trunc=10.50");
    assert.deepEqual(partitionKey(nested, schema, { address: null }), [null, null]);
    assert.equal(escapePathPart("a*b-c_d.e~f!g(h)'"), "a*b-c_d.e%7Ef%21g%28h%29%27");
  });

  it("validates specs", () => {
    validatePartitionSpec(spec, schema);
    const bad = (fields: PartitionSpec["fields"]) => () =>
      validatePartitionSpec({ specId: 1, fields }, schema);
    const t = parseTransform;
    assert.throws(
      bad([{ sourceId: 99, fieldId: 1000, name: "x", transform: t("identity") }]),
      isCode("DATA_INVALID"),
    );
    assert.throws(
      bad([{ sourceId: 5, fieldId: 1000, name: "x", transform: t("identity") }]),
      /struct column/,
    );
    assert.throws(
      bad([{ sourceId: 8, fieldId: 1000, name: "x", transform: t("identity") }]),
      /inside a list/,
    );
    assert.throws(bad([{ sourceId: 2, fieldId: 1000, name: "x", transform: t("day") }]), /cannot be applied/);
    assert.throws(
      bad([{ sourceId: 2, fieldId: 1000, name: "id", transform: t("identity") }]),
      /name of column 'id'/,
    );
    assert.throws(
      bad([
        { sourceId: 1, fieldId: 1000, name: "x", transform: t("identity") },
        { sourceId: 2, fieldId: 1000, name: "y", transform: t("identity") },
      ]),
      /reuses partition field id 1000/,
    );
    // A void field may outlive its dropped source column.
    validatePartitionSpec(
      { specId: 1, fields: [{ sourceId: 99, fieldId: 1000, name: "x", transform: t("void") }] },
      schema,
    );
  });
});

describe("partition evolution", () => {
  const spec0 = partitionSpecFromJson(specJson);

  it("reuses ids for the same source and transform and numbers new fields above last-partition-id", () => {
    const result = evolvePartitionSpec({
      schema,
      specs: [spec0],
      lastPartitionId: 1001,
      fields: [
        { sourceId: 1, transform: bucket(16) },
        { sourceId: 2, transform: parseTransform("truncate[4]") },
        { sourceId: 4, transform: parseTransform("hour") },
      ],
    });
    assert.equal(result.isNew, true);
    assert.equal(result.lastPartitionId, 1003);
    assert.deepEqual(partitionSpecToJson(result.spec), {
      "spec-id": 1,
      fields: [
        { "source-id": 1, "field-id": 1001, name: "id_bucket", transform: "bucket[16]" },
        { "source-id": 2, "field-id": 1002, name: "name_trunc_4", transform: "truncate[4]" },
        { "source-id": 4, "field-id": 1003, name: "ts_hour", transform: "hour" },
      ],
    });
  });

  it("never reuses a dropped field's id for a different transform", () => {
    const dropped = evolvePartitionSpec({
      schema,
      specs: [spec0],
      lastPartitionId: 1001,
      fields: [{ sourceId: 1, transform: bucket(8) }],
    });
    assert.equal(dropped.spec.fields[0]!.fieldId, 1002);
    assert.equal(dropped.spec.fields[0]!.name, "id_bucket_8");
  });

  it("returns an existing equivalent spec instead of a new one", () => {
    const result = evolvePartitionSpec({
      schema,
      specs: [spec0, { specId: 1, fields: [] }],
      lastPartitionId: 1001,
      fields: [
        { sourceId: 4, transform: parseTransform("day") },
        { sourceId: 1, transform: bucket(16) },
      ],
    });
    assert.equal(result.isNew, false);
    assert.equal(result.spec, spec0);
    assert.equal(result.lastPartitionId, 1001);
  });

  it("starts at 1000 for the first partition field", () => {
    const result = evolvePartitionSpec({
      schema,
      specs: [UNPARTITIONED_SPEC],
      lastPartitionId: 999,
      fields: [{ sourceId: 2, transform: parseTransform("identity") }],
    });
    assert.deepEqual(result.spec.fields, [
      { sourceId: 2, fieldId: 1000, name: "name", transform: parseTransform("identity") },
    ]);
    assert.equal(result.spec.specId, 1);
  });

  it("refuses duplicates and invalid sources as incompatible changes", () => {
    const evolve = (fields: { sourceId: number; transform: ReturnType<typeof parseTransform> }[]) => () =>
      evolvePartitionSpec({ schema, specs: [spec0], lastPartitionId: 1001, fields });
    assert.throws(
      evolve([{ sourceId: 99, transform: parseTransform("identity") }]),
      isCode("INCOMPATIBLE_CHANGE"),
    );
    assert.throws(
      evolve([
        { sourceId: 1, transform: bucket(4) },
        { sourceId: 1, transform: bucket(4) },
      ]),
      isCode("INCOMPATIBLE_CHANGE"),
    );
    assert.throws(
      evolve([{ sourceId: 2, transform: parseTransform("year") }]),
      isCode("INCOMPATIBLE_CHANGE"),
    );
  });
});
