import assert from "node:assert/strict";
import { test } from "node:test";
import type { Catalog, TableIdentifier } from "../../src/catalog/catalog.ts";
import { CatalogError } from "../../src/catalog/errors.ts";
import { FastAppend } from "../../src/iceberg/operations/append.ts";
import { readTable } from "../../src/iceberg/reader.ts";
import { snapshotForRef } from "../../src/iceberg/table-metadata.ts";
import { commitStaged } from "../../src/sink/staged-commit.ts";
import { UpsertTableWriter } from "../../src/sink/table-writer.ts";
import { localWarehouse } from "../helpers/tables.ts";
import { compactEverything } from "./compact.ts";
import { accountsSchema, Model, sortRows } from "./model.ts";

const a: TableIdentifier = { namespace: ["src"], name: "a" };
const b: TableIdentifier = { namespace: ["src"], name: "b" };

async function setup(t: Parameters<typeof localWarehouse>[0]) {
  const warehouse = localWarehouse(t);
  await warehouse.catalog.createNamespace(["src"]);
  for (const identifier of [a, b])
    await warehouse.catalog.createTable(identifier, { schema: accountsSchema });
  const open = async (identifier: TableIdentifier) => {
    const writer = await UpsertTableWriter.open({ catalog: warehouse.catalog, identifier, bufferRows: 9 });
    t.after(() => writer.close());
    return writer;
  };
  return { catalog: warehouse.catalog, writerA: await open(a), writerB: await open(b) };
}

async function rows(catalog: Catalog, identifier: TableIdentifier): Promise<unknown[]> {
  return sortRows(await readTable(await catalog.loadTable(identifier)));
}

async function stageBoth(writerA: UpsertTableWriter, writerB: UpsertTableWriter) {
  const stagedA = await writerA.stage();
  const stagedB = await writerB.stage();
  assert.ok(stagedA && stagedB);
  return [stagedA, stagedB];
}

test("two tables' rounds land in one transaction; both equal their models round after round", async (t) => {
  const { catalog, writerA, writerB } = await setup(t);
  const modelA = new Model(11);
  const modelB = new Model(12);
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 30; i++) {
      await writerA.write(modelA.change(25));
      await writerB.write(modelB.change(25));
    }
    const results = await commitStaged(catalog, await stageBoth(writerA, writerB));
    assert.equal(results.length, 2);
    assert.deepEqual(await rows(catalog, a), modelA.expected(), `a, round ${round}`);
    assert.deepEqual(await rows(catalog, b), modelB.expected(), `b, round ${round}`);
    for (const [i, identifier] of [a, b].entries()) {
      const head = snapshotForRef((await catalog.loadTable(identifier)).metadata);
      assert.equal(head?.snapshotId, results[i]!.snapshotId);
      assert.equal(head?.summary["floe.source.position"], results[i]!.sourcePosition);
    }
  }
});

test("a transaction that cannot land changes neither table", async (t) => {
  const { catalog, writerA, writerB } = await setup(t);
  const modelA = new Model(13);
  const modelB = new Model(16);
  for (let i = 0; i < 20; i++) {
    await writerA.write(modelA.change(20));
    await writerB.write(modelB.change(20));
  }
  await commitStaged(catalog, await stageBoth(writerA, writerB));
  const before = [await rows(catalog, a), await rows(catalog, b)];
  const headA = snapshotForRef((await catalog.loadTable(a)).metadata)?.snapshotId;
  for (let i = 0; i < 20; i++) {
    await writerA.write(modelA.change(20));
    await writerB.write(modelB.change(20));
  }
  const staged = await stageBoth(writerA, writerB);
  await catalog.dropTable(b); // b's commit now fails for good, after a's was prepared
  await assert.rejects(commitStaged(catalog, staged), (error: unknown) => error instanceof CatalogError);
  assert.equal(snapshotForRef((await catalog.loadTable(a)).metadata)?.snapshotId, headA);
  assert.deepEqual(await rows(catalog, a), before[0]);
});

test("conflicts: another writer's append and a compaction under the round are retried, nothing lost", async (t) => {
  const { catalog, writerA, writerB } = await setup(t);
  const modelA = new Model(14);
  const modelB = new Model(15);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 30; i++) {
      await writerA.write(modelA.change(20));
      await writerB.write(modelB.change(20));
    }
    await commitStaged(catalog, await stageBoth(writerA, writerB));
  }
  for (let i = 0; i < 30; i++) {
    await writerA.write(modelA.change(20));
    await writerB.write(modelB.change(20));
  }
  const staged = await stageBoth(writerA, writerB);
  // Compaction rewrites every file a's deletes target; an empty append moves b's head.
  await compactEverything(catalog, await catalog.loadTable(a));
  await new FastAppend(catalog, await catalog.loadTable(b)).commit();
  const results = await commitStaged(catalog, staged);
  assert.ok(
    results.every((r) => r.attempts > 1),
    "the first attempt lost the race",
  );
  assert.deepEqual(await rows(catalog, a), modelA.expected());
  assert.deepEqual(await rows(catalog, b), modelB.expected());
  // The writers' indexes followed: the next rounds stay right.
  for (let i = 0; i < 30; i++) {
    await writerA.write(modelA.change(20));
    await writerB.write(modelB.change(20));
  }
  await commitStaged(catalog, await stageBoth(writerA, writerB));
  assert.deepEqual(await rows(catalog, a), modelA.expected());
  assert.deepEqual(await rows(catalog, b), modelB.expected());
});
