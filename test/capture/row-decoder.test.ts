// The compiled text-row decoder against the column-by-column one the stream uses: same rows, same key
// order, column names an object literal cannot hold, and VALUE_INVALID naming the column.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CaptureError } from "../../src/capture/errors.ts";
import type { ValueMapping } from "../../src/capture/pg-types.ts";
import type { TableSchema } from "../../src/capture/relation.ts";
import { decodeTextRow, decodeTuple, keyExtractor, keyOf } from "../../src/capture/row-decoder.ts";

function mapping(decode: ValueMapping["decode"]): ValueMapping {
  return { pgType: "test", connect: { type: "string" }, iceberg: "string", decode };
}

function table(names: string[], primaryKey: string[]): TableSchema {
  const strict = (text: string) => {
    if (text === "bad") throw new Error("malformed value: bad");
    return text.toUpperCase();
  };
  return {
    relationOid: 1,
    schema: "public",
    table: "t",
    replicaIdentity: "default",
    primaryKey,
    columns: names.map((name, index) => ({
      name,
      typeOid: 25,
      typeMod: -1,
      optional: true,
      mapping: mapping(index === 0 ? (text) => BigInt(text) : strict),
    })),
  };
}

test("rows equal the column-by-column decoding, keys in primary-key order", () => {
  const names = ["id", "a", 'weird "name"\n', "2", "c"];
  // Key order differs from both column order and name order.
  const schema = table(names, ["c", "a"]);
  const values = ["42", "x", null, "y", "z"];
  const row = decodeTextRow(schema, values);
  assert.deepEqual(row, decodeTuple(schema, values).row);
  assert.deepEqual(row, { id: 42n, a: "X", 'weird "name"\n': null, "2": "Y", c: "Z" });
  assert.deepEqual(Object.keys(row), Object.keys(decodeTuple(schema, values).row), "same key order");
  const key = keyOf(schema, row);
  assert.deepEqual(key, { c: "Z", a: "X" });
  assert.deepEqual(Object.keys(key ?? {}), ["c", "a"]);
  assert.deepEqual(keyExtractor(schema)(row), key);
  assert.equal(keyOf(table(names, []), row), null);
  assert.equal(keyExtractor(table(names, []))(row), null);
});

test("a column named __proto__ is decoded column by column and never replaces the prototype", () => {
  const schema = table(["id", "__proto__"], ["id"]);
  const row = decodeTextRow(schema, ["1", "v"]);
  assert.deepEqual(row, decodeTuple(schema, ["1", "v"]).row);
  assert.equal(Object.getPrototypeOf(row), Object.prototype);
});

test("a value the type cannot read is VALUE_INVALID naming table and column", () => {
  const schema = table(["id", "good", "broken"], ["id"]);
  assert.throws(
    () => decodeTextRow(schema, ["1", "ok", "bad"]),
    (error: unknown) =>
      error instanceof CaptureError &&
      error.code === "VALUE_INVALID" &&
      /column "broken" of table public\.t: malformed value: bad/.test(error.message),
  );
});
