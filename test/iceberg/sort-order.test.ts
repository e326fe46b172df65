import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IcebergError } from "../../src/iceberg/errors.ts";
import { Schema } from "../../src/iceberg/schema.ts";
import {
  isUnsorted,
  sortField,
  sortOrderFromJson,
  sortOrdersEquivalent,
  sortOrderToJson,
  UNSORTED_ORDER,
  validateSortOrder,
} from "../../src/iceberg/sort-order.ts";
import { bucket, parseTransform } from "../../src/iceberg/transforms.ts";
import { primitive } from "../../src/iceberg/types.ts";

const isCode = (code: string) => (error: unknown) => error instanceof IcebergError && error.code === code;

// The spec's Appendix C example.
const orderJson = {
  "order-id": 1,
  fields: [
    { transform: "identity", "source-id": 2, direction: "asc", "null-order": "nulls-first" },
    { transform: "bucket[4]", "source-id": 3, direction: "desc", "null-order": "nulls-last" },
  ],
};

const schema = new Schema(0, [
  { id: 1, name: "f", required: false, type: primitive("double") },
  { id: 2, name: "name", required: false, type: primitive("string") },
  { id: 3, name: "id", required: true, type: primitive("long") },
  { id: 4, name: "s", required: false, type: { kind: "struct", fields: [] } },
]);

describe("sort orders", () => {
  it("round-trips the spec's example", () => {
    const order = sortOrderFromJson(orderJson);
    assert.deepEqual(order.fields[1], {
      transform: bucket(4),
      sourceId: 3,
      direction: "desc",
      nullOrder: "nulls-last",
    });
    assert.deepEqual(sortOrderToJson(order), orderJson);
    validateSortOrder(order, schema);
  });

  it("reserves id 0 for the unsorted order", () => {
    assert.deepEqual(sortOrderToJson(UNSORTED_ORDER), { "order-id": 0, fields: [] });
    assert.equal(isUnsorted(sortOrderFromJson({ "order-id": 0, fields: [] })), true);
    assert.throws(() => sortOrderFromJson({ ...orderJson, "order-id": 0 }), isCode("DATA_INVALID"));
    assert.throws(() => sortOrderFromJson({ "order-id": 3, fields: [] }), isCode("DATA_INVALID"));
  });

  it("refuses unknown directions and null orders", () => {
    const field = orderJson.fields[0]!;
    assert.throws(
      () => sortOrderFromJson({ "order-id": 1, fields: [{ ...field, direction: "ASC" }] }),
      isCode("DATA_INVALID"),
    );
    assert.throws(
      () => sortOrderFromJson({ "order-id": 1, fields: [{ ...field, "null-order": "first" }] }),
      isCode("DATA_INVALID"),
    );
  });

  it("validates sources against the schema", () => {
    const order = (sourceId: number, transform = "identity") => ({
      orderId: 1,
      fields: [{ ...sortField(sourceId), transform: parseTransform(transform) }],
    });
    assert.throws(() => validateSortOrder(order(9), schema), /not in the schema/);
    assert.throws(() => validateSortOrder(order(4), schema), /struct column 's'/);
    assert.throws(() => validateSortOrder(order(1, "bucket[2]"), schema), /cannot be applied/);
    validateSortOrder(order(1), schema);
  });

  it("builds fields with conventional null orders and compares orders ignoring ids", () => {
    assert.deepEqual(sortField(3, "desc"), {
      transform: { kind: "identity" },
      sourceId: 3,
      direction: "desc",
      nullOrder: "nulls-last",
    });
    const a = sortOrderFromJson(orderJson);
    assert.equal(sortOrdersEquivalent(a, { ...a, orderId: 7 }), true);
    assert.equal(sortOrdersEquivalent(a, { orderId: 1, fields: [a.fields[1]!, a.fields[0]!] }), false);
  });
});
