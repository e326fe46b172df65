import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IcebergError } from "../../src/iceberg/errors.ts";
import { identifierFieldProblem, Schema, schemaFromJson, schemaToJson } from "../../src/iceberg/schema.ts";
import { primitive } from "../../src/iceberg/types.ts";

const isCode = (code: string) => (error: unknown) => error instanceof IcebergError && error.code === code;

// The spec's Appendix C examples (struct with defaults, list, map) assembled into one schema.
const specJson = {
  type: "struct",
  "schema-id": 0,
  "identifier-field-ids": [1],
  fields: [
    {
      id: 1,
      name: "id",
      required: true,
      type: "uuid",
      "initial-default": "0db3e2a8-9d1d-42b9-aa7b-74ebe558dceb",
      "write-default": "ec5911be-b0a7-458c-8438-c9a3e53cffae",
    },
    {
      id: 2,
      name: "data",
      required: false,
      type: { type: "list", "element-id": 3, "element-required": true, element: "string" },
    },
    {
      id: 4,
      name: "props",
      required: false,
      type: {
        type: "map",
        "key-id": 5,
        key: "string",
        "value-id": 6,
        "value-required": false,
        value: "double",
      },
    },
    {
      id: 7,
      name: "location",
      required: true,
      type: {
        type: "struct",
        fields: [
          { id: 8, name: "lat", required: true, type: "decimal(9,6)" },
          { id: 9, name: "long", required: false, type: "fixed[16]" },
        ],
      },
      doc: "where it is",
    },
    {
      id: 10,
      name: "points",
      required: false,
      type: {
        type: "list",
        "element-id": 11,
        "element-required": true,
        element: { type: "struct", fields: [{ id: 12, name: "x", required: true, type: "long" }] },
      },
    },
  ],
};

describe("schema JSON", () => {
  it("round-trips the spec's example exactly", () => {
    const schema = schemaFromJson(specJson);
    assert.deepEqual(schemaToJson(schema), specJson);
    assert.equal(JSON.stringify(schemaToJson(schema)), JSON.stringify(specJson));
  });

  it("writes schema-id and omits empty identifier-field-ids", () => {
    const schema = new Schema(3, [{ id: 1, name: "a", required: false, type: primitive("int") }]);
    assert.deepEqual(schemaToJson(schema), {
      type: "struct",
      "schema-id": 3,
      fields: [{ id: 1, name: "a", required: false, type: "int" }],
    });
  });

  it("reads v1 schemas without schema-id as id 0 and accepts spaced decimals", () => {
    const schema = schemaFromJson({
      type: "struct",
      fields: [{ id: 1, name: "d", required: true, type: "decimal(9, 2)" }],
    });
    assert.equal(schema.schemaId, 0);
    assert.deepEqual(schema.findField(1)?.type, { kind: "decimal", precision: 9, scale: 2 });
  });

  it("refuses malformed JSON", () => {
    assert.throws(() => schemaFromJson([]), isCode("DATA_INVALID"));
    assert.throws(() => schemaFromJson({ type: "list", fields: [] }), isCode("DATA_INVALID"));
    assert.throws(() => schemaFromJson({ "schema-id": "0", fields: [] }), isCode("DATA_INVALID"));
    assert.throws(
      () =>
        schemaFromJson({ "schema-id": 0, fields: [{ id: 1, name: "a", required: true, type: "varchar" }] }),
      isCode("DATA_INVALID"),
    );
  });
});

