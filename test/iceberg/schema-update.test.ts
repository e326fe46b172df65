import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IcebergError } from "../../src/iceberg/errors.ts";
import { Schema, schemaToJson } from "../../src/iceberg/schema.ts";
import { SchemaUpdate } from "../../src/iceberg/schema-update.ts";
import { decimal, primitive } from "../../src/iceberg/types.ts";

const isCode = (code: string) => (error: unknown) => error instanceof IcebergError && error.code === code;
const incompatible = (pattern: RegExp) => (error: unknown) =>
  error instanceof IcebergError && error.code === "INCOMPATIBLE_CHANGE" && pattern.test(error.message);

const base = new Schema(
  0,
  [
    { id: 1, name: "id", required: true, type: primitive("int") },
    { id: 2, name: "data", required: false, type: primitive("string") },
    { id: 3, name: "score", required: false, type: primitive("float") },
    { id: 4, name: "price", required: true, type: decimal(9, 2) },
    {
      id: 5,
      name: "location",
      required: false,
      type: {
        kind: "struct",
        fields: [
          { id: 6, name: "lat", required: true, type: primitive("double") },
          { id: 7, name: "long", required: true, type: primitive("double") },
        ],
      },
    },
    {
      id: 8,
      name: "points",
      required: false,
      type: {
        kind: "list",
        elementId: 9,
        elementRequired: true,
        element: { kind: "struct", fields: [{ id: 10, name: "x", required: true, type: primitive("long") }] },
      },
    },
    {
      id: 11,
      name: "props",
      required: false,
      type: {
        kind: "map",
        keyId: 12,
        key: primitive("string"),
        valueId: 13,
        valueRequired: true,
        value: primitive("int"),
      },
    },
  ],
  [1],
);
const update = () => new SchemaUpdate(base, 13);
const names = (schema: Schema) => schema.fields.map((f) => f.name);

describe("adding columns", () => {
  it("adds an optional top-level column with the next id and a new schema id", () => {
    const { schema, lastColumnId } = update()
      .addColumn("note", primitive("string"), { doc: "free text" })
      .apply();
    assert.equal(lastColumnId, 14);
    assert.equal(schema.schemaId, 1);
    assert.deepEqual(schema.findFieldByName("note"), {
      id: 14,
      name: "note",
      required: false,
      type: primitive("string"),
      doc: "free text",
    });
    assert.deepEqual(base.findFieldByName("note"), undefined, "the base schema is untouched");
  });

  it("adds into a nested struct and into the struct element of a list", () => {
    const { schema, lastColumnId } = update()
      .addColumn("alt", primitive("double"), { parent: "location" })
      .addColumn("y", primitive("long"), { parent: "points" })
      .apply();
    assert.equal(schema.findFieldByName("location.alt")?.id, 14);
    assert.equal(schema.findFieldByName("points.element.y")?.id, 15);
    assert.equal(lastColumnId, 15);
  });

  it("assigns fresh ids to every field of an added nested type, ignoring the caller's", () => {
    const { schema, lastColumnId } = update()
      .addColumn("meta", {
        kind: "struct",
        fields: [
          { id: 1, name: "a", required: true, type: primitive("int") },
          {
            id: 2,
            name: "b",
            required: false,
            type: { kind: "list", elementId: 3, elementRequired: false, element: primitive("string") },
          },
        ],
      })
      .apply();
    assert.deepEqual(schemaToJson(schema).fields.at(-1), {
      id: 14,
      name: "meta",
      required: false,
      type: {
        type: "struct",
        fields: [
          { id: 15, name: "a", required: true, type: "int" },
          {
            id: 16,
            name: "b",
            required: false,
            type: { type: "list", "element-id": 17, "element-required": false, element: "string" },
          },
        ],
      },
    });
    assert.equal(lastColumnId, 17);
  });

  it("adds a required column only with an initial default, stored in its JSON form", () => {
    assert.throws(
      () => update().addColumn("since", primitive("date"), { required: true }),
      incompatible(/required column 'since' without an initial default/),
    );
    const { schema } = update()
      .addColumn("since", primitive("date"), { required: true, initialDefault: 17486 })
      .apply();
    assert.deepEqual(schemaToJson(schema).fields.at(-1), {
      id: 14,
      name: "since",
      required: true,
      type: "date",
      "initial-default": "2017-11-16",
      "write-default": "2017-11-16",
    });
  });

  it("refuses name collisions and bad parents", () => {
    assert.throws(
      () => update().addColumn("data", primitive("int")),
      incompatible(/'data': a column with that name exists/),
    );
    assert.throws(
      () => update().addColumn("lat", primitive("int"), { parent: "location" }),
      incompatible(/'location.lat'/),
    );
    assert.throws(
      () => update().addColumn("x", primitive("int"), { parent: "data" }),
      incompatible(/not a struct/),
    );
    assert.throws(
      () => update().addColumn("x", primitive("int"), { parent: "nope" }),
      incompatible(/no column 'nope'/),
    );
    assert.throws(
      () => update().addColumn("x", primitive("int"), { initialDefault: "1" }),
      incompatible(/does not fit int/),
    );
  });
});

