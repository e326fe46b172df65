import assert from "node:assert/strict";
import { test } from "node:test";
import type { Catalog } from "../../src/catalog/catalog.ts";
import { equal } from "../../src/iceberg/expressions.ts";
import { RowDelta } from "../../src/iceberg/operations/row-delta.ts";
import { readTable } from "../../src/iceberg/reader.ts";
import { planScan } from "../../src/iceberg/scan.ts";
import { identity } from "../../src/iceberg/transforms.ts";
import { comparePositions } from "../../src/sink/change.ts";
import { SinkError } from "../../src/sink/errors.ts";
import { committedPosition } from "../../src/sink/position.ts";
import {
  SINK_ID_PROPERTY,
  UpsertTableWriter,
  type UpsertTableWriterOptions,
} from "../../src/sink/table-writer.ts";
import { localWarehouse } from "../helpers/tables.ts";
import { compactEverything } from "./compact.ts";
import { accountsSchema, Model, sortRows } from "./model.ts";

const id = { namespace: ["src"], name: "accounts" };

async function setup(t: Parameters<typeof localWarehouse>[0], partitioned = false) {
  const warehouse = localWarehouse(t);
  await warehouse.catalog.createNamespace(["src"]);
  await warehouse.catalog.createTable(id, {
    schema: accountsSchema,
    spec: partitioned
      ? { specId: 0, fields: [{ sourceId: 2, fieldId: 1000, name: "region", transform: identity }] }
      : undefined,
  });
  return warehouse;
}

async function tableRows(catalog: Catalog): Promise<unknown[]> {
  return sortRows(await readTable(await catalog.loadTable(id)));
}

async function runRounds(
  writer: UpsertTableWriter,
  model: Model,
  catalog: Catalog,
  rounds: number,
  changesPerRound: number,
  keySpace = 40,
) {
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < changesPerRound; i++) assert.equal(await writer.write(model.change(keySpace)), true);
    const result = await writer.commit();
    assert.ok(result.snapshotId !== undefined);
    assert.deepEqual(await tableRows(catalog), model.expected(), `round ${round}`);
    assert.equal(committedPosition(result.table), result.sourcePosition);
  }
}

const small: Partial<UpsertTableWriterOptions> = { bufferRows: 7, keyIndex: { memoryLimitEntries: 10 } };

test("upsert with position deletes: the table equals the model after every round (mid-round flushes, spilled index)", async (t) => {
  const { catalog } = await setup(t);
  const writer = await UpsertTableWriter.open({ catalog, identifier: id, ...small });
  t.after(() => writer.close());
  const model = new Model(1);
  await runRounds(writer, model, catalog, 6, 40);
  assert.equal(writer.indexedKeys, model.rows.size);
  // Readers get position deletes only.
  const plan = await planScan(await catalog.loadTable(id));
  assert.ok(plan.tasks.some((task) => task.deletes.length > 0));
  assert.ok(plan.tasks.every((task) => task.deletes.every((d) => d.content === 1)));
});

test("upsert on a partitioned table: rows moving between partitions", async (t) => {
  const { catalog } = await setup(t, true);
  const writer = await UpsertTableWriter.open({ catalog, identifier: id, bufferRows: 5 });
  t.after(() => writer.close());
  await runRounds(writer, new Model(2), catalog, 4, 30, 20);
});

test("restart: a new writer reads the committed position back, skips replayed changes and rebuilds the index", async (t) => {
  const { catalog } = await setup(t);
  const model = new Model(3);
  const first = await UpsertTableWriter.open({ catalog, identifier: id, ...small });
  const replay = [];
  for (let i = 0; i < 30; i++) {
    const change = model.change(30);
    replay.push(change);
    await first.write(change);
  }
  const committed = await first.commit();
  // Changes after the commit are lost with the crash; the source resends them.
  const lostModel = new Map(model.rows);
  await first.close();

  const second = await UpsertTableWriter.open({ catalog, identifier: id, ...small });
  t.after(() => second.close());
  assert.equal(second.committedPosition, committed.sourcePosition);
  assert.equal(second.indexedKeys, lostModel.size);
  for (const change of replay) assert.equal(await second.write(change), false);
  await runRounds(second, model, catalog, 3, 30, 30);
});

