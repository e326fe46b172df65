// The canonical row form verify hashes: a value as the pipeline converts it from PostgreSQL and the same
// value as the Iceberg reader returns it encode alike; different values (and different splits of a row)
// never do.
import assert from "node:assert/strict";
import { test } from "node:test";
import { decimal, type IcebergType, primitive } from "../../src/iceberg/types.ts";
import { sinkValue } from "../../src/replicate/values.ts";
import {
  addToDigest,
  canonicalValue,
  columnPart,
  displayKey,
  displayValue,
  formatDigest,
  keyText,
  LONG_PART,
  rowHash,
  rowParts,
} from "../../src/verify/row-hash.ts";

const float = primitive("float");
const double = primitive("double");
const long = primitive("long");
const int = primitive("int");
const string = primitive("string");
const binary = primitive("binary");
const list = (element: IcebergType): IcebergType => ({
  kind: "list",
  elementId: 100,
  elementRequired: false,
  element,
});

/** PostgreSQL's side: capture's event value through the replicate's conversion (src/replicate/values.ts). */
const fromPostgres = (type: IcebergType, eventValue: Parameters<typeof sinkValue>[1]) =>
  canonicalValue(type, sinkValue(type, eventValue, "t.c"));

test("a PostgreSQL value and the Iceberg value of the same datum encode alike", () => {
  // real '1.1' prints as 1.10000002 (extra_float_digits=3); Parquet stores the float32, read back as a double.
  assert.equal(fromPostgres(float, 1.10000002), canonicalValue(float, Math.fround(1.1)));
  assert.equal(fromPostgres(double, 0.1), canonicalValue(double, 0.1));
  // NaN and ±Infinity arrive as strings from capture.
  assert.equal(fromPostgres(double, "NaN"), canonicalValue(double, Number.NaN));
  assert.equal(fromPostgres(float, "Infinity"), canonicalValue(float, Number.POSITIVE_INFINITY));
  assert.equal(fromPostgres(double, "-Infinity"), canonicalValue(double, Number.NEGATIVE_INFINITY));
  // numeric(12,2) 12.50: capture's Kafka Connect Decimal (base64 of 1250) → unscaled bigint; the reader says "12.50".
  assert.equal(
    fromPostgres(decimal(12, 2), Buffer.from([0x04, 0xe2]).toString("base64")),
    canonicalValue(decimal(12, 2), "12.50"),
  );
  assert.equal(
    fromPostgres(decimal(12, 2), Buffer.from([0xfb, 0x1e]).toString("base64")),
    canonicalValue(decimal(12, 2), "-12.50"),
  );
  // Variable-scale numeric → decimal(38,18).
  assert.equal(
    fromPostgres(decimal(38, 18), { scale: 1, value: Buffer.from([0x7b]).toString("base64") }),
    canonicalValue(decimal(38, 18), "12.300000000000000000"),
  );
  // int8 as bigint, int4 as number; a column promoted int → long still matches.
  assert.equal(fromPostgres(long, 9_007_199_254_740_993n), canonicalValue(long, 9_007_199_254_740_993n));
  assert.equal(canonicalValue(int, 7), canonicalValue(long, 7n));
  // timestamptz: capture's ISO text → µs; the reader gives µs.
  assert.equal(
    fromPostgres(primitive("timestamptz"), "2024-03-01T12:00:00.123456Z"),
    canonicalValue(primitive("timestamptz"), 1_709_294_400_123_456n),
  );
  assert.equal(fromPostgres(primitive("date"), 19_783), canonicalValue(primitive("date"), 19_783));
  // uuid: lower case either way; bytea: base64 from capture, bytes from the reader.
  assert.equal(
    canonicalValue(primitive("uuid"), "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
    canonicalValue(primitive("uuid"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
  );
  assert.equal(
    fromPostgres(binary, Buffer.from([0, 1, 255]).toString("base64")),
    canonicalValue(binary, new Uint8Array([0, 1, 255])),
  );
  // jsonb text is stored as it was printed.
  assert.equal(fromPostgres(string, '{"a": [1, 2]}'), canonicalValue(string, '{"a": [1, 2]}'));
  // Arrays with NULLs, nested.
  assert.equal(
    fromPostgres(list(list(int)), [[1, null], [], null]),
    canonicalValue(list(list(int)), [[1, null], [], null]),
  );
});

test("SQL equality for floats: NaN is NaN, -0 is 0, a double is not its float32", () => {
  assert.equal(canonicalValue(double, Number.NaN), canonicalValue(double, -Number.NaN));
  assert.equal(canonicalValue(double, -0), canonicalValue(double, 0));
  assert.notEqual(canonicalValue(double, 1.1), canonicalValue(double, Math.fround(1.1)));
  assert.notEqual(canonicalValue(double, Number.POSITIVE_INFINITY), canonicalValue(double, Number.NaN));
});

test("different values and different splits of a row never encode alike", () => {
  assert.notEqual(canonicalValue(string, null), canonicalValue(string, "N"));
  assert.notEqual(canonicalValue(string, ""), canonicalValue(string, null));
  const columns = [
    { name: "a", type: string },
    { name: "b", type: string },
  ];
  assert.notEqual(
    rowHash(rowParts(columns, { a: "ab", b: "c" })),
    rowHash(rowParts(columns, { a: "a", b: "bc" })),
  );
  assert.notEqual(canonicalValue(list(int), [null]), canonicalValue(list(int), []));
  assert.notEqual(canonicalValue(list(string), ["a,b"]), canonicalValue(list(string), ["a", "b"]));
  assert.notEqual(canonicalValue(decimal(10, 2), "1.00"), canonicalValue(decimal(10, 2), "1.01"));
  assert.notEqual(canonicalValue(primitive("boolean"), true), canonicalValue(primitive("boolean"), false));
});

test("long values are hashed in place, still equal for equal values", () => {
  const big = "x".repeat(10_000);
  const part = columnPart(string, big);
  assert.ok(part.length <= LONG_PART + 1 && part.startsWith("#"), part);
  assert.equal(part, columnPart(string, `${"x".repeat(9_999)}x`));
  assert.notEqual(part, columnPart(string, `${"x".repeat(9_999)}y`));
  assert.equal(columnPart(string, "short"), canonicalValue(string, "short"));
});

test("row hashes are 128 bits; the digest is order-independent and counts duplicates", () => {
  const columns = [{ name: "id", type: long }];
  const hashes = [1n, 2n, 3n].map((id) => rowHash(rowParts(columns, { id })));
  for (const hash of hashes) assert.match(hash, /^[0-9a-f]{32}$/);
  const forward = hashes.reduce((digest, hash) => addToDigest(digest, hash), 0n);
  const backward = [...hashes].reverse().reduce((digest, hash) => addToDigest(digest, hash), 0n);
  assert.equal(formatDigest(forward), formatDigest(backward));
  assert.notEqual(
    formatDigest(addToDigest(addToDigest(0n, hashes[0]!), hashes[0]!)),
    formatDigest(0n),
    "two equal rows do not cancel out",
  );
  assert.equal(
    formatDigest(addToDigest(0n, hashes[0]!, 2)),
    formatDigest(addToDigest(addToDigest(0n, hashes[0]!), hashes[0]!)),
  );
  assert.equal(formatDigest(addToDigest(addToDigest(0n, hashes[0]!, 2), hashes[0]!, -2)), formatDigest(0n));
});

test("keys read the same from both sides and print for people", () => {
  const keyFields = [
    { id: 1, name: "tenant", required: true, type: string },
    { id: 2, name: "id", required: true, type: long },
  ];
  const fromPostgresRow = keyText(keyFields, { tenant: "acme", id: 42n });
  const fromIcebergRow = keyText(keyFields, { tenant: "acme", id: 42n, other: 1 });
  assert.equal(fromPostgresRow, fromIcebergRow);
  assert.equal(displayKey(keyFields, fromPostgresRow), 'tenant="acme", id=42');
  assert.equal(
    keyText([{ id: 1, name: "id", required: true, type: int }], { id: 7 }),
    keyText([{ id: 1, name: "id", required: true, type: long }], { id: 7n }),
  );
});

test("values print briefly", () => {
  assert.equal(
    displayValue(primitive("timestamptz"), 1_709_294_400_123_456n),
    "2024-03-01T12:00:00.123456+00:00",
  );
  assert.equal(displayValue(decimal(12, 2), 1250n), "12.50");
  assert.equal(displayValue(binary, new Uint8Array([0xde, 0xad])), "\\xdead");
  assert.equal(displayValue(string, null), "NULL");
  assert.ok(displayValue(string, "y".repeat(500)).length <= 60);
});
