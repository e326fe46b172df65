import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isoDateToDays, isoTimeToMicros, isoToTimestamp } from "../../src/iceberg/conversions.ts";
import { IcebergError } from "../../src/iceberg/errors.ts";
import {
  applyTransform,
  bucket,
  canTransform,
  hashValue,
  murmur3Hash,
  parseTransform,
  preservesOrder,
  resultType,
  type Transform,
  toHumanString,
  transformToString,
  truncate,
} from "../../src/iceberg/transforms.ts";
import { decimal, fixed, type PrimitiveType, primitive } from "../../src/iceberg/types.ts";

const isCode = (code: string) => (error: unknown) => error instanceof IcebergError && error.code === code;
const ts = (text: string) => isoToTimestamp(text, "us", false);
const tstz = (text: string) => isoToTimestamp(text, "us", true);
const tsns = (text: string) => isoToTimestamp(text, "ns", false);
const tstzns = (text: string) => isoToTimestamp(text, "ns", true);

// Appendix B: [type, value, hash, bucket[16]].
const hashVectors: [string, PrimitiveType, Parameters<typeof hashValue>[1], number, number][] = [
  ["int 34", primitive("int"), 34, 2017239379, 3],
  ["long 34L", primitive("long"), 34n, 2017239379, 3],
  ["decimal 14.20", decimal(9, 2), 1420n, -500754589, 3],
  ["date 2017-11-16", primitive("date"), isoDateToDays("2017-11-16"), -653330422, 10],
  ["time 22:31:08", primitive("time"), isoTimeToMicros("22:31:08"), -662762989, 3],
  ["timestamp", primitive("timestamp"), ts("2017-11-16T22:31:08"), -2047944441, 7],
  ["timestamp +1µs", primitive("timestamp"), ts("2017-11-16T22:31:08.000001"), -1207196810, 6],
  ["timestamptz", primitive("timestamptz"), tstz("2017-11-16T14:31:08-08:00"), -2047944441, 7],
  ["timestamptz +1µs", primitive("timestamptz"), tstz("2017-11-16T14:31:08.000001-08:00"), -1207196810, 6],
  ["timestamp_ns", primitive("timestamp_ns"), tsns("2017-11-16T22:31:08"), -2047944441, 7],
  ["timestamp_ns +1001ns", primitive("timestamp_ns"), tsns("2017-11-16T22:31:08.000001001"), -1207196810, 6],
  ["timestamptz_ns", primitive("timestamptz_ns"), tstzns("2017-11-16T14:31:08-08:00"), -2047944441, 7],
  [
    "timestamptz_ns +1001ns",
    primitive("timestamptz_ns"),
    tstzns("2017-11-16T14:31:08.000001001-08:00"),
    -1207196810,
    6,
  ],
  ["string iceberg", primitive("string"), "iceberg", 1210000089, 9],
  ["uuid", primitive("uuid"), "f79c3e09-677c-4bbd-a479-3f349cb785e7", 1488055340, 12],
  ["fixed 00 01 02 03", fixed(4), Uint8Array.of(0, 1, 2, 3), -188683207, 9],
  ["binary 00 01 02 03", primitive("binary"), Uint8Array.of(0, 1, 2, 3), -188683207, 9],
];

describe("murmur3 hash (Appendix B)", () => {
  for (const [name, type, value, hash, bucket16] of hashVectors) {
    it(`hashes ${name} to ${hash} and bucket[16] ${bucket16}`, () => {
      assert.equal(hashValue(type, value), hash);
      assert.equal(applyTransform(bucket(16), type, value), bucket16);
    });
  }

  it("hashes the types not valid for bucketing as the spec lists", () => {
    assert.equal(hashValue(primitive("boolean"), true), 1392991556);
    assert.equal(hashValue(primitive("float"), 1), -142385009);
    assert.equal(hashValue(primitive("float"), 0), 1669671676);
    assert.equal(hashValue(primitive("float"), -0), 1669671676);
    assert.equal(hashValue(primitive("double"), 1), -142385009);
    assert.equal(hashValue(primitive("double"), -0), 1669671676);
  });

  it("hashes an int and the string of its digits differently (spec schema evolution note)", () => {
    assert.equal(hashValue(primitive("string"), "34"), -427558391);
  });

  it("hashes raw bytes as Murmur3 x86 32-bit with seed 0", () => {
    assert.equal(murmur3Hash(new Uint8Array(0)), 0);
    assert.equal(murmur3Hash(new TextEncoder().encode("iceberg")), 1210000089);
  });

  it("takes bucket of the hash with the sign bit dropped", () => {
    assert.equal(applyTransform(bucket(100), decimal(9, 2), 1420n), 59);
    assert.equal(applyTransform(bucket(100), primitive("int"), 34), 79);
    assert.equal(applyTransform(bucket(1), primitive("string"), "x"), 0);
  });
});

