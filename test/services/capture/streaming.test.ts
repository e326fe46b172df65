// Streaming against the real PostgreSQL: every type's event value, the envelope, TOAST, replica
// identities, tables without a key, partitions, truncate, messages, PK changes and DDL.
import assert from "node:assert/strict";
import { test } from "node:test";
import pg from "pg";
import { Capture } from "../../../src/capture/capture.ts";
import { parseCaptureConfig } from "../../../src/capture/config.ts";
import { serializeKey, serializeValue } from "../../../src/capture/envelope.ts";
import { createTestDatabase, defer, uniqueName } from "../../helpers/services.ts";
import { RecordingSink } from "./recording-sink.ts";

async function setup(
  t: Parameters<typeof createTestDatabase>[0],
  ddl: string,
  extra: Record<string, unknown> = {},
) {
  const url = await createTestDatabase(t);
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  defer(t, () => sql.end());
  await sql.query(ddl);
  const slot = uniqueName("floe_cap");
  const config = parseCaptureConfig({
    url,
    "topic.prefix": "shop",
    "slot.name": slot,
    "publication.name": slot,
    "snapshot.mode": "no_data",
    ...extra,
  });
  const sink = new RecordingSink(true);
  const capture = new Capture(config, sink);
  defer(t, async () => {
    await sql.query(
      "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active",
      [slot],
    );
  });
  defer(t, () => capture.stop());
  const { done } = await capture.start();
  done.catch((error: unknown) => sink.fail(error));
  return { url, sql, sink, capture, slot };
}

test("every built-in type round-trips to its Debezium event value", async (t) => {
  const { sql, sink } = await setup(
    t,
    `create type mood as enum ('sad', 'happy');
     create domain positive as integer check (value > 0);
     create type address as (street text, zip integer);
     create table everything (
       id bigint primary key, s smallint, i integer, b bigint, n numeric(10,2), nu numeric, r real, d double precision,
       dnan double precision, dinf double precision, bo boolean, t text, vc varchar(10), ch char(3), by bytea,
       da date, ti time, ttz timetz, ts timestamp, tstz timestamptz, iv interval, u uuid, j json, jb jsonb,
       m mood, ia integer[], ta text[], dom positive, ip inet, ci cidr, mac macaddr, mo money, x xml,
       addr address, nneg numeric(5,1))`,
  );
  await sql.query(`insert into everything values (
    9007199254740993, -3, 42, -9007199254740993, 12345.67, 3.14159, 1.5, 2.25,
    'NaN', '-Infinity', true, 'hello', 'vc', 'ab', '\\x00ff',
    '2024-02-29', '13:14:15.123456', '10:00:00+02', '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.5+01',
    '1 year 2 months 3 days 04:05:06.5', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": 1}', '{"b": [1, 2]}',
    'happy', '{1,NULL,3}', '{"a b","c,d"}', 7, '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', 1234.56,
    '<a>x</a>', row('Main St', 12345), -12.3)`);
  await sink.waitFor(() => sink.changes("everything").length === 1);
  const event = sink.changes("everything")[0];
  assert.ok(event);
  assert.equal(event.value.op, "c");
  assert.equal(event.topic, "shop.public.everything");
  assert.deepEqual(event.key, { id: 9007199254740993n });
  const after = event.value.after;
  assert.ok(after);
  const expected = {
    id: 9007199254740993n,
    s: -3,
    i: 42,
    b: -9007199254740993n,
    n: Buffer.from([0x12, 0xd6, 0x87]).toString("base64"), // 1234567 unscaled
    nu: { scale: 5, value: Buffer.from([0x04, 0xcb, 0x2f]).toString("base64") }, // 314159
    r: 1.5,
    d: 2.25,
    bo: true,
    t: "hello",
    vc: "vc",
    ch: "ab ",
    by: Buffer.from([0, 255]).toString("base64"),
    da: 19782,
    ti: 47655123456n,
    ttz: "08:00:00Z",
    ts: 1704164645678901n,
    tstz: "2024-01-02T02:04:05.5Z",
    iv: (14n * 2_629_800n + 3n * 86_400n + 4n * 3600n + 5n * 60n + 6n) * 1_000_000n + 500_000n,
    u: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    j: '{"a": 1}',
    jb: '{"b": [1, 2]}',
    m: "happy",
    ia: [1, null, 3],
    ta: ["a b", "c,d"],
    dom: 7,
    ip: "192.168.0.1/24",
    ci: "10.0.0.0/8",
    mac: "08:00:2b:01:02:03",
    mo: Buffer.from([0x01, 0xe2, 0x40]).toString("base64"), // 123456
    x: "<a>x</a>",
    addr: { street: "Main St", zip: 12345 },
    nneg: Buffer.from([0x85]).toString("base64"), // -123, minimal two's complement
  };
  for (const [column, value] of Object.entries(expected)) assert.deepEqual(after[column], value, column);
  assert.ok(Number.isNaN(after.dnan));
  assert.equal(after.dinf, Number.NEGATIVE_INFINITY);

  const json = JSON.parse(serializeValue(event, { schemasEnable: false }) ?? "null");
  assert.equal(json.after.dnan, "NaN");
  assert.equal(json.source.connector, "postgresql");
  assert.equal(json.source.table, "everything");
  assert.equal(json.source.name, "shop");
  assert.equal(typeof json.source.lsn, "number");
  const withSchema = JSON.parse(serializeValue(event, { schemasEnable: true }) ?? "null");
  assert.equal(withSchema.schema.name, "shop.public.everything.Envelope");
  const afterSchema = withSchema.schema.fields.find((field: { field: string }) => field.field === "after");
  const numericField = afterSchema.fields.find((field: { field: string }) => field.field === "n");
  assert.deepEqual(numericField.parameters, { scale: "2", "connect.decimal.precision": "10" });
  assert.equal(serializeKey(event, { schemasEnable: false }), '{"id":9007199254740993}');
  assert.equal(event.table.columns.find((column) => column.name === "n")?.mapping.iceberg, "decimal(10,2)");
});

