// Capture → Kafka on the real broker: the snapshot and a streamed workload (inserts, updates, deletes,
// a primary-key change, TRUNCATE, a multi-table transaction, a logical decoding message) land in the
// per-table topics with Debezium's keys and values (JsonConverter with and without schemas), tombstones
// after deletes, transaction BEGIN/END with the right counts, every key in one partition in commit
// order; schema changes and heartbeats go to Debezium's topics.
import assert from "node:assert/strict";
import { test } from "node:test";
import { KafkaCapture } from "../../../src/kafka/kafka-capture.ts";
import { defer } from "../../helpers/services.ts";
import { captureFixture, payloadOf, type ReadRecord, readTopics, waitFor } from "./helpers.ts";

type Payload = Record<string, unknown>;

function op(record: ReadRecord): string | null {
  return record.value === null ? null : (payloadOf(record.value)?.op as string);
}

function after(record: ReadRecord): Payload | null {
  return (payloadOf(record.value)?.after as Payload | null) ?? null;
}

function keyText(record: ReadRecord): string {
  return JSON.stringify(payloadOf(record.key));
}

/** Records of each key in log order (one partition per key is asserted separately). */
function byKey(records: ReadRecord[]): Map<string, ReadRecord[]> {
  const grouped = new Map<string, ReadRecord[]>();
  for (const record of [...records].sort(
    (a, b) => a.partition - b.partition || Number(a.offset - b.offset),
  )) {
    const list = grouped.get(keyText(record)) ?? [];
    list.push(record);
    grouped.set(keyText(record), list);
  }
  return grouped;
}

test("snapshot + streamed changes land in per-table topics with Debezium keys, values, tombstones and transaction events (schemas.enable=true, 3 partitions)", {
  timeout: 180_000,
}, async (t) => {
  const fixture = await captureFixture(
    t,
    `create table customers (id int primary key, name text not null);
     create table orders (id bigint primary key, customer_id int, total numeric(10,2));
     insert into customers select g, 'c' || g from generate_series(1, 5) g;
     insert into orders select g, g, g * 1.5 from generate_series(1, 3) g;`,
  );
  const { sql, prefix, brokers } = fixture;
  const pipeline = await KafkaCapture.open(fixture.settings({ "topic.creation.default.partitions": 3 }));
  defer(t, () => pipeline.stop());
  await pipeline.start();

  await sql.query("insert into customers values (6, 'c6')");
  await sql.query("update customers set name = 'renamed' where id = 1");
  await sql.query("delete from customers where id = 2");
  await sql.query("update customers set id = 100 where id = 3");
  await sql.query("begin");
  await sql.query("insert into orders values (10, 4, 9.99)");
  await sql.query("update customers set name = 'multi' where id = 4");
  await sql.query("delete from orders where id = 1");
  await sql.query("commit");
  await sql.query("truncate orders");
  for (const name of ["v1", "v2", "v3"])
    await sql.query("update customers set name = $1 where id = 5", [name]);
  await sql.query("select pg_logical_emit_message(true, 'app', 'hello')");
  await sql.query("insert into customers values (7, 'last')");

  const customersTopic = `${prefix}.public.customers`;
  const ordersTopic = `${prefix}.public.orders`;
  const transactionTopic = `${prefix}.transaction`;
  const messageTopic = `${prefix}.message`;
  const all = await waitFor("the last insert in Kafka", async () => {
    const records = await readTopics(brokers, [customersTopic, ordersTopic, transactionTopic, messageTopic]);
    return records.some((record) => record.topic === customersTopic && payloadOf(record.key)?.id === 7)
      ? records
      : undefined;
  });
  const customers = all.filter((record) => record.topic === customersTopic);
  const orders = all.filter((record) => record.topic === ordersTopic);

  // Keys and values are JsonConverter output with schemas.
  const first = customers[0];
  assert.ok(first);
  assert.deepEqual((first.key as { schema: { name: string } }).schema.name, `${customersTopic}.Key`);
  assert.equal((first.value as { schema: { name: string } }).schema.name, `${customersTopic}.Envelope`);

  // Every key in one partition, and the partitions actually used are spread (3 partitions).
  for (const [key, records] of byKey(customers))
    assert.equal(new Set(records.map((record) => record.partition)).size, 1, `key ${key} in one partition`);

  const customerHistory = new Map(
    [...byKey(customers)].map(([key, records]) => [
      key,
      records.map((record) => [op(record), after(record)?.name ?? null]),
    ]),
  );
  assert.deepEqual(Object.fromEntries(customerHistory), {
    '{"id":1}': [
      ["r", "c1"],
      ["u", "renamed"],
    ],
    '{"id":2}': [
      ["r", "c2"],
      ["d", null],
      [null, null],
    ],
    '{"id":3}': [
      ["r", "c3"],
      ["d", null],
      [null, null],
    ],
    '{"id":4}': [
      ["r", "c4"],
      ["u", "multi"],
    ],
    '{"id":5}': [
      ["r", "c5"],
      ["u", "v1"],
      ["u", "v2"],
      ["u", "v3"],
    ],
    '{"id":6}': [["c", "c6"]],
    '{"id":100}': [["c", "c3"]],
    '{"id":7}': [["c", "last"]],
  });
  const deleted = customers.find((record) => op(record) === "d" && payloadOf(record.key)?.id === 2);
  assert.deepEqual((payloadOf(deleted?.value)?.before as Payload | undefined)?.id, 2);
  const snapshotRow = customers.find((record) => op(record) === "r");
  assert.equal((payloadOf(snapshotRow?.value)?.source as Payload | undefined)?.snapshot, "true");

  const orderHistory = Object.fromEntries(
    [...byKey(orders)].map(([key, records]) => [key, records.map((record) => op(record))]),
  );
  assert.deepEqual(orderHistory, {
    '{"id":1}': ["r", "d", null],
    '{"id":2}': ["r"],
    '{"id":3}': ["r"],
    '{"id":10}': ["c"],
    null: ["t"],
  });

  // Transaction metadata: BEGIN then END per transaction, END counting the change events it covers.
  const changeRecords = [...customers, ...orders].filter(
    (record) => op(record) !== null && op(record) !== "r",
  );
  const eventsByTransaction = new Map<string, Map<string, number>>();
  for (const record of changeRecords) {
    const block = payloadOf(record.value)?.transaction as { id: string; total_order: number } | null;
    assert.ok(block, `streamed change ${keyText(record)} carries its transaction block`);
    const perTable = eventsByTransaction.get(block.id) ?? new Map<string, number>();
    const source = payloadOf(record.value)?.source as Payload;
    const collection = `${source.schema}.${source.table}`;
    perTable.set(collection, (perTable.get(collection) ?? 0) + 1);
    eventsByTransaction.set(block.id, perTable);
  }
  const transactions = all
    .filter((record) => record.topic === transactionTopic)
    .map((record) => payloadOf(record.value) as Payload);
  for (const [id, perTable] of eventsByTransaction) {
    const statuses = transactions.filter((event) => event.id === id).map((event) => event.status);
    assert.deepEqual(statuses, ["BEGIN", "END"], `transaction ${id}`);
    const end = transactions.find((event) => event.id === id && event.status === "END");
    const total = [...perTable.values()].reduce((sum, count) => sum + count, 0);
    assert.equal(end?.event_count, total, `END event_count of ${id}`);
    assert.deepEqual(
      Object.fromEntries(
        ((end?.data_collections ?? []) as Array<{ data_collection: string; event_count: number }>).map(
          (entry) => [entry.data_collection, entry.event_count],
        ),
      ),
      Object.fromEntries(perTable),
    );
  }
  assert.ok(
    [...eventsByTransaction.values()].some(
      (perTable) => perTable.get("public.orders") === 2 && perTable.get("public.customers") === 1,
    ),
    "the multi-table transaction: two orders events and one customers event",
  );
  // The primary-key change is one transaction: delete of 3 and create of 100.
  assert.ok(
    [...eventsByTransaction.values()].some(
      (perTable) => perTable.get("public.customers") === 2 && perTable.size === 1,
    ),
  );

  const message = all.find((record) => record.topic === messageTopic);
  assert.deepEqual(payloadOf(message?.key), { prefix: "app" });
  const messageValue = payloadOf(message?.value) as Payload;
  assert.equal(messageValue.op, "m");
  assert.deepEqual(messageValue.message, { prefix: "app", content: Buffer.from("hello").toString("base64") });
});

