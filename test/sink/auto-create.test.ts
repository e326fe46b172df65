import assert from "node:assert/strict";
import { test } from "node:test";
import { readTable } from "../../src/iceberg/reader.ts";
import { currentSchema, defaultSpec } from "../../src/iceberg/table-metadata.ts";
import { bucket } from "../../src/iceberg/transforms.ts";
import { primitive } from "../../src/iceberg/types.ts";
import { createSinkTable, type EventSchema, evolveSchema } from "../../src/sink/auto-create.ts";
import { SinkError } from "../../src/sink/errors.ts";
import { UpsertTableWriter } from "../../src/sink/table-writer.ts";
import { localWarehouse } from "../helpers/tables.ts";

const id = { namespace: ["src"], name: "items" };
const v1: EventSchema = {
  columns: [
    { name: "id", type: primitive("int") },
    { name: "name", type: primitive("string"), optional: false },
    { name: "price", type: { kind: "decimal", precision: 8, scale: 2 } },
    { name: "legacy", type: primitive("string") },
  ],
  primaryKey: ["id"],
};

test("auto-create: primary key → required identifier fields, partition spec from config", async (t) => {
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["src"]);
  const table = await createSinkTable(catalog, id, v1, {
    partitionBy: [{ column: "id", transform: bucket(4) }],
  });
  const schema = currentSchema(table.metadata);
  assert.deepEqual(
    schema.identifierFieldIds.map((i) => schema.findField(i)!.name),
    ["id"],
  );
  assert.equal(schema.findFieldByName("id")!.required, true);
  assert.equal(schema.findFieldByName("name")!.required, true);
  assert.equal(schema.findFieldByName("legacy")!.required, false);
  const spec = defaultSpec(table.metadata);
  assert.equal(spec.fields.length, 1);
  assert.equal(spec.fields[0]!.transform.kind, "bucket");
  await assert.rejects(
    createSinkTable(catalog, { namespace: ["src"], name: "nokey" }, { ...v1, primaryKey: [] }),
    (e: unknown) => e instanceof SinkError && e.code === "TABLE_INVALID",
  );
});

test("schema evolution from source DDL: add, widen, make optional, rename and drop by field id; the writer follows", async (t) => {
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["src"]);
  await createSinkTable(catalog, id, v1);
  const writer = await UpsertTableWriter.open({ catalog, identifier: id });
  t.after(() => writer.close());
  await writer.write({
    op: "c",
    key: { id: 1 },
    after: { id: 1, name: "a", price: "1.50", legacy: "x" },
    position: "0/1",
    commitTimeMs: 0,
  });
  await writer.commit();

  const v2: EventSchema = {
    columns: [
      { name: "id", type: primitive("long") },
      { name: "title", type: primitive("string"), renamedFrom: "name" },
      { name: "price", type: { kind: "decimal", precision: 12, scale: 2 } },
      { name: "stock", type: primitive("int") },
    ],
    primaryKey: ["id"],
  };
  await writer.applySourceSchema(v2, { dropRemovedColumns: true });
  await writer.write({
    op: "u",
    key: { id: 1n },
    after: { id: 1n, title: "a2", price: "12345678.99", stock: 3 },
    position: "0/2",
    commitTimeMs: 0,
  });
  await writer.write({
    op: "c",
    key: { id: 2n },
    after: { id: 2n, title: "b", price: null, stock: null },
    position: "0/3",
    commitTimeMs: 0,
  });
  const { table } = await writer.commit();
  const schema = currentSchema(table.metadata);
  assert.equal(schema.findFieldByName("title")!.id, 2, "the rename kept the field id");
  assert.equal(schema.findFieldByName("title")!.required, false, "made optional");
  assert.equal(schema.findFieldByName("legacy"), undefined);
  assert.deepEqual(
    (await readTable(table)).sort((a, b) => Number(a.id) - Number(b.id)),
    [
      { id: 1n, title: "a2", price: "12345678.99", stock: 3 },
      { id: 2n, title: "b", price: null, stock: null },
    ],
  );

  await assert.rejects(
    evolveSchema(catalog, table, {
      ...v2,
      columns: [...v2.columns.slice(0, 3), { name: "stock", type: primitive("string") }],
    }),
    (e: unknown) =>
      e instanceof SinkError && e.code === "SCHEMA_INCOMPATIBLE" && /int to string/.test(e.message),
  );
});
