// snapshot.mode variants, heartbeats on an idle database, and the clear errors a misconfigured role or
// an unmapped type produce, against the real PostgreSQL.
import assert from "node:assert/strict";
import { test } from "node:test";
import pg from "pg";
import { Capture, MemoryOffsetStore } from "../../../src/capture/capture.ts";
import { parseCaptureConfig } from "../../../src/capture/config.ts";
import { CaptureError } from "../../../src/capture/errors.ts";
import { createTestDatabase, defer, uniqueName } from "../../helpers/services.ts";
import { RecordingSink } from "./recording-sink.ts";

type T = Parameters<typeof createTestDatabase>[0];

async function database(t: T, ddl: string) {
  const url = await createTestDatabase(t);
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  defer(t, () => sql.end());
  await sql.query(ddl);
  return { url, sql };
}

/** A slot name dropped after the test (when no longer active). */
function slotFor(t: T, sql: pg.Client): string {
  const slot = uniqueName("floe_mode");
  defer(t, async () => {
    await sql.query(
      "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active",
      [slot],
    );
  });
  return slot;
}

/** A login role (cluster-wide, so dropped after the test, with its grants). */
async function role(t: T, sql: pg.Client, attributes: string): Promise<string> {
  const name = uniqueName("floe_role");
  await sql.query(`create role ${name} login password 'pw' ${attributes}`);
  defer(t, async () => {
    await sql.query(`drop owned by ${name}`);
    await sql.query(`drop role ${name}`);
  });
  return name;
}

function urlAs(url: string, user: string): string {
  const parsed = new URL(url);
  parsed.username = user;
  parsed.password = "pw";
  return parsed.toString();
}

async function run(t: T, config: ReturnType<typeof parseCaptureConfig>, offsets = new MemoryOffsetStore()) {
  const sink = new RecordingSink(true);
  const capture = new Capture(config, sink, offsets);
  defer(t, () => capture.stop());
  const { done } = await capture.start();
  done.catch((error: unknown) => sink.fail(error));
  return { sink, capture, done };
}

const ops = (sink: RecordingSink) => sink.changes().map((event) => event.value.op);

test("snapshot.mode never / no_data: no r events, streaming only", async (t) => {
  const { url, sql } = await database(
    t,
    "create table items (id int primary key); insert into items select generate_series(1, 3);",
  );
  for (const mode of ["never", "no_data"]) {
    const slot = slotFor(t, sql);
    const { sink } = await run(
      t,
      parseCaptureConfig({ url, "slot.name": slot, "publication.name": slot, "snapshot.mode": mode }),
    );
    await sql.query("insert into items values ($1)", [mode === "never" ? 100 : 101]);
    await sink.waitFor(() => sink.changes().length >= 1);
    assert.deepEqual(ops(sink), ["c"], mode);
  }
});

test("snapshot.mode initial_only: the snapshot, then it stops", async (t) => {
  const { url, sql } = await database(
    t,
    "create table items (id int primary key); insert into items select generate_series(1, 3);",
  );
  const slot = slotFor(t, sql);
  const { sink, done } = await run(
    t,
    parseCaptureConfig({ url, "slot.name": slot, "publication.name": slot, "snapshot.mode": "initial_only" }),
  );
  await done;
  assert.deepEqual(ops(sink), ["r", "r", "r"]);
  await sql.query("insert into items values (4)");
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.deepEqual(ops(sink), ["r", "r", "r"], "nothing streamed after the snapshot");
});