test("updates, deletes, TOAST, replica identities, keyless and partitioned tables, truncate, messages", async (t) => {
  const { sql, sink } = await setup(
    t,
    `create table docs (id int primary key, title text, body text);
     alter table docs alter column body set storage external;
     create table docs_full (id int primary key, title text, body text);
     alter table docs_full alter column body set storage external;
     alter table docs_full replica identity full;
     create table log (line text);
     create table nothing (id int primary key, v text);
     alter table nothing replica identity nothing;
     create table measures (id int, at date, v int, primary key (id, at)) partition by range (at);
     create table measures_2024 partition of measures for values from ('2024-01-01') to ('2025-01-01');
     create table pairs (a int, b text, c int, primary key (b, a));`,
  );
  const big = "x".repeat(100_000);
  await sql.query("insert into docs values (1, 'a', $1)", [big]);
  await sql.query("insert into docs_full values (1, 'a', $1)", [big]);
  await sql.query("update docs set title = 'b' where id = 1");
  await sql.query("update docs_full set title = 'b' where id = 1");
  await sql.query("update docs set id = 2 where id = 1");
  await sql.query("delete from docs where id = 2");
  await sql.query("insert into log values ('one')");
  await sql.query("insert into nothing values (1, 'v')");
  await assert.rejects(sql.query("update nothing set v = 'w'"), /does not have a replica identity/);
  await sql.query("insert into measures values (1, '2024-05-01', 10)");
  await sql.query("insert into pairs values (1, 'x', 2)");
  await sql.query("truncate log");
  await sql.query("select pg_logical_emit_message(true, 'audit', 'hello')");
  await sink.waitFor(() => sink.events.some((event) => event.kind === "message"));

  const docs = sink.changes("docs");
  assert.deepEqual(
    docs.map((event) => event.value.op),
    ["c", "u", "d", "c", "d"],
  );
  const toastUpdate = docs[1];
  assert.ok(toastUpdate?.value.after);
  assert.equal("body" in toastUpdate.value.after, false, "unchanged TOAST column is not in after");
  assert.deepEqual(toastUpdate.unchangedColumns, ["body"]);
  assert.equal(toastUpdate.value.after.title, "b");
  assert.ok(!serializeValue(toastUpdate, { schemasEnable: false })?.includes("__debezium_unavailable_value"));
  assert.match(serializeValue(toastUpdate, { schemasEnable: false }) ?? "", /"unchanged_columns":\["body"\]/);
  // PK change: delete of the old key + create of the new one, tombstone in between.
  assert.deepEqual(docs[2]?.key, { id: 1 });
  assert.deepEqual(docs[3]?.key, { id: 2 });
  const tombstones = sink.events.filter((event) => event.kind === "tombstone");
  assert.equal(tombstones.length, 2);
  // The update left the TOASTed body unchanged: the create carries the old key in `before`, so a sink
  // can take the value from the row it stores under that key; both halves name both keys.
  assert.deepEqual(docs[3]?.value.before, { id: 1 });
  assert.deepEqual(docs[3]?.unchangedColumns, ["body"]);
  assert.deepEqual(docs[3]?.keyChange, { oldKey: { id: 1 }, newKey: { id: 2 } });
  assert.deepEqual(docs[2]?.keyChange, { oldKey: { id: 1 }, newKey: { id: 2 } });
  assert.match(serializeValue(docs[3]!, { schemasEnable: false }) ?? "", /^\{"before":\{"id":1\},"after":/);
  assert.equal(docs[4]?.keyChange, undefined);

  // The key struct follows the primary key's order (b, a), not the columns' (a, b).
  const pair = sink.changes("pairs")[0];
  assert.ok(pair);
  const pairKey = JSON.parse(serializeKey(pair, { schemasEnable: true }) ?? "null");
  assert.deepEqual(
    pairKey.schema.fields.map((field: { field: string }) => field.field),
    ["b", "a"],
  );
  assert.deepEqual(pairKey.payload, { b: "x", a: 1 });
  assert.deepEqual(Object.keys(pairKey.payload), ["b", "a"]);

  const full = sink.changes("docs_full");
  assert.equal(
    full[1]?.value.after?.body,
    big,
    "REPLICA IDENTITY FULL fills the unchanged column from before",
  );
  assert.equal(full[1]?.value.before?.title, "a");
  assert.deepEqual(full[1]?.unchangedColumns, []);

  const log = sink.changes("log");
  assert.equal(log[0]?.key, null, "a table without a primary key has a null key");
  assert.equal(log[1]?.value.op, "t");

  // REPLICA IDENTITY NOTHING: PostgreSQL itself refuses updates and deletes of a published table.
  assert.deepEqual(
    sink.changes("nothing").map((event) => event.value.op),
    ["c"],
  );

  const measures = sink.changes("measures");
  assert.equal(measures.length, 1, "partition changes arrive under the root table");
  assert.equal(measures[0]?.topic, "shop.public.measures");

  const message = sink.events.find((event) => event.kind === "message");
  assert.ok(message?.kind === "message");
  assert.equal(message.prefix, "audit");
  assert.equal(message.content.toString(), "hello");

  const ends = sink.events.filter((event) => event.kind === "transaction" && event.status === "END");
  assert.ok(ends.length >= 10);
  const first = ends[0];
  assert.ok(first?.kind === "transaction");
  assert.equal(first.eventCount, 1);
  assert.deepEqual(first.dataCollections, [{ data_collection: "public.docs", event_count: 1 }]);
});

test("DDL while streaming is detected and emitted as a schema change", async (t) => {
  const { sql, sink } = await setup(t, "create table items (id int primary key, name text, qty int)");
  await sql.query("insert into items values (1, 'a', 1)");
  await sink.waitFor(() => sink.changes("items").length === 1);
  await sql.query("alter table items add column price numeric(8,2)");
  await sql.query("insert into items values (2, 'b', 2, 9.99)");
  await sql.query("alter table items rename column name to title");
  await sql.query("alter table items alter column qty type bigint");
  await sql.query("alter table items drop column price");
  await sql.query("insert into items values (3, 'c', 3)");
  await sink.waitFor(() => sink.changes("items").length === 3);
  const changes = sink.events.flatMap((event) =>
    event.kind === "schema_change" ? event.change.changes : [],
  );
  // pgoutput sends a Relation message only before the next change, so DDL between two changes arrives as one diff.
  assert.deepEqual(changes, [
    { kind: "add_column", column: "price", type: "numeric(8,2)" },
    { kind: "rename_column", from: "name", to: "title" },
    { kind: "drop_column", column: "price" },
    { kind: "change_type", column: "qty", from: "integer", to: "bigint" },
  ]);
  assert.deepEqual(sink.changes("items")[2]?.value.after, { id: 3, title: "c", qty: 3n });
});
