// Issue #7's first acceptance with the real sink writer: upsert rounds (position deletes) keep landing
// while compaction passes run between rounds and in the middle of a round (after the writer prepared,
// before it commits). After every step the table equals the model row by row, compaction leaves the
// table with few files and no delete files, and at the end pyiceberg and DuckDB read exactly the model.
import assert from "node:assert/strict";
import { test } from "node:test";
import { readTable } from "../../src/iceberg/reader.ts";
import { planScan } from "../../src/iceberg/scan.ts";
import { compactTable } from "../../src/maintenance/compaction.ts";
import { UpsertTableWriter } from "../../src/sink/table-writer.ts";
import { runReader } from "../helpers/python.ts";
import { localWarehouse } from "../helpers/tables.ts";
import { accountsSchema, Model, sortRows } from "../sink/model.ts";

const id = { namespace: ["src"], name: "accounts" };

test("compaction runs repeatedly while the sink streams upserts and deletes; the table always equals the model", async (t) => {
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["src"]);
  await catalog.createTable(id, { schema: accountsSchema });
  const writer = await UpsertTableWriter.open({ catalog, identifier: id, bufferRows: 50 });
  t.after(() => writer.close());
  const model = new Model(7);
  const check = async (what: string) =>
    assert.deepEqual(sortRows(await readTable(await catalog.loadTable(id))), model.expected(), what);
  // Compact on evidence as small as this test makes it.
  const compactionOptions = { minInputFiles: 2, deleteFileThreshold: 1 };

  let compactions = 0;
  for (let round = 0; round < 12; round++) {
    for (let i = 0; i < 25; i++) await writer.write(model.change(60));
    if (round % 3 === 2) {
      // Mid-round: compaction commits while the writer's round is prepared but not committed.
      await writer.flush();
      const result = await compactTable(catalog, await catalog.loadTable(id), compactionOptions);
      if (result.rewrittenDataFiles > 0) compactions++;
    }
    await writer.commit();
    await check(`after round ${round}`);
    if (round % 4 === 3) {
      const result = await compactTable(catalog, await catalog.loadTable(id), compactionOptions);
      if (result.rewrittenDataFiles > 0) compactions++;
      await check(`after compaction following round ${round}`);
    }
  }
  assert.ok(compactions >= 3, `compaction rewrote files in ${compactions} passes`);

  const final = await compactTable(catalog, await catalog.loadTable(id), compactionOptions);
  const table = await catalog.loadTable(id);
  const plan = await planScan(table);
  assert.ok(plan.tasks.length <= 2, `${plan.tasks.length} data files after a final pass`);
  assert.equal(plan.tasks.flatMap((task) => task.deletes).length, 0, "no delete files remain");
  assert.ok(final.rewrittenDataFiles >= 0);
  await check("after the final pass");

  const expected = model
    .expected()
    .map((row) =>
      Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === "bigint" ? Number(v) : v])),
    );
  const byJson = (rows: unknown[]) =>
    rows.map((r) => JSON.stringify(r, Object.keys(r as object).sort())).sort();
  assert.deepEqual(byJson(runReader<unknown[]>("pyiceberg-scan", table.metadataLocation)), byJson(expected));
  assert.deepEqual(byJson(runReader<unknown[]>("duckdb-scan", table.metadataLocation)), byJson(expected));
});