test("an update with TOAST-unchanged columns keeps the stored value (from the table, and from the round)", async (t) => {
  const { catalog } = await setup(t);
  const writer = await UpsertTableWriter.open({ catalog, identifier: id, bufferRows: 2 });
  t.after(() => writer.close());
  const at = (n: number) => `0/${(0x100 + n).toString(16)}`;
  await writer.write({
    op: "c",
    key: { id: 1n },
    after: { id: 1n, region: "eu", qty: 1, note: "big text" },
    position: at(1),
    commitTimeMs: 0,
  });
  await writer.write({
    op: "c",
    key: { id: 2n },
    after: { id: 2n, region: "us", qty: 2, note: "other" },
    position: at(2),
    commitTimeMs: 0,
  });
  await writer.commit();
  // From the committed row.
  await writer.write({
    op: "u",
    key: { id: 1n },
    after: { id: 1n, region: "ap", qty: 10 },
    unchangedColumns: ["note"],
    position: at(3),
    commitTimeMs: 0,
  });
  // From the buffer, then (bufferRows 2) from a file of this round.
  await writer.write({
    op: "c",
    key: { id: 3n },
    after: { id: 3n, region: "eu", qty: 3, note: "third" },
    position: at(4),
    commitTimeMs: 0,
  });
  await writer.write({
    op: "u",
    key: { id: 3n },
    after: { id: 3n, region: "eu", qty: 30 },
    unchangedColumns: ["note"],
    position: at(5),
    commitTimeMs: 0,
  });
  await writer.write({
    op: "u",
    key: { id: 3n },
    after: { id: 3n, region: "us", qty: 31 },
    unchangedColumns: ["note"],
    position: at(6),
    commitTimeMs: 0,
  });
  await writer.commit();
  assert.deepEqual(await tableRows(catalog), [
    { id: 1n, region: "ap", qty: 10, note: "big text" },
    { id: 2n, region: "us", qty: 2, note: "other" },
    { id: 3n, region: "us", qty: 31, note: "third" },
  ]);
});

test("a primary key change as delete + create, and as an update with another key before", async (t) => {
  const { catalog } = await setup(t);
  const writer = await UpsertTableWriter.open({ catalog, identifier: id });
  t.after(() => writer.close());
  const row = (n: bigint, qty: number) => ({ id: n, region: "eu", qty, note: null });
  await writer.write({ op: "c", key: { id: 1n }, after: row(1n, 1), position: "0/1", commitTimeMs: 0 });
  await writer.write({ op: "c", key: { id: 2n }, after: row(2n, 2), position: "0/2", commitTimeMs: 0 });
  await writer.commit();
  await writer.write({ op: "d", key: { id: 1n }, before: row(1n, 1), position: "0/3", commitTimeMs: 0 });
  await writer.write({ op: "c", key: { id: 11n }, after: row(11n, 1), position: "0/3#1", commitTimeMs: 0 });
  await writer.write({
    op: "u",
    key: { id: 12n },
    before: row(2n, 2),
    after: row(12n, 2),
    position: "0/4",
    commitTimeMs: 0,
  });
  await writer.commit();
  assert.deepEqual(await tableRows(catalog), [row(11n, 1), row(12n, 2)]);
});

