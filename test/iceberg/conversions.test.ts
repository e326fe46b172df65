import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decimalFromString,
  decimalToMinBytes,
  decimalToString,
  fromBinary,
  fromJsonValue,
  toBinary,
  toJsonValue,
  truncateBinaryLowerBound,
  truncateBinaryUpperBound,
  truncateStringLowerBound,
  truncateStringUpperBound,
} from "../../src/iceberg/conversions.ts";
import { IcebergError } from "../../src/iceberg/errors.ts";
import { decimal, fixed, type IcebergType, primitive } from "../../src/iceberg/types.ts";

const bytes = (...values: number[]) => Uint8Array.from(values);
const isCode = (code: string) => (error: unknown) => error instanceof IcebergError && error.code === code;

describe("binary single-value serialization", () => {
  const cases: [string, IcebergType, unknown, Uint8Array][] = [
    ["boolean true", primitive("boolean"), true, bytes(1)],
    ["boolean false", primitive("boolean"), false, bytes(0)],
    ["int 34", primitive("int"), 34, bytes(0x22, 0, 0, 0)],
    ["int -1", primitive("int"), -1, bytes(0xff, 0xff, 0xff, 0xff)],
    ["long 34", primitive("long"), 34n, bytes(0x22, 0, 0, 0, 0, 0, 0, 0)],
    ["long min", primitive("long"), -(2n ** 63n), bytes(0, 0, 0, 0, 0, 0, 0, 0x80)],
    ["float 1.0", primitive("float"), 1, bytes(0, 0, 0x80, 0x3f)],
    ["double 1.0", primitive("double"), 1, bytes(0, 0, 0, 0, 0, 0, 0xf0, 0x3f)],
    ["date 2017-11-16", primitive("date"), 17486, bytes(0x4e, 0x44, 0, 0)],
    ["time 22:31:08", primitive("time"), 81068000000n, bytes(0x00, 0x83, 0x07, 0xe0, 0x12, 0, 0, 0)],
    ["timestamp 1 µs", primitive("timestamp"), 1n, bytes(1, 0, 0, 0, 0, 0, 0, 0)],
    [
      "timestamptz -1 µs",
      primitive("timestamptz"),
      -1n,
      bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
    ],
    ["timestamp_ns 256", primitive("timestamp_ns"), 256n, bytes(0, 1, 0, 0, 0, 0, 0, 0)],
    ["string iceberg", primitive("string"), "iceberg", bytes(0x69, 0x63, 0x65, 0x62, 0x65, 0x72, 0x67)],
    ["string é", primitive("string"), "é", bytes(0xc3, 0xa9)],
    [
      "uuid",
      primitive("uuid"),
      "f79c3e09-677c-4bbd-a479-3f349cb785e7",
      bytes(0xf7, 0x9c, 0x3e, 0x09, 0x67, 0x7c, 0x4b, 0xbd, 0xa4, 0x79, 0x3f, 0x34, 0x9c, 0xb7, 0x85, 0xe7),
    ],
    ["fixed[4]", fixed(4), bytes(0, 1, 2, 3), bytes(0, 1, 2, 3)],
    ["binary", primitive("binary"), bytes(0xff, 0), bytes(0xff, 0)],
    ["decimal 14.20", decimal(9, 2), 1420n, bytes(0x05, 0x8c)],
    ["decimal -14.20", decimal(9, 2), -1420n, bytes(0xfa, 0x74)],
    ["decimal 0", decimal(9, 2), 0n, bytes(0)],
  ];
  for (const [name, type, value, encoded] of cases) {
    it(`encodes and decodes ${name}`, () => {
      if (type.kind === "struct" || type.kind === "list" || type.kind === "map")
        throw new Error("primitive only");
      assert.deepEqual(toBinary(type, value as never), encoded);
      assert.deepEqual(fromBinary(type, encoded), value);
    });
  }

  it("writes decimals in the fewest two's-complement bytes", () => {
    assert.deepEqual(decimalToMinBytes(127n), bytes(0x7f));
    assert.deepEqual(decimalToMinBytes(128n), bytes(0x00, 0x80));
    assert.deepEqual(decimalToMinBytes(-128n), bytes(0x80));
    assert.deepEqual(decimalToMinBytes(-129n), bytes(0xff, 0x7f));
    assert.deepEqual(decimalToMinBytes(-1n), bytes(0xff));
    assert.deepEqual(decimalToMinBytes(65535n), bytes(0x00, 0xff, 0xff));
  });

  it("decodes bounds written before a type promotion by their length", () => {
    assert.equal(fromBinary(primitive("long"), bytes(0x22, 0, 0, 0)), 34n);
    assert.equal(fromBinary(primitive("double"), bytes(0, 0, 0x80, 0x3f)), 1);
    assert.equal(fromBinary(primitive("timestamp"), bytes(1, 0, 0, 0)), 86_400_000_000n);
    assert.equal(fromBinary(primitive("timestamp_ns"), bytes(1, 0, 0, 0)), 86_400_000_000_000n);
    assert.equal(fromBinary(decimal(12, 2), bytes(0x05, 0x8c)), 1420n);
  });

  it("refuses values of the wrong kind or size", () => {
    assert.throws(() => toBinary(primitive("int"), 2 ** 31), isCode("DATA_INVALID"));
    assert.throws(() => toBinary(primitive("int"), 1.5), isCode("DATA_INVALID"));
    assert.throws(() => toBinary(primitive("long"), "1"), isCode("DATA_INVALID"));
    assert.throws(() => toBinary(fixed(2), bytes(1, 2, 3)), isCode("DATA_INVALID"));
    assert.throws(() => toBinary(decimal(3, 2), 1000n), isCode("DATA_INVALID"));
    assert.throws(() => toBinary(primitive("uuid"), "not-a-uuid"), isCode("DATA_INVALID"));
    assert.throws(() => fromBinary(primitive("int"), bytes(1, 2)), isCode("DATA_INVALID"));
  });
});

