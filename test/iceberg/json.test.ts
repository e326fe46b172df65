// src/iceberg/json.ts: native-speed lossless JSON. lossless-json (a JS-level parser that never rounds)
// is the reference: on random documents full of what trips a digit-run scanner — long digit runs
// inside strings, escaped quotes and backslashes before them, decimals and exponents with many digits,
// negative and safe-but-long integers — both must parse to the same values and write the same text.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isInteger, isSafeNumber, parse, stringify } from "lossless-json";
import { IcebergError } from "../../src/iceberg/errors.ts";
import { parseJson, RawJson, stringifyJson } from "../../src/iceberg/json.ts";
import { rng } from "../sink/model.ts";

function referenceParse(text: string): unknown {
  return parse(text, null, (digits) =>
    isSafeNumber(digits) ? Number(digits) : isInteger(digits) ? BigInt(digits) : Number(digits),
  );
}

/** A random JSON value of the shapes metadata holds, with text that stresses the integer scanner. */
function randomValue(random: () => number, depth: number): unknown {
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  const digits = (n: number) =>
    Array.from({ length: n }, (_, i) => String(Math.floor(random() * 10) || (i === 0 ? 1 : 0))).join("");
  const kind =
    depth > 3
      ? pick(["number", "string", "bigint"])
      : pick(["object", "array", "number", "string", "bigint", "literal"]);
  switch (kind) {
    case "object": {
      const obj: Record<string, unknown> = {};
      const n = Math.floor(random() * 5);
      for (let i = 0; i < n; i++)
        obj[`${pick(["k", "snapshot-id", '"q', "\\"])}${digits(1 + Math.floor(random() * 20))}`] =
          randomValue(random, depth + 1);
      return obj;
    }
    case "array":
      return Array.from({ length: Math.floor(random() * 5) }, () => randomValue(random, depth + 1));
    case "bigint": {
      const value = BigInt(digits(16 + Math.floor(random() * 4))) * (random() < 0.3 ? -1n : 1n);
      // Integers of 16+ digits that still fit a double exactly stay numbers, as in the reference.
      return Number.isSafeInteger(Number(value)) ? Number(value) : value;
    }
    case "number":
      return pick([
        Number(digits(1 + Math.floor(random() * 15))),
        -Number(digits(3)),
        Number(`${digits(17)}.${digits(3)}`),
        Number(`0.${digits(20)}`),
        Number(`${digits(2)}e${digits(2)}`),
        0,
      ]);
    case "string":
      return Array.from({ length: Math.floor(random() * 6) }, () =>
        pick([digits(18), '"', "\\", '\\"', `": ${digits(19)}`, "snap-", "\u00e9", "\n", " -", digits(3)]),
      ).join("");
    default:
      return pick([true, false, null]);
  }
}

test("parses exactly what lossless-json parses and writes exactly what it writes, over 2000 random documents", () => {
  const random = rng(42);
  let bigints = 0;
  for (let i = 0; i < 2000; i++) {
    const value = { doc: randomValue(random, 0) };
    for (const indent of [undefined, 2]) {
      const reference = stringify(value, undefined, indent)!;
      assert.equal(stringifyJson(value, indent), reference);
      assert.deepEqual(parseJson(reference, "doc"), referenceParse(reference));
    }
    bigints += (stringify(value)!.match(/\d{16,}/g) ?? []).length;
  }
  assert.ok(bigints > 1000, `the documents held ${bigints} long digit runs`);
});

test("integers beyond 2^53 come back as bigints, inside strings they stay text", () => {
  const text =
    '{"id": 5046905793601075286, "neg": -9007199254740993, "safe": 9007199254740991, "s": "x\\" 5046905793601075286", "d": 12345678901234567.5, "e": 1e1234567890123456, "list": [9223372036854775807]}';
  assert.deepEqual(parseJson(text, "doc"), {
    id: 5046905793601075286n,
    neg: -9007199254740993n,
    safe: 9007199254740991,
    s: 'x" 5046905793601075286',
    d: Number("12345678901234567.5"), // a decimal stays a (rounded) number
    e: Number.POSITIVE_INFINITY,
    list: [9223372036854775807n],
  });
  assert.equal(
    stringifyJson({ id: 5046905793601075286n, list: [-1n] }),
    '{"id":5046905793601075286,"list":[-1]}',
  );
});

test("RawJson is spliced in verbatim, with bigints around it", () => {
  const text = stringifyJson(
    { a: 1n, raw: [new RawJson('{"x": 12345678901234567890}'), new RawJson("[]")], b: "$1" },
    2,
  );
  assert.equal(
    text,
    '{\n  "a": 1,\n  "raw": [\n    {"x": 12345678901234567890},\n    []\n  ],\n  "b": "$1"\n}',
  );
});

test("text that is not JSON is DATA_INVALID naming the document", () => {
  for (const bad of ["{ not json", '{"a": 12345678901234567890', '"unterminated 12345678901234567890', ""]) {
    assert.throws(
      () => parseJson(bad, "s3://b/t/metadata/00001-x.metadata.json"),
      (e: unknown) => e instanceof IcebergError && e.code === "DATA_INVALID" && e.message.includes("00001-x"),
      bad,
    );
  }
});