test("a primary key change that left TOASTed columns unchanged takes them from the old key's row", async (t) => {
  // Capture sends the move as delete(old) + create(new, before = old key, unchanged_columns); direct mode
  // merges the two into one update with the old key in `before`. Both orders, the old row committed,
  // buffered (inserted or updated in this round) or in an earlier flush of the round, chains of moves.
  const { catalog } = await setup(t);
  const writer = await UpsertTableWriter.open({ catalog, identifier: id, bufferRows: 4 });
  t.after(() => writer.close());
  let n = 0;
  const at = () => `0/${(0x100 + ++n).toString(16)}`;
  const put = (key: bigint, qty: number, note: string | null) =>
    writer.write({
      op: "c",
      key: { id: key },
      after: { id: key, region: "eu", qty, note },
      position: at(),
      commitTimeMs: 0,
    });
  /** delete(from) + create(to) as capture sends it, or one update as direct mode writes it. */
  const move = async (from: bigint, to: bigint, qty: number, merged = false) => {
    if (!merged)
      await writer.write({
        op: "d",
        key: { id: from },
        before: { id: from },
        position: at(),
        commitTimeMs: 0,
      });
    await writer.write({
      op: merged ? "u" : "c",
      key: { id: to },
      before: { id: from },
      after: { id: to, region: "moved", qty },
      unchangedColumns: ["note"],
      position: at(),
      commitTimeMs: 0,
    });
  };
  for (const key of [1n, 2n, 3n]) await put(key, Number(key), `note ${key}`);
  await writer.commit();
  await move(1n, 101n, 1); // committed row, delete + create
  await move(2n, 102n, 2, true); // committed row, one update
  await put(4n, 4, "fresh"); // buffered row …
  await move(4n, 104n, 4); // … moved in the same buffer
  await writer.write({
    op: "u",
    key: { id: 3n },
    after: { id: 3n, region: "eu", qty: 30, note: "changed in this round" },
    position: at(),
    commitTimeMs: 0,
  });
  await move(3n, 103n, 3); // the round's image, not the committed one
  await move(103n, 203n, 3); // a chain: the moved row moves again
  await writer.commit();
  await move(203n, 303n, 3, true); // after a commit: from the stored, moved row
  await writer.commit();
  assert.deepEqual(await tableRows(catalog), [
    { id: 101n, region: "moved", qty: 1, note: "note 1" },
    { id: 102n, region: "moved", qty: 2, note: "note 2" },
    { id: 104n, region: "moved", qty: 4, note: "fresh" },
    { id: 303n, region: "moved", qty: 3, note: "changed in this round" },
  ]);

  // The old row is nowhere (deleted and committed before the create came): a typed error, not a null.
  await writer.write({ op: "d", key: { id: 101n }, before: { id: 101n }, position: at(), commitTimeMs: 0 });
  await writer.commit();
  await writer.write({
    op: "c",
    key: { id: 201n },
    before: { id: 101n },
    after: { id: 201n, region: "moved", qty: 1 },
    unchangedColumns: ["note"],
    position: at(),
    commitTimeMs: 0,
  });
  await assert.rejects(
    () => writer.commit(),
    (error: unknown) =>
      error instanceof SinkError &&
      error.code === "TOAST_ROW_MISSING" &&
      /old key \["101"\]/.test(error.message) &&
      /REPLICA IDENTITY FULL/.test(error.message),
  );
});

test("compaction between prepare and commit: the writer rebuilds its index, recomputes the deletes and retries", async (t) => {
  const { catalog } = await setup(t);
  const writer = await UpsertTableWriter.open({ catalog, identifier: id, ...small });
  t.after(() => writer.close());
  const model = new Model(4);
  await runRounds(writer, model, catalog, 2, 30, 20);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 25; i++) await writer.write(model.change(20));
    const prepared = await writer.prepareCommit();
    assert.ok(prepared.referencedDataFiles.length > 0, "the round deletes committed rows");
    await compactEverything(catalog, await catalog.loadTable(id));
    const result = await writer.commit();
    assert.ok(result.attempts > 1, "the first attempt failed validation");
    assert.deepEqual(await tableRows(catalog), model.expected(), `round ${round}`);
  }
  // Compaction between rounds (not racing a commit): detected by the snapshot id at the next round.
  await compactEverything(catalog, await catalog.loadTable(id));
  await runRounds(writer, model, catalog, 2, 30, 20);
  // Compactions are followed incrementally (replaced files out, new files' keys in), not by a rebuild.
  assert.equal(writer.indexStats.rebuilds, 1, "only the one at open");
  assert.ok(writer.indexStats.catchUps >= 4, `catch-ups: ${writer.indexStats.catchUps}`);
  assert.equal(writer.indexedKeys, model.rows.size);
});

