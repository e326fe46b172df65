import assert from "node:assert/strict";
import { test } from "node:test";
import { readTable } from "../../src/iceberg/reader.ts";
import { primitive } from "../../src/iceberg/types.ts";
import { createSinkTable } from "../../src/sink/auto-create.ts";
import type { Change } from "../../src/sink/change.ts";
import { committedPosition } from "../../src/sink/position.ts";
import { ChangelogTableWriter } from "../../src/sink/table-writer.ts";
import { localWarehouse } from "../helpers/tables.ts";
import { Model } from "./model.ts";

const id = { namespace: ["src"], name: "accounts_changes" };
const event = {
  columns: [
    { name: "id", type: primitive("long") },
    { name: "region", type: primitive("string") },
    { name: "qty", type: primitive("int") },
    { name: "note", type: primitive("string") },
  ],
  primaryKey: ["id"],
};

test("changelog mode appends every change with its op, position and commit time; restart skips what is committed", async (t) => {
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["src"]);
  await createSinkTable(catalog, id, event, { mode: "changelog" });
  const model = new Model(7);
  const all: Change[] = [];
  let writer = await ChangelogTableWriter.open({ catalog, identifier: id, bufferRows: 9 });
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 20; i++) {
      const change = model.change(15);
      all.push(change);
      await writer.write(change);
    }
    const result = await writer.commit();
    assert.equal(committedPosition(result.table), all.at(-1)!.position);
  }
  writer = await ChangelogTableWriter.open({ catalog, identifier: id });
  for (const change of all) assert.equal(await writer.write(change), false);

  const rows = await readTable(await catalog.loadTable(id));
  assert.equal(rows.length, all.length);
  const byPosition = new Map(rows.map((r) => [r._position, r]));
  for (const change of all) {
    const row = byPosition.get(change.position);
    assert.ok(row, change.position);
    assert.equal(row._op, change.op);
    assert.equal(row._commit_time, BigInt(change.commitTimeMs) * 1000n);
    const image = change.op === "d" ? change.before! : change.after!;
    assert.equal(row.id, image.id);
    assert.equal(row.qty, image.qty);
    // TOAST-unchanged columns were not sent: the changelog records null.
    assert.equal(row.note, change.unchangedColumns?.includes("note") ? null : image.note);
  }
});