test("snapshot.mode when_needed: snapshots again when the offset is gone or the slot is missing", async (t) => {
  const { url, sql } = await database(
    t,
    "create table items (id int primary key); insert into items select generate_series(1, 3);",
  );
  const slot = slotFor(t, sql);
  const config = parseCaptureConfig({
    url,
    "slot.name": slot,
    "publication.name": slot,
    "snapshot.mode": "when_needed",
  });
  const offsets = new MemoryOffsetStore();
  const first = await run(t, config, offsets);
  assert.deepEqual(ops(first.sink), ["r", "r", "r"], "first start: snapshot");
  // The offset is saved once the sink acknowledged the snapshot: wait for it rather than for a fixed time
  // (generously: on an idle database the save can wait for the server's next keepalive, and CI runs the
  // fault-injection test beside this one; 15 s was missed there).
  const saveDeadline = Date.now() + 60_000;
  while (!(await offsets.load())?.snapshotCompleted && Date.now() < saveDeadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await first.capture.stop();
  assert.equal((await offsets.load())?.snapshotCompleted, true);

  // Slot and offset intact: no snapshot, streaming resumes.
  const resumed = await run(t, config, offsets);
  await sql.query("insert into items values (4)");
  await resumed.sink.waitFor(() => resumed.sink.changes().length >= 1);
  assert.deepEqual(ops(resumed.sink), ["c"], "offset and slot present: no snapshot");
  await new Promise((resolve) => setTimeout(resolve, 200));
  await resumed.capture.stop();

  // Offset gone (slot still there): snapshot again.
  const noOffset = await run(t, config, new MemoryOffsetStore());
  assert.deepEqual(ops(noOffset.sink), ["r", "r", "r", "r"], "offset gone: snapshot again");
  await noOffset.capture.stop();

  // Slot gone (offset kept): snapshot again from a new slot. The walsender lets go of the slot a
  // moment after capture stops: wait for that before dropping it.
  for (let attempt = 0; attempt < 100; attempt++) {
    const { rows } = await sql.query("select active from pg_replication_slots where slot_name = $1", [slot]);
    if (!rows[0]?.active) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await sql.query("select pg_drop_replication_slot($1)", [slot]);
  const noSlot = await run(t, config, offsets);
  assert.deepEqual(ops(noSlot.sink), ["r", "r", "r", "r"], "slot missing: snapshot again");
  await sql.query("insert into items values (5)");
  await noSlot.sink.waitFor(() => noSlot.sink.changes().length >= 5);
  assert.equal(noSlot.sink.changes().at(-1)?.key?.id, 5);
});

test("heartbeats: an idle database's slot confirmed_flush_lsn advances", async (t) => {
  const { url, sql } = await database(t, "create table items (id int primary key)");
  const slot = slotFor(t, sql);
  const { sink } = await run(
    t,
    parseCaptureConfig({
      url,
      "slot.name": slot,
      "publication.name": slot,
      "snapshot.mode": "never",
      "heartbeat.interval.ms": 100,
    }),
  );
  const flushed = async () =>
    (
      await sql.query<{ advanced: string }>(
        "select pg_wal_lsn_diff(confirmed_flush_lsn, '0/0')::text as advanced from pg_replication_slots where slot_name = $1",
        [slot],
      )
    ).rows[0]?.advanced ?? "0";
  const start = BigInt(await flushed());
  const seen = new Set<bigint>([start]);
  const deadline = Date.now() + 10_000;
  while (seen.size < 3 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    seen.add(BigInt(await flushed()));
  }
  assert.ok(seen.size >= 3, `confirmed_flush_lsn advanced twice without table changes (${[...seen]})`);
  assert.ok([...seen].every((lsn) => lsn >= start));
  assert.equal(sink.events.length, 0, "heartbeats are not events");
});

test("clear errors: no REPLICATION attribute, no SELECT on a published table", async (t) => {
  const { url, sql } = await database(t, "create table secret (id int primary key)");
  const plain = await role(t, sql, "nosuperuser noreplication");
  await sql.query(`grant select on secret to ${plain}`);
  const slot = slotFor(t, sql);
  const noReplication = new Capture(
    parseCaptureConfig({ url: urlAs(url, plain), "slot.name": slot, "publication.name": slot }),
    new RecordingSink(true),
  );
  await assert.rejects(noReplication.start(), (error: unknown) => {
    assert.ok(error instanceof CaptureError);
    assert.equal(error.code, "PERMISSION_DENIED");
    assert.match(error.message, new RegExp(`ALTER ROLE "${plain}" WITH REPLICATION`));
    return true;
  });
  await noReplication.stop();

  const replicator = await role(t, sql, "nosuperuser replication");
  const noSelect = new Capture(
    parseCaptureConfig({ url: urlAs(url, replicator), "slot.name": slot, "publication.name": slot }),
    new RecordingSink(true),
  );
  await assert.rejects(noSelect.start(), (error: unknown) => {
    assert.ok(error instanceof CaptureError);
    assert.equal(error.code, "PERMISSION_DENIED");
    assert.match(error.message, /secret/);
    assert.match(error.message, /GRANT SELECT/);
    return true;
  });
  await noSelect.stop();
});

test("clear errors: an unmapped (extension) type names table and column and the pass-through option", async (t) => {
  const { url, sql } = await database(
    t,
    "create extension hstore; create table tagged (id int primary key, tags hstore); insert into tagged values (1, 'a=>1');",
  );
  const slot = slotFor(t, sql);
  const config = { url, "slot.name": slot, "publication.name": slot };
  const strict = new Capture(parseCaptureConfig(config), new RecordingSink(true));
  await assert.rejects(strict.start(), (error: unknown) => {
    assert.ok(error instanceof CaptureError);
    assert.equal(error.code, "UNKNOWN_TYPE");
    assert.match(error.message, /"tags"/);
    assert.match(error.message, /tagged/);
    assert.match(error.message, /hstore/);
    assert.match(error.message, /include\.unknown\.datatypes=true/);
    return true;
  });
  await strict.stop();

  const slot2 = slotFor(t, sql);
  const { sink } = await run(
    t,
    parseCaptureConfig({
      ...config,
      "slot.name": slot2,
      "publication.name": slot2,
      "include.unknown.datatypes": "true",
    }),
  );
  assert.equal(sink.changes()[0]?.value.after?.tags, '"a"=>"1"', "snapshot row: the type's text");
  await sql.query("insert into tagged values (2, 'b=>2')");
  await sink.waitFor(() => sink.changes().length >= 2);
  assert.equal(sink.changes()[1]?.value.after?.tags, '"b"=>"2"', "streamed row: the type's text");
});