test("compaction that commits between prepare and commit without touching the round's targets", async (t) => {
  const { catalog } = await setup(t);
  const writer = await UpsertTableWriter.open({ catalog, identifier: id, ...small });
  t.after(() => writer.close());
  const model = new Model(8);
  await runRounds(writer, model, catalog, 2, 30, 20);
  // Only inserts of new keys: the round targets no committed file, so the row delta commits on top of
  // the compaction, and the index catches up over it afterwards.
  for (let i = 0; i < 10; i++) {
    const key = BigInt(1000 + i);
    const after = { id: key, region: "eu", qty: i, note: null };
    model.rows.set(key, after);
    await writer.write({ op: "c", key: { id: key }, after, position: model.nextPosition(), commitTimeMs: 0 });
  }
  assert.deepEqual((await writer.prepareCommit()).referencedDataFiles, []);
  await compactEverything(catalog, await catalog.loadTable(id));
  await writer.commit();
  assert.deepEqual(await tableRows(catalog), model.expected());
  assert.equal(writer.indexStats.rebuilds, 1);
  await runRounds(writer, model, catalog, 2, 30, 20);
});

test("equality delete mode: the table equals the model; committed rows are deleted by key", async (t) => {
  const { catalog } = await setup(t);
  const writer = await UpsertTableWriter.open({
    catalog,
    identifier: id,
    deleteMode: "equality",
    bufferRows: 7,
  });
  t.after(() => writer.close());
  const model = new Model(5);
  // Equality mode keeps no key index, so no TOAST updates: drop the unchanged columns up front.
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 40; i++) {
      const change = model.change(40);
      if (change.unchangedColumns && change.after) {
        change.after = { ...change.after, note: model.rows.get(change.after.id as bigint)?.note ?? null };
        delete change.unchangedColumns;
      }
      await writer.write(change);
    }
    await writer.commit();
    assert.deepEqual(await tableRows(catalog), model.expected(), `round ${round}`);
  }
  const plan = await planScan(await catalog.loadTable(id));
  assert.ok(plan.tasks.some((task) => task.deletes.some((d) => d.content === 2)));
});

test("positions: LSN order, then sequence", () => {
  assert.ok(comparePositions("0/16B3748", "0/16B3749") < 0);
  assert.ok(comparePositions("1/0", "0/FFFFFFFF") > 0);
  assert.ok(comparePositions("0/10#2", "0/10#10") < 0);
  assert.equal(comparePositions("0/10", "0/10#0"), 0);
});

test("TRUNCATE in upsert mode deletes every committed row and what came before it in the round", async (t) => {
  const { catalog } = await setup(t);
  const writer = await UpsertTableWriter.open({ catalog, identifier: id, ...small });
  t.after(() => writer.close());
  const model = new Model(6);
  await runRounds(writer, model, catalog, 2, 30, 20);
  for (let i = 0; i < 15; i++) await writer.write(model.change(20));
  model.rows.clear();
  await writer.write({ op: "t", key: {}, position: model.nextPosition(), commitTimeMs: 0 });
  for (let i = 0; i < 15; i++) await writer.write(model.change(20));
  await writer.commit();
  assert.deepEqual(await tableRows(catalog), model.expected());
  await runRounds(writer, model, catalog, 2, 30, 20);
});

test("positions must be unique and increasing within a round; a commit may not record an earlier one", async (t) => {
  const { catalog } = await setup(t);
  const writer = await UpsertTableWriter.open({ catalog, identifier: id });
  t.after(() => writer.close());
  const after = { id: 1n, region: null, qty: 1, note: null };
  await writer.write({ op: "c", key: { id: 1n }, after, position: "0/20", commitTimeMs: 0 });
  await assert.rejects(
    writer.write({ op: "u", key: { id: 1n }, after, position: "0/20", commitTimeMs: 0 }),
    (e: unknown) => e instanceof SinkError && e.code === "POSITION_OUT_OF_ORDER",
  );
  await assert.rejects(
    writer.commit({ sourcePosition: "0/10" }),
    (e: unknown) => e instanceof SinkError && e.code === "POSITION_OUT_OF_ORDER",
  );
  const result = await writer.commit({ sourcePosition: "0/30" });
  assert.equal(committedPosition(result.table), "0/30");
  assert.equal(result.table.metadata.snapshots.at(-1)!.summary["floe.source.lsn"], "0/30");
});