describe("transform strings", () => {
  it("parses and prints every transform", () => {
    for (const text of ["identity", "bucket[16]", "truncate[4]", "year", "month", "day", "hour", "void"]) {
      assert.equal(transformToString(parseTransform(text)), text);
    }
    assert.deepEqual(parseTransform("bucket[16]"), { kind: "bucket", numBuckets: 16 });
    assert.deepEqual(parseTransform("truncate[ 20 ]"), { kind: "truncate", width: 20 });
  });

  it("keeps unknown transforms as read", () => {
    const unknown = parseTransform("zorder");
    assert.deepEqual(unknown, { kind: "unknown", text: "zorder" });
    assert.equal(transformToString(unknown), "zorder");
    assert.equal(canTransform(unknown, primitive("int")), false);
    assert.throws(() => applyTransform(unknown, primitive("int"), 1), isCode("FEATURE_UNSUPPORTED"));
  });

  it("refuses bad parameters", () => {
    assert.throws(() => parseTransform("bucket[0]"), isCode("DATA_INVALID"));
    assert.throws(() => truncate(-1), isCode("DATA_INVALID"));
  });
});

describe("source and result types", () => {
  const cases: [Transform, PrimitiveType, boolean, string | undefined][] = [
    [parseTransform("identity"), primitive("double"), true, "double"],
    [parseTransform("bucket[4]"), primitive("uuid"), true, "int"],
    [parseTransform("bucket[4]"), primitive("float"), false, undefined],
    [parseTransform("bucket[4]"), primitive("boolean"), false, undefined],
    [parseTransform("truncate[4]"), decimal(9, 2), true, "decimal(9,2)"],
    [parseTransform("truncate[4]"), primitive("uuid"), false, undefined],
    [parseTransform("truncate[4]"), fixed(3), false, undefined],
    [parseTransform("year"), primitive("date"), true, "int"],
    [parseTransform("month"), primitive("timestamptz_ns"), true, "int"],
    [parseTransform("day"), primitive("timestamp"), true, "date"],
    [parseTransform("hour"), primitive("date"), false, undefined],
    [parseTransform("hour"), primitive("timestamptz"), true, "int"],
    [parseTransform("void"), primitive("string"), true, "string"],
  ];
  for (const [transform, source, allowed, result] of cases) {
    it(`${transformToString(transform)} on ${source.kind}: ${allowed ? result : "not allowed"}`, () => {
      assert.equal(canTransform(transform, source), allowed);
      if (result === undefined) assert.throws(() => resultType(transform, source), isCode("DATA_INVALID"));
      else {
        const type = resultType(transform, source);
        assert.equal(
          type.kind === "decimal" ? `decimal(${type.precision},${type.scale})` : type.kind,
          result,
        );
      }
    });
  }

  it("refuses nested sources for identity", () => {
    assert.equal(canTransform(parseTransform("identity"), { kind: "struct", fields: [] }), false);
  });

  it("knows which transforms preserve order", () => {
    const preserving = ["identity", "truncate[2]", "year", "month", "day", "hour"];
    for (const text of preserving) assert.equal(preservesOrder(parseTransform(text)), true, text);
    for (const text of ["bucket[2]", "void", "zorder"])
      assert.equal(preservesOrder(parseTransform(text)), false, text);
  });
});

