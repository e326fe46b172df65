// The independent readers themselves: a table pyiceberg writes (appends + a delete) reads back the same
// through pyiceberg and through DuckDB's iceberg extension. Floe's tables are checked with these readers.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runReader } from "../helpers/python.ts";

test("pyiceberg and DuckDB read the same rows from a pyiceberg-written table", (t) => {
  const warehouse = mkdtempSync(join(tmpdir(), "floe-interop-"));
  t.after(() => rmSync(warehouse, { recursive: true, force: true }));
  const fixture = runReader<{ metadata: string; rows: unknown[] }>("pyiceberg-write-fixture", warehouse);
  const expected = [
    { id: 1, name: "ada", price: "1.50", day: "2024-01-01" },
    { id: 3, name: null, price: null, day: "2024-01-03" },
    { id: 4, name: "dan", price: "9.99", day: "2024-01-04" },
  ];
  assert.deepEqual(fixture.rows, expected);
  assert.deepEqual(runReader("pyiceberg-scan", fixture.metadata), expected);
  assert.deepEqual(runReader("duckdb-scan", fixture.metadata), expected);
});