test("schemas.enable=false: plain JSON keys and values; schema changes to <prefix>; heartbeats to __debezium-heartbeat.<prefix>", {
  timeout: 120_000,
}, async (t) => {
  const fixture = await captureFixture(t, "create table items (id int primary key, label text)");
  const { sql, prefix, brokers } = fixture;
  const pipeline = await KafkaCapture.open(
    fixture.settings({
      "key.converter": "org.apache.kafka.connect.json.JsonConverter",
      "key.converter.schemas.enable": "false",
      "value.converter.schemas.enable": false,
      "snapshot.mode": "never",
      "heartbeat.interval.ms": 200,
    }),
  );
  defer(t, () => pipeline.stop());
  await pipeline.start();
  await sql.query("insert into items values (1, 'one')");
  await sql.query("update items set label = 'uno' where id = 1");
  await sql.query("delete from items where id = 1");
  await sql.query("alter table items add column weight int");
  await sql.query("insert into items values (2, 'two', 5)");

  const itemsTopic = `${prefix}.public.items`;
  const heartbeatTopic = `__debezium-heartbeat.${prefix}`;
  // Three topics, each acknowledged on its own: wait until each holds what the test reads from it.
  const records = await waitFor("the insert after the DDL, the schema change and a heartbeat", async () => {
    const found = await readTopics(brokers, [itemsTopic, prefix, heartbeatTopic]);
    return found.some((record) => record.topic === itemsTopic && (record.key as Payload | null)?.id === 2) &&
      found.some((record) => record.topic === prefix) &&
      found.some((record) => record.topic === heartbeatTopic)
      ? found
      : undefined;
  });
  const items = records.filter((record) => record.topic === itemsTopic);
  assert.deepEqual(
    items.map((record) => [record.key, record.value === null ? null : (record.value as Payload).op]),
    [
      [{ id: 1 }, "c"],
      [{ id: 1 }, "u"],
      [{ id: 1 }, "d"],
      [{ id: 1 }, null],
      [{ id: 2 }, "c"],
    ],
  );
  const created = items.at(-1)?.value as Payload;
  assert.ok(!("schema" in created), "no schema envelope");
  assert.deepEqual(created.after, { id: 2, label: "two", weight: 5 });
  assert.equal((created.source as Payload).table, "items");

  const schemaChange = records.find((record) => record.topic === prefix);
  assert.deepEqual(schemaChange?.key, { schema: "public", table: "items" });
  assert.deepEqual((schemaChange?.value as Payload | undefined)?.changes, [
    { kind: "add_column", column: "weight", type: "integer" },
  ]);

  const heartbeat = records.find((record) => record.topic === heartbeatTopic);
  assert.deepEqual(heartbeat?.key, { serverName: prefix });
  assert.equal(typeof (heartbeat?.value as Payload | undefined)?.ts_ms, "number");
});
