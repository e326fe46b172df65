// Tables written by the sink's writers, read by independent engines: after several upsert rounds
// (position deletes: pyiceberg and DuckDB; equality deletes: DuckDB) and a changelog, every engine must
// return exactly the rows of the model the changes were drawn from.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Catalog } from "../../src/catalog/catalog.ts";
import type { Row } from "../../src/iceberg/parquet-writer.ts";
import { primitive } from "../../src/iceberg/types.ts";
import { createSinkTable, type EventSchema } from "../../src/sink/auto-create.ts";
import { ChangelogTableWriter, type DeleteMode, UpsertTableWriter } from "../../src/sink/table-writer.ts";
import { runReader } from "../helpers/python.ts";
import { localWarehouse } from "../helpers/tables.ts";
import { Model } from "../sink/model.ts";

const event: EventSchema = {
  columns: [
    { name: "id", type: primitive("long") },
    { name: "region", type: primitive("string") },
    { name: "qty", type: primitive("int") },
    { name: "note", type: primitive("string") },
  ],
  primaryKey: ["id"],
};

/** As the Python readers print rows (longs as numbers), ordered by id. */
function normalise(rows: Row[]): Row[] {
  return rows
    .map((row) =>
      Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === "bigint" ? Number(v) : v])),
    )
    .sort((a, b) => Number(a.id) - Number(b.id) || String(a._position).localeCompare(String(b._position)));
}

async function upsertRounds(catalog: Catalog, name: string, deleteMode: DeleteMode, seed: number) {
  const identifier = { namespace: ["src"], name };
  await createSinkTable(catalog, identifier, event);
  const writer = await UpsertTableWriter.open({ catalog, identifier, deleteMode, bufferRows: 10 });
  const model = new Model(seed);
  let metadataLocation = "";
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 40; i++) {
      const change = model.change(30);
      if (deleteMode === "equality" && change.unchangedColumns && change.after) {
        change.after = { ...change.after, note: model.rows.get(change.after.id as bigint)?.note ?? null };
        delete change.unchangedColumns;
      }
      await writer.write(change);
    }
    metadataLocation = (await writer.commit()).table.metadataLocation;
  }
  await writer.close();
  return { metadataLocation, expected: normalise(model.expected()) };
}

test("upsert tables with position deletes read the same in pyiceberg and DuckDB", async (t) => {
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["src"]);
  const { metadataLocation, expected } = await upsertRounds(catalog, "accounts", "position", 11);
  assert.deepEqual(normalise(runReader<Row[]>("pyiceberg-scan", metadataLocation)), expected, "pyiceberg");
  assert.deepEqual(normalise(runReader<Row[]>("duckdb-scan", metadataLocation)), expected, "duckdb");
});

test("upsert tables with equality deletes read the same in DuckDB", async (t) => {
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["src"]);
  const { metadataLocation, expected } = await upsertRounds(catalog, "accounts_eq", "equality", 12);
  assert.deepEqual(normalise(runReader<Row[]>("duckdb-scan", metadataLocation)), expected, "duckdb");
});

test("changelog tables read the same in pyiceberg (DuckDB's Python client needs pytz for timestamptz)", async (t) => {
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["src"]);
  const identifier = { namespace: ["src"], name: "accounts_changes" };
  await createSinkTable(catalog, identifier, event, { mode: "changelog" });
  const writer = await ChangelogTableWriter.open({ catalog, identifier, bufferRows: 15 });
  const model = new Model(13);
  const expected: Row[] = [];
  let metadataLocation = "";
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 25; i++) {
      const change = model.change(20);
      await writer.write(change);
      const image = { ...(change.op === "d" ? change.before! : change.after!) };
      for (const name of change.unchangedColumns ?? []) image[name] = null;
      expected.push({ ...image, _op: change.op, _position: change.position });
    }
    metadataLocation = (await writer.commit()).table.metadataLocation;
  }
  const rows = runReader<Row[]>("pyiceberg-scan", metadataLocation);
  assert.ok(rows.every((r) => typeof r._commit_time === "string"));
  const withoutTime = rows.map(({ _commit_time, ...rest }) => rest);
  assert.deepEqual(normalise(withoutTime), normalise(expected));
});