describe("JSON single-value serialization", () => {
  // The examples of the spec's Appendix D table.
  const cases: [string, IcebergType, unknown, unknown][] = [
    ["boolean", primitive("boolean"), true, true],
    ["int", primitive("int"), 34, 34],
    ["long", primitive("long"), 34n, 34],
    ["float", primitive("float"), 1, 1],
    ["double", primitive("double"), 1, 1],
    ["decimal", decimal(9, 2), 1420n, "14.20"],
    ["date", primitive("date"), 17486, "2017-11-16"],
    ["time", primitive("time"), 81068123456n, "22:31:08.123456"],
    ["timestamp", primitive("timestamp"), 1510871468123456n, "2017-11-16T22:31:08.123456"],
    ["timestamptz", primitive("timestamptz"), 1510871468123456n, "2017-11-16T22:31:08.123456+00:00"],
    ["timestamp_ns", primitive("timestamp_ns"), 1510871468123456789n, "2017-11-16T22:31:08.123456789"],
    [
      "timestamptz_ns",
      primitive("timestamptz_ns"),
      1510871468123456789n,
      "2017-11-16T22:31:08.123456789+00:00",
    ],
    ["string", primitive("string"), "iceberg", "iceberg"],
    [
      "uuid",
      primitive("uuid"),
      "f79c3e09-677c-4bbd-a479-3f349cb785e7",
      "f79c3e09-677c-4bbd-a479-3f349cb785e7",
    ],
    ["fixed", fixed(4), bytes(0, 1, 2, 0xff), "000102ff"],
    ["binary", primitive("binary"), bytes(0, 1, 2, 0xff), "000102ff"],
    [
      "struct",
      {
        kind: "struct",
        fields: [
          { id: 1, name: "a", required: true, type: primitive("int") },
          { id: 2, name: "b", required: false, type: primitive("string") },
        ],
      },
      { a: 1, b: "bar" },
      { "1": 1, "2": "bar" },
    ],
    [
      "list",
      { kind: "list", elementId: 3, elementRequired: true, element: primitive("int") },
      [1, 2, 3],
      [1, 2, 3],
    ],
    [
      "map",
      {
        kind: "map",
        keyId: 4,
        key: primitive("string"),
        valueId: 5,
        valueRequired: true,
        value: primitive("int"),
      },
      new Map([
        ["a", 1],
        ["b", 2],
      ]),
      { keys: ["a", "b"], values: [1, 2] },
    ],
  ];
  for (const [name, type, value, json] of cases) {
    it(`writes and reads ${name}`, () => {
      assert.deepEqual(toJsonValue(type, value), json);
      assert.deepEqual(fromJsonValue(type, json), value);
    });
  }

  it("reads null as null and accepts other spellings", () => {
    assert.equal(fromJsonValue(primitive("int"), null), null);
    assert.equal(fromJsonValue(primitive("timestamptz"), "2017-11-16T14:31:08-08:00"), 1510871468000000n);
    assert.equal(fromJsonValue(primitive("timestamptz"), "2017-11-16T22:31:08Z"), 1510871468000000n);
    assert.equal(
      fromJsonValue(primitive("uuid"), "F79C3E09-677C-4BBD-A479-3F349CB785E7"),
      "f79c3e09-677c-4bbd-a479-3f349cb785e7",
    );
    assert.equal(fromJsonValue(decimal(9, 2), "14.2"), 1420n);
    assert.equal(fromJsonValue(primitive("date"), "1969-12-31"), -1);
    assert.equal(toJsonValue(primitive("timestamp"), -1n), "1969-12-31T23:59:59.999999");
  });

  it("keeps longs beyond 2^53 as bigint", () => {
    assert.equal(toJsonValue(primitive("long"), 3051729675574597004n), 3051729675574597004n);
    assert.equal(fromJsonValue(primitive("long"), 3051729675574597004n), 3051729675574597004n);
  });

  it("refuses malformed values", () => {
    assert.throws(
      () => fromJsonValue(primitive("timestamp"), "2017-11-16T22:31:08+00:00"),
      isCode("DATA_INVALID"),
    );
    assert.throws(
      () => fromJsonValue(primitive("timestamptz"), "2017-11-16T22:31:08"),
      isCode("DATA_INVALID"),
    );
    assert.throws(() => fromJsonValue(primitive("date"), "2017-02-30"), isCode("DATA_INVALID"));
    assert.throws(() => fromJsonValue(decimal(9, 2), "14.205"), isCode("DATA_INVALID"));
    assert.throws(() => fromJsonValue(primitive("int"), "34"), isCode("DATA_INVALID"));
    assert.throws(() => toJsonValue(primitive("double"), Number.NaN), isCode("DATA_INVALID"));
  });

  it("formats and parses decimal strings", () => {
    assert.equal(decimalToString(5n, 2), "0.05");
    assert.equal(decimalToString(-5n, 2), "-0.05");
    assert.equal(decimalToString(123n, 0), "123");
    assert.equal(decimalFromString("2E+20", 0), 200000000000000000000n);
    assert.equal(decimalFromString("-1.5", 3), -1500n);
  });
});

