// The COPY text format reader: escapes, NULL, rows and characters cut anywhere between pushes, and
// malformed rows as PROTOCOL_ERROR.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CopyTextReader } from "../../src/capture/copy-text.ts";
import { CaptureError } from "../../src/capture/errors.ts";

function readAll(columns: number, pieces: Buffer[]): Array<Array<string | null>> {
  const rows: Array<Array<string | null>> = [];
  const reader = new CopyTextReader(columns, (fields) => rows.push([...fields]));
  for (const piece of pieces) reader.push(piece);
  reader.end();
  return rows;
}

// What COPY TO writes for these rows (escapes as PostgreSQL's CopyAttributeOutText produces them).
const wire = [
  "1\tplain\t\\N\n",
  "2\ttab\\there\\nnewline\\rcr\t\\\\N\n", // the text `\N` is escaped, NULL is not
  "3\tback\\\\slash \\b\\f\\v end\t\n", // an empty string is an empty field
  '4\tünïcödé ✓ 🐘\t{"a": "x\\\\ty"}\n',
].join("");
const expected = [
  ["1", "plain", null],
  ["2", "tab\there\nnewline\rcr", "\\N"],
  ["3", "back\\slash \b\f\v end", ""],
  ["4", "ünïcödé ✓ 🐘", '{"a": "x\\ty"}'],
];

test("fields are unescaped; \\N alone is NULL", () => {
  assert.deepEqual(readAll(3, [Buffer.from(wire)]), expected);
});

test("rows and multi-byte characters cut at any byte between pushes read the same", () => {
  const bytes = Buffer.from(wire);
  for (let cut = 0; cut <= bytes.length; cut++)
    assert.deepEqual(readAll(3, [bytes.subarray(0, cut), bytes.subarray(cut)]), expected, `cut at ${cut}`);
  // One byte at a time: every row waits for its newline across many pushes.
  assert.deepEqual(
    readAll(
      3,
      Array.from(bytes, (byte) => Buffer.from([byte])),
    ),
    expected,
  );
});

test("a single column and a table without columns", () => {
  assert.deepEqual(readAll(1, [Buffer.from("a\n\\N\n\n")]), [["a"], [null], [""]]);
  assert.equal(readAll(0, [Buffer.from("\n\n\n")]).length, 3);
});

test("a row with too few or too many fields, or cut off at the end, is PROTOCOL_ERROR", () => {
  const protocolError = (pattern: RegExp) => (error: unknown) =>
    error instanceof CaptureError && error.code === "PROTOCOL_ERROR" && pattern.test(error.message);
  assert.throws(
    () => readAll(3, [Buffer.from("1\t2\n")]),
    protocolError(/row 1 has only 2 fields, expected 3/),
  );
  assert.throws(() => readAll(2, [Buffer.from("1\t2\n1\t2\t3\n")]), protocolError(/row 2 has more fields/));
  assert.throws(() => readAll(2, [Buffer.from("1\t2\n3\t")]), protocolError(/ended inside a row/));
});
