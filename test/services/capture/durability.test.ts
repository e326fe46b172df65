// Durability and the snapshot against the real PostgreSQL: the slot's flush LSN moves only after the
// sink acknowledges, a restart re-sends what was not acknowledged, the snapshot is consistent with
// the slot and hands off to the stream, and the clear errors.
import assert from "node:assert/strict";
import { test } from "node:test";
import pg from "pg";
import { Capture, MemoryOffsetStore } from "../../../src/capture/capture.ts";
import { parseCaptureConfig } from "../../../src/capture/config.ts";
import { CaptureError } from "../../../src/capture/errors.ts";
import { createTestDatabase, defer, uniqueName } from "../../helpers/services.ts";
import { RecordingSink } from "./recording-sink.ts";

async function database(t: Parameters<typeof createTestDatabase>[0], ddl: string) {
  const url = await createTestDatabase(t);
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  defer(t, () => sql.end());
  await sql.query(ddl);
  const slot = uniqueName("floe_dur");
  defer(t, async () => {
    await sql.query(
      "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active",
      [slot],
    );
  });
  return { url, sql, slot };
}

async function confirmedFlush(sql: pg.Client, slot: string): Promise<string> {
  const { rows } = await sql.query<{ lsn: string }>(
    "select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = $1",
    [slot],
  );
  return rows[0]?.lsn ?? "";
}

test("the slot advances only after the sink acknowledges; a restart re-sends the rest", async (t) => {
  const { url, sql, slot } = await database(t, "create table orders (id int primary key, total int)");
  const config = parseCaptureConfig({
    url,
    "slot.name": slot,
    "publication.name": slot,
    "snapshot.mode": "never",
  });
  const offsets = new MemoryOffsetStore();

  const first = new RecordingSink();
  const capture = new Capture(config, first, offsets);
  await capture.start();
  await sql.query("insert into orders values (1, 10)");
  await first.waitFor(() => first.changes().length === 1);
  const before = await confirmedFlush(sql, slot);
  first.ackAll();
  await sql.query("insert into orders values (2, 20)");
  await first.waitFor(() => first.changes().length === 2);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const afterAck = await confirmedFlush(sql, slot);
  assert.notEqual(afterAck, before, "acknowledging moved confirmed_flush_lsn");
  // Crash: stop without acknowledging order 2.
  await capture.stop();
  assert.equal(await confirmedFlush(sql, slot), afterAck, "unacknowledged change did not move the slot");

  await sql.query("insert into orders values (3, 30)");
  const second = new RecordingSink(true);
  const restarted = new Capture(config, second, offsets);
  defer(t, () => restarted.stop());
  await restarted.start();
  await second.waitFor(() => second.changes().length >= 2);
  assert.deepEqual(
    second.changes().map((event) => event.key),
    [{ id: 2 }, { id: 3 }],
    "order 1 (acknowledged) is not re-sent; 2 (unacknowledged) and 3 are",
  );
});

test("initial snapshot: consistent with the slot, chunked, resumable, then streaming", async (t) => {
  const { url, sql, slot } = await database(
    t,
    "create table items (id int primary key, name text); insert into items select g, 'n' || g from generate_series(1, 250) g; create table notes (body text); insert into notes values ('a'), ('b');",
  );
  const config = parseCaptureConfig({
    url,
    "slot.name": slot,
    "publication.name": slot,
    "snapshot.mode": "initial",
    "snapshot.fetch.size": "100",
    "snapshot.max.threads": "2",
  });
  const offsets = new MemoryOffsetStore();
  const sink = new RecordingSink(true);
  const capture = new Capture(config, sink, offsets);
  defer(t, () => capture.stop());
  await capture.start();
  const snapshotRows = sink.changes("items").filter((event) => event.value.op === "r");
  assert.equal(snapshotRows.length, 250);
  assert.equal(sink.changes("notes").length, 2);
  assert.equal(snapshotRows[0]?.value.source.snapshot, "true");
  assert.ok(
    sink.batches.filter((batch) =>
      batch.events.some((event) => event.kind === "change" && event.table.table === "items"),
    ).length >= 3,
    "chunked by 100",
  );
  await sql.query("update items set name = 'changed' where id = 7");
  await sink.waitFor(() => sink.changes("items").some((event) => event.value.op === "u"));
  assert.equal(sink.changes("items").at(-1)?.value.after?.name, "changed");
  const offset = await offsets.load();
  assert.equal(offset?.snapshotCompleted, true);
});

test("a crashed snapshot resumes after the last acknowledged key", async (t) => {
  const { url, slot } = await database(
    t,
    "create table items (id int primary key); insert into items select generate_series(1, 30);",
  );
  const config = parseCaptureConfig({
    url,
    "slot.name": slot,
    "publication.name": slot,
    "snapshot.fetch.size": "10",
  });
  const offsets = new MemoryOffsetStore();
  // The first run's sink fails after acknowledging the first chunk: a crash in the middle of the snapshot.
  const failing = new RecordingSink(true);
  const originalWrite = failing.write.bind(failing);
  failing.write = async (batch) => {
    if (failing.batches.length >= 1) throw new Error("sink crashed");
    await originalWrite(batch);
  };
  const crashed = new Capture(config, failing, offsets);
  await assert.rejects(crashed.start(), /sink crashed/);
  await crashed.stop();
  assert.deepEqual((await offsets.load())?.snapshot?.tables["public.items"]?.lastKey, ["10"]);

  const sink = new RecordingSink(true);
  const resumed = new Capture(config, sink, offsets);
  defer(t, () => resumed.stop());
  await resumed.start();
  const ids = sink.changes("items").map((event) => event.key?.id);
  assert.deepEqual(
    ids,
    Array.from({ length: 20 }, (_, index) => index + 11),
  );
});

test("clear errors: unknown table in the include list, slot in use", async (t) => {
  const { url, slot } = await database(t, "create table items (id int primary key)");
  const missing = new Capture(
    parseCaptureConfig({
      url,
      "slot.name": slot,
      "publication.name": slot,
      "table.include.list": "public.nope",
    }),
    new RecordingSink(true),
  );
  await assert.rejects(
    missing.start(),
    (error: unknown) =>
      error instanceof CaptureError && error.code === "TABLE_NOT_FOUND" && /public\.nope/.test(error.message),
  );
  await missing.stop();

  const config = parseCaptureConfig({
    url,
    "slot.name": slot,
    "publication.name": slot,
    "snapshot.mode": "never",
  });
  const running = new Capture(config, new RecordingSink(true));
  defer(t, () => running.stop());
  await running.start();
  const second = new Capture(config, new RecordingSink(true));
  await assert.rejects(
    second.start(),
    (error: unknown) => error instanceof CaptureError && error.code === "SLOT_IN_USE",
  );
  await second.stop();
});