describe("deleting and renaming", () => {
  it("deletes columns and never reuses their ids", () => {
    const { schema, lastColumnId } = update()
      .deleteColumn("props")
      .addColumn("props", primitive("string"))
      .apply();
    assert.equal(schema.findFieldByName("props")?.id, 14);
    assert.equal(schema.findField(11), undefined);
    assert.equal(lastColumnId, 14);
  });

  it("deletes nested columns", () => {
    const { schema } = update().deleteColumn("location.long").apply();
    assert.deepEqual(schema.findFieldByName("location")?.type, {
      kind: "struct",
      fields: [{ id: 6, name: "lat", required: true, type: primitive("double") }],
    });
  });

  it("refuses to delete an identifier field until it leaves the identifier set", () => {
    assert.throws(() => update().deleteColumn("id"), incompatible(/cannot delete column 'id'.*identifier/));
    const { schema } = update().setIdentifierFields([]).deleteColumn("id").apply();
    assert.deepEqual(schema.identifierFieldIds, []);
  });

  it("refuses to delete list elements and map keys", () => {
    assert.throws(() => update().deleteColumn("props.key"), incompatible(/not a struct column/));
    assert.throws(() => update().deleteColumn("points.element"), incompatible(/not a struct column/));
  });

  it("renames keeping the id, and later calls see the new name", () => {
    const { schema } = update()
      .renameColumn("data", "payload")
      .renameColumn("location.lat", "latitude")
      .apply();
    assert.equal(schema.findFieldByName("payload")?.id, 2);
    assert.equal(schema.findFieldByName("location.latitude")?.id, 6);
    assert.equal(schema.findFieldByName("data"), undefined);
    assert.throws(
      () => update().renameColumn("data", "payload").deleteColumn("data"),
      incompatible(/no column 'data'/),
    );
    assert.throws(() => update().renameColumn("data", "score"), incompatible(/name is taken/));
    assert.throws(() => update().renameColumn("data", ""), isCode("INCOMPATIBLE_CHANGE"));
  });
});

describe("moving", () => {
  it("moves first, before and after within a struct", () => {
    assert.deepEqual(names(update().moveFirst("price").apply().schema), [
      "price",
      "id",
      "data",
      "score",
      "location",
      "points",
      "props",
    ]);
    assert.deepEqual(names(update().moveBefore("props", "data").apply().schema), [
      "id",
      "props",
      "data",
      "score",
      "price",
      "location",
      "points",
    ]);
    assert.deepEqual(names(update().moveAfter("id", "props").apply().schema), [
      "data",
      "score",
      "price",
      "location",
      "points",
      "props",
      "id",
    ]);
    const nested = update().moveBefore("location.long", "location.lat").apply().schema;
    assert.deepEqual(
      (nested.findFieldByName("location")!.type as { fields: { name: string }[] }).fields.map((f) => f.name),
      ["long", "lat"],
    );
  });

  it("refuses moves across structs or relative to itself", () => {
    assert.throws(() => update().moveAfter("data", "location.lat"), incompatible(/within their own struct/));
    assert.throws(() => update().moveBefore("data", "data"), incompatible(/relative to itself/));
  });
});