describe("schema lookups", () => {
  const schema = schemaFromJson(specJson);

  it("finds fields by id, including list and map ids", () => {
    assert.equal(schema.findField(8)?.name, "lat");
    assert.equal(schema.findField(3)?.name, "element");
    assert.equal(schema.findField(6)?.type.kind, "double");
    assert.equal(schema.findField(99), undefined);
  });

  it("finds fields by case-sensitive dotted name", () => {
    assert.equal(schema.findFieldByName("location.lat")?.id, 8);
    assert.equal(schema.findFieldByName("data.element")?.id, 3);
    assert.equal(schema.findFieldByName("props.key")?.id, 5);
    assert.equal(schema.findFieldByName("props.value")?.id, 6);
    assert.equal(schema.findFieldByName("points.element.x")?.id, 12);
    assert.equal(schema.findFieldByName("points.x")?.id, 12);
    assert.equal(schema.findFieldByName("Location.lat"), undefined);
    assert.equal(schema.findColumnName(12), "points.element.x");
  });

  it("reports parents and the highest field id", () => {
    assert.deepEqual(schema.parentIds(12), [10, 11]);
    assert.deepEqual(schema.parentIds(1), []);
    assert.equal(schema.highestFieldId(), 12);
    assert.equal(new Schema(0, []).highestFieldId(), 0);
    assert.deepEqual(schema.identifierFieldNames(), ["id"]);
  });

  it("compares structure without the schema id", () => {
    const again = schemaFromJson({ ...specJson, "schema-id": 5 });
    assert.equal(schema.sameStructure(again), true);
    assert.equal(schema.sameStructure(new Schema(0, schema.fields, [])), false);
  });
});

describe("schema validation", () => {
  const int = primitive("int");

  it("refuses duplicate ids anywhere in the tree", () => {
    assert.throws(
      () =>
        new Schema(0, [
          { id: 1, name: "a", required: true, type: int },
          {
            id: 2,
            name: "b",
            required: false,
            type: { kind: "list", elementId: 1, elementRequired: true, element: int },
          },
        ]),
      isCode("DATA_INVALID"),
    );
  });

  it("refuses duplicate names in a struct and reserved ids", () => {
    assert.throws(
      () =>
        new Schema(0, [
          { id: 1, name: "a", required: true, type: int },
          { id: 2, name: "a", required: true, type: int },
        ]),
      isCode("DATA_INVALID"),
    );
    assert.throws(
      () => new Schema(0, [{ id: 2147483646, name: "_file", required: true, type: int }]),
      isCode("DATA_INVALID"),
    );
  });

  it("checks identifier fields per the spec", () => {
    const schema = new Schema(0, [
      { id: 1, name: "id", required: true, type: int },
      { id: 2, name: "opt", required: false, type: int },
      { id: 3, name: "f", required: true, type: primitive("double") },
      {
        id: 4,
        name: "req",
        required: true,
        type: { kind: "struct", fields: [{ id: 5, name: "k", required: true, type: primitive("string") }] },
      },
      {
        id: 6,
        name: "maybe",
        required: false,
        type: { kind: "struct", fields: [{ id: 7, name: "k", required: true, type: int }] },
      },
      {
        id: 8,
        name: "l",
        required: true,
        type: {
          kind: "list",
          elementId: 9,
          elementRequired: true,
          element: { kind: "struct", fields: [{ id: 10, name: "k", required: true, type: int }] },
        },
      },
    ]);
    assert.equal(identifierFieldProblem(schema, 1), undefined);
    assert.equal(identifierFieldProblem(schema, 5), undefined);
    assert.match(identifierFieldProblem(schema, 2)!, /must be required/);
    assert.match(identifierFieldProblem(schema, 3)!, /cannot be double/);
    assert.match(identifierFieldProblem(schema, 4)!, /must be a primitive/);
    assert.match(identifierFieldProblem(schema, 7)!, /optional struct 'maybe'/);
    assert.match(identifierFieldProblem(schema, 10)!, /nested in list 'l'/);
    assert.match(identifierFieldProblem(schema, 42)!, /not in the schema/);
    assert.throws(() => new Schema(0, schema.fields, [2]), isCode("DATA_INVALID"));
    assert.throws(() => new Schema(0, schema.fields, [1, 1]), isCode("DATA_INVALID"));
    assert.deepEqual(new Schema(0, schema.fields, [1, 5]).identifierFieldIds, [1, 5]);
  });
});