describe("bound truncation", () => {
  it("truncates string lower bounds to code points", () => {
    assert.equal(truncateStringLowerBound("iceberg", 3), "ice");
    assert.equal(truncateStringLowerBound("short"), "short");
    assert.equal(truncateStringLowerBound("a😀b", 2), "a😀");
    assert.equal(truncateStringLowerBound("abcdefghijklmnopqrstuvwxyz"), "abcdefghijklmnop");
  });

  it("increments the last code point of a truncated string upper bound", () => {
    assert.equal(truncateStringUpperBound("iceberg", 3), "icf");
    assert.equal(truncateStringUpperBound("ice", 3), "ice");
    assert.equal(truncateStringUpperBound("abcdefghijklmnopqrstuvwxyz"), "abcdefghijklmnoq");
    assert.equal(truncateStringUpperBound("a😀b", 2), "a😁");
    assert.equal(truncateStringUpperBound("a\u{10ffff}b", 2), "b");
    assert.equal(truncateStringUpperBound("a\ud7ffb", 2), "a\ue000");
    assert.equal(truncateStringUpperBound("\u{10ffff}\u{10ffff}x", 2), null);
  });

  it("truncates binary bounds to bytes", () => {
    assert.deepEqual(truncateBinaryLowerBound(bytes(1, 2, 3, 4, 5), 3), bytes(1, 2, 3));
    assert.deepEqual(truncateBinaryUpperBound(bytes(1, 2, 3, 4, 5), 3), bytes(1, 2, 4));
    assert.deepEqual(truncateBinaryUpperBound(bytes(1, 0xff, 0xff, 4), 3), bytes(2));
    assert.deepEqual(truncateBinaryUpperBound(bytes(1, 2), 3), bytes(1, 2));
    assert.equal(truncateBinaryUpperBound(bytes(0xff, 0xff, 1), 2), null);
  });

  it("refuses a non-positive length", () => {
    assert.throws(() => truncateStringLowerBound("abc", 0), isCode("DATA_INVALID"));
  });
});