describe("nullability and types", () => {
  it("makes columns, list elements and map values optional", () => {
    const { schema } = update()
      .makeColumnOptional("price")
      .makeColumnOptional("points.element")
      .makeColumnOptional("props.value")
      .apply();
    assert.equal(schema.findField(4)?.required, false);
    assert.equal(schema.findField(9)?.required, false);
    assert.equal(schema.findField(13)?.required, false);
  });

  it("refuses to loosen identifier fields or map keys and to require columns", () => {
    assert.throws(() => update().makeColumnOptional("id"), incompatible(/identifier field 'id' optional/));
    assert.throws(
      () => update().makeColumnOptional("props.key"),
      incompatible(/map keys are always required/),
    );
    assert.throws(() => update().requireColumn("data"), incompatible(/cannot make column 'data' required/));
    update().requireColumn("price"); // already required: nothing to do
  });

  it("widens int, float and decimal precision", () => {
    const { schema } = update()
      .updateColumnType("id", primitive("long"))
      .updateColumnType("score", primitive("double"))
      .updateColumnType("price", decimal(12, 2))
      .updateColumnType("props.value", primitive("long"))
      .apply();
    assert.deepEqual(schema.findField(1)?.type, primitive("long"));
    assert.deepEqual(schema.findField(3)?.type, primitive("double"));
    assert.deepEqual(schema.findField(4)?.type, decimal(12, 2));
    assert.deepEqual(schema.findField(13)?.type, primitive("long"));
    assert.deepEqual(schema.identifierFieldIds, [1]);
  });

  it("refuses narrowing and kind changes, naming the column", () => {
    const promoted = new SchemaUpdate(update().updateColumnType("id", primitive("long")).apply().schema, 13);
    assert.throws(
      () => promoted.updateColumnType("id", primitive("int")),
      incompatible(/'id' from long to int/),
    );
    assert.throws(
      () => update().updateColumnType("data", primitive("int")),
      incompatible(/'data' from string to int/),
    );
    assert.throws(
      () => update().updateColumnType("price", decimal(8, 2)),
      incompatible(/precision can only widen/),
    );
    assert.throws(
      () => update().updateColumnType("price", decimal(12, 3)),
      incompatible(/scale cannot change/),
    );
    assert.throws(
      () => update().updateColumnType("location", primitive("string")),
      incompatible(/struct column 'location'/),
    );
    assert.throws(() => update().updateColumnType("score", primitive("int")), isCode("INCOMPATIBLE_CHANGE"));
  });

  it("updates docs", () => {
    const { schema } = update().updateColumnDoc("data", "payload").apply();
    assert.equal(schema.findField(2)?.doc, "payload");
    const cleared = new SchemaUpdate(schema, 13).updateColumnDoc("data", undefined).apply().schema;
    assert.equal(cleared.findField(2)?.doc, undefined);
  });
});

describe("identifier fields", () => {
  it("sets identifier fields, including columns added in the same update", () => {
    const { schema } = update()
      .addColumn("tenant", primitive("string"), { required: true, initialDefault: "t0" })
      .setIdentifierFields(["tenant", "id"])
      .apply();
    assert.deepEqual(schema.identifierFieldIds, [14, 1]);
  });

  it("refuses optional, floating-point, nested-in-optional and missing columns", () => {
    assert.throws(() => update().setIdentifierFields(["data"]), incompatible(/must be required/));
    assert.throws(() => update().setIdentifierFields(["location.lat"]), incompatible(/cannot be double/));
    assert.throws(
      () =>
        update()
          .addColumn("code", primitive("string"), { parent: "location", required: true, initialDefault: "" })
          .setIdentifierFields(["location.code"]),
      incompatible(/optional struct 'location'/),
    );
    assert.throws(
      () => update().setIdentifierFields(["points.element.x"]),
      incompatible(/nested in list 'points'/),
    );
    assert.throws(() => update().setIdentifierFields(["nope"]), incompatible(/no such column/));
    assert.throws(() => update().setIdentifierFields(["id", "id"]), incompatible(/same column twice/));
  });
});

it("refuses a last-column-id below the schema's highest id", () => {
  assert.throws(() => new SchemaUpdate(base, 12), isCode("DATA_INVALID"));
  assert.equal(new SchemaUpdate(base, 20).addColumn("n", primitive("int")).apply().lastColumnId, 21);
});