describe("applying transforms", () => {
  it("passes nulls through every transform", () => {
    for (const text of ["identity", "bucket[4]", "year", "month", "day", "void"]) {
      assert.equal(applyTransform(parseTransform(text), primitive("date"), null), null);
    }
    assert.equal(applyTransform(truncate(4), primitive("string"), undefined), null);
    assert.equal(applyTransform(parseTransform("void"), primitive("string"), "x"), null);
  });

  it("truncates per the spec's examples", () => {
    assert.equal(applyTransform(truncate(10), primitive("int"), 1), 0);
    assert.equal(applyTransform(truncate(10), primitive("int"), -1), -10);
    assert.equal(applyTransform(truncate(10), primitive("long"), 1n), 0n);
    assert.equal(applyTransform(truncate(10), primitive("long"), -1n), -10n);
    assert.equal(applyTransform(truncate(50), decimal(9, 2), 1065n), 1050n); // 10.65 → 10.50
    assert.equal(applyTransform(truncate(3), primitive("string"), "iceberg"), "ice");
    assert.equal(applyTransform(truncate(2), primitive("string"), "😀😁😂"), "😀😁");
    assert.deepEqual(
      applyTransform(truncate(3), primitive("binary"), Uint8Array.of(1, 2, 3, 4, 5)),
      Uint8Array.of(1, 2, 3),
    );
  });

  it("extracts years, months, days and hours since 1970", () => {
    const date = isoDateToDays("2017-11-16");
    assert.equal(applyTransform(parseTransform("year"), primitive("date"), date), 47);
    assert.equal(applyTransform(parseTransform("month"), primitive("date"), date), 574);
    assert.equal(applyTransform(parseTransform("day"), primitive("date"), date), 17486);
    const micros = ts("2017-11-16T22:31:08");
    assert.equal(applyTransform(parseTransform("year"), primitive("timestamp"), micros), 47);
    assert.equal(applyTransform(parseTransform("month"), primitive("timestamp"), micros), 574);
    assert.equal(applyTransform(parseTransform("day"), primitive("timestamp"), micros), 17486);
    assert.equal(applyTransform(parseTransform("hour"), primitive("timestamp"), micros), 17486 * 24 + 22);
    const nanos = tsns("2017-11-16T22:31:08.000000001");
    assert.equal(applyTransform(parseTransform("hour"), primitive("timestamp_ns"), nanos), 17486 * 24 + 22);
  });

  it("rounds pre-epoch values down", () => {
    const justBefore = ts("1969-12-31T23:59:59.999999");
    assert.equal(applyTransform(parseTransform("year"), primitive("timestamp"), justBefore), -1);
    assert.equal(applyTransform(parseTransform("month"), primitive("timestamp"), justBefore), -1);
    assert.equal(applyTransform(parseTransform("day"), primitive("timestamp"), justBefore), -1);
    assert.equal(applyTransform(parseTransform("hour"), primitive("timestamp"), justBefore), -1);
  });

  it("refuses a value of the wrong JS type", () => {
    assert.throws(() => applyTransform(bucket(4), primitive("long"), "34"), isCode("DATA_INVALID"));
    assert.throws(() => applyTransform(parseTransform("hour"), primitive("date"), 1), isCode("DATA_INVALID"));
  });
});

describe("human strings for partition paths", () => {
  it("prints time transforms as dates and hours", () => {
    assert.equal(toHumanString(parseTransform("year"), primitive("date"), 47), "2017");
    assert.equal(toHumanString(parseTransform("month"), primitive("date"), 574), "2017-11");
    assert.equal(toHumanString(parseTransform("month"), primitive("date"), -1), "1969-12");
    assert.equal(toHumanString(parseTransform("day"), primitive("timestamp"), 17486), "2017-11-16");
    assert.equal(
      toHumanString(parseTransform("hour"), primitive("timestamp"), 17486 * 24 + 22),
      "2017-11-16-22",
    );
    assert.equal(toHumanString(parseTransform("hour"), primitive("timestamp"), -1), "1969-12-31-23");
  });

  it("prints identity values in their ISO or base64 forms", () => {
    const identity = parseTransform("identity");
    assert.equal(toHumanString(identity, primitive("date"), 17486), "2017-11-16");
    assert.equal(
      toHumanString(identity, primitive("timestamp"), ts("2017-11-16T22:31:08")),
      "2017-11-16T22:31:08",
    );
    assert.equal(
      toHumanString(identity, primitive("timestamptz"), ts("2017-11-16T22:31:08.12")),
      "2017-11-16T22:31:08.12+00:00",
    );
    assert.equal(toHumanString(identity, primitive("time"), isoTimeToMicros("22:31:00")), "22:31");
    assert.equal(toHumanString(identity, primitive("time"), isoTimeToMicros("22:31:08.5")), "22:31:08.500");
    assert.equal(toHumanString(identity, decimal(9, 2), 1420n), "14.20");
    assert.equal(toHumanString(identity, primitive("binary"), Uint8Array.of(0, 1, 2, 3)), "AAECAw==");
    assert.equal(toHumanString(identity, primitive("long"), 34n), "34");
    assert.equal(toHumanString(identity, primitive("boolean"), true), "true");
    assert.equal(toHumanString(bucket(16), primitive("string"), 3), "3");
    assert.equal(toHumanString(identity, primitive("string"), null), "null");
  });
});