test("a flush larger than the target file size rolls over several files; positions are read back", async (t) => {
  const { catalog } = localWarehouse(t);
  await catalog.createNamespace(["src"]);
  await catalog.createTable(id, {
    schema: accountsSchema,
    properties: { "write.target-file-size-bytes": "65536" },
  });
  const writer = await UpsertTableWriter.open({ catalog, identifier: id, bufferRows: 300_000 });
  t.after(() => writer.close());
  const rows = 250_000;
  let lsn = 1;
  const position = () => `0/${(lsn++).toString(16)}`;
  for (let i = 0; i < rows; i++) {
    const key = BigInt(i);
    await writer.write({
      op: "c",
      key: { id: key },
      after: { id: key, region: "eu", qty: i, note: `n${i}` },
      position: position(),
      commitTimeMs: 0,
    });
  }
  const prepared = await writer.prepareCommit();
  assert.ok(prepared.dataFiles.length > 1, `files: ${prepared.dataFiles.length}`);
  await writer.commit();
  // Update every 1000th row: the deletes must hit the right file and row.
  for (let i = 0; i < rows; i += 1000) {
    const key = BigInt(i);
    await writer.write({
      op: "u",
      key: { id: key },
      after: { id: key, region: "us", qty: -i, note: "changed" },
      position: position(),
      commitTimeMs: 0,
    });
  }
  await writer.commit();
  const table = await catalog.loadTable(id);
  const changed = await readTable(table, { filter: equal("region", "us") });
  assert.equal(changed.length, rows / 1000);
  assert.ok(changed.every((r) => r.note === "changed" && r.qty === -Number(r.id)));
  assert.equal((await readTable(table, { columns: ["id"] })).length, rows);
});

test("Kafka mode: a worker re-reading keys after a rebalance sees the rows its sink's other workers committed since it last loaded the table", async (t) => {
  const { catalog } = await setup(t);
  // Two workers of sink "s" (their commits carry floe.sink.id, as the coordinator's do); a key moves
  // from one to the other and back, as partitions do when workers join and leave.
  const open = () =>
    UpsertTableWriter.open({ catalog, identifier: id, trackPositions: false, sharedWithSink: "s" });
  const first = await open();
  const second = await open();
  t.after(async () => {
    await first.close();
    await second.close();
  });
  let n = 0;
  const change = (op: "c" | "u", qty: number) => {
    n++;
    const after = { id: 7n, region: "eu", qty, note: `v${qty}` };
    return { op, key: { id: 7n }, after, position: `0/${n}#${n}`, commitTimeMs: 1_700_000_000_000 + n };
  };
  /** What the coordinator does with a worker's published round. */
  const commitAsSink = async (writer: UpsertTableWriter) => {
    const prepared = await writer.prepareCommit({ equalityFallback: true });
    const delta = new RowDelta(catalog, await catalog.loadTable(id));
    for (const file of prepared.dataFiles) delta.addRows(file, writer.specId);
    for (const { file, specId } of prepared.deleteFiles) delta.addDeletes(file, specId);
    delta.set(SINK_ID_PROPERTY, "s");
    const { table, result } = await delta.commit();
    await writer.completeExternal(table, result.snapshotId);
  };
  await first.write(change("c", 1));
  await commitAsSink(first);
  // The key's partition moves to the second worker, which updates it twice.
  await second.rebuildIndex({ reload: true });
  await second.write(change("u", 2));
  await commitAsSink(second);
  await second.write(change("u", 3));
  await commitAsSink(second);
  // ... and back to the first, whose loaded table is from before those commits.
  await first.rebuildIndex({ reload: true });
  await first.write(change("u", 4));
  await commitAsSink(first);
  const rows = await readTable(await catalog.loadTable(id));
  assert.deepEqual(
    rows.map((row) => [row.id, row.qty]),
    [[7n, 4]],
    "one row for the key, its last version",
  );
});
