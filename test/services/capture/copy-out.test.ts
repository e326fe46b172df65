// COPY … TO STDOUT read off pg's socket against the real PostgreSQL: every row in order (also when a
// notice interrupts the rows and pg's parser takes over), the outcome known before the rows are read,
// an error in the middle of the rows, and the connection usable after each.
import assert from "node:assert/strict";
import { test } from "node:test";
import type pg from "pg";
import { copyOut } from "../../../src/capture/copy-out.ts";
import { CopyTextReader } from "../../../src/capture/copy-text.ts";
import { textClient } from "../../../src/capture/snapshot.ts";
import { createTestDatabase, defer } from "../../helpers/services.ts";

async function client(t: Parameters<typeof createTestDatabase>[0]): Promise<pg.Client> {
  const url = await createTestDatabase(t);
  const sql = textClient(url);
  await sql.connect();
  defer(t, () => sql.end());
  await sql.query(`
    create function noisy(g int) returns int language plpgsql as $$
    begin
      if g % 20000 = 0 then raise notice 'row %', g; end if;
      if g = -1 then raise exception 'row % is broken', g; end if;
      return 1 / (g + 100000);
    end $$;`);
  return sql;
}

/** Reads a COPY's rows as [g, text] pairs. */
async function rowsOf(sql: pg.Client, query: string): Promise<Array<[string | null, string | null]>> {
  const rows: Array<[string | null, string | null]> = [];
  const reader = new CopyTextReader(2, (fields) => rows.push([fields[0] ?? null, fields[1] ?? null]));
  for await (const bytes of copyOut(sql, query)) reader.push(bytes);
  reader.end();
  return rows;
}

const wide = (count: number) => `select g, repeat(E'x\\t', g % 50) || g from generate_series(1, ${count}) g`;
const expected = (count: number) =>
  Array.from({ length: count }, (_, index) => {
    const g = index + 1;
    return [String(g), `${"x\t".repeat(g % 50)}${g}`];
  });

test("every row in order across many socket reads; the outcome is known when the server is done", async (t) => {
  const sql = await client(t);
  assert.deepEqual(await rowsOf(sql, wide(50_000)), expected(50_000));
  const copy = copyOut(sql, wide(3));
  const outcome = await copy.completed; // before anything was read
  assert.equal(outcome.rows, 3);
  assert.equal(outcome.lastRow?.toString(), `3\t${"x\\t".repeat(3)}3\n`);
  const reader = new CopyTextReader(2, () => {});
  for await (const bytes of copy) reader.push(bytes);
  assert.equal(reader.rows, 3);
  assert.equal((await copyOut(sql, "select 1, 2 where false").completed).lastRow, null);
  assert.deepEqual((await sql.query("select 42 as v")).rows, [{ v: "42" }], "the connection is pg's again");
});

test("notices among the rows hand the socket back to pg, which delivers the rest", async (t) => {
  const sql = await client(t);
  const notices: string[] = [];
  sql.on("notice", (notice) => notices.push(notice.message ?? ""));
  const rows = await rowsOf(sql, "select g, noisy(g) from generate_series(1, 60000) g");
  assert.deepEqual(notices, ["row 20000", "row 40000", "row 60000"]);
  assert.equal(rows.length, 60_000);
  assert.deepEqual(
    rows.map(([g]) => g),
    Array.from({ length: 60_000 }, (_, index) => String(index + 1)),
  );
  assert.deepEqual((await sql.query("select 42 as v")).rows, [{ v: "42" }]);
});

test("an error in the middle of the rows is thrown after the rows before it", async (t) => {
  const sql = await client(t);
  const rows: string[] = [];
  const reader = new CopyTextReader(2, (fields) => rows.push(fields[0] ?? ""));
  const copy = copyOut(
    sql,
    "select g, noisy(case when g = 30000 then -1 else g end) from generate_series(1, 50000) g",
  );
  await assert.rejects(
    (async () => {
      for await (const bytes of copy) reader.push(bytes);
    })(),
    /row -1 is broken/,
  );
  await assert.rejects(copy.completed, /row -1 is broken/);
  assert.ok(rows.length < 30_000, "nothing after the failing row");
  assert.deepEqual(
    rows,
    Array.from({ length: rows.length }, (_, index) => String(index + 1)),
  );
  assert.deepEqual((await sql.query("select 42 as v")).rows, [{ v: "42" }]);
});
