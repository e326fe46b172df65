// KafkaChangeSink without a broker: positions are reported durable only after every record of the
// batch and all earlier ones is acknowledged, in order; `write` waits once too many records are in
// flight; a failed produce fails the sink (no later position is ever reported); records carry the
// right topics, keys, tombstones; TopicManager creates each topic once and names refused topics.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Admin } from "@platformatic/kafka";
import type { SourcePosition } from "../../src/capture/capture.ts";
import { type CaptureEvent, serializeKey, serializeValue, toJson } from "../../src/capture/envelope.ts";
import type { EventValue } from "../../src/capture/pg-types.ts";
import type { TableSchema } from "../../src/capture/relation.ts";
import { KafkaChangeSink, type OutgoingRecord, type RecordSender } from "../../src/kafka/change-producer.ts";
import { KafkaTransportError } from "../../src/kafka/errors.ts";
import { kafkaTopicName, TopicManager } from "../../src/kafka/topics.ts";

/** A sender whose requests the test answers one by one. */
class ManualSender implements RecordSender {
  readonly requests: Array<{ records: OutgoingRecord[]; ack: () => void; fail: (error: Error) => void }> = [];
  closed = false;
  send(records: OutgoingRecord[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.requests.push({ records, ack: resolve, fail: reject });
    });
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

function fakeAdmin(onCreate: (topics: string[]) => void = () => {}): Admin {
  // Only createTopics is used by TopicManager.
  return {
    createTopics: async (options: { topics: string[] }) => {
      onCreate(options.topics);
      return [];
    },
  } as unknown as Admin;
}

const table = { schema: "public", table: "items" } as unknown as TableSchema;

function insert(id: number): CaptureEvent {
  return {
    kind: "change",
    topic: "p.public.items",
    table,
    key: { id },
    value: {
      before: null,
      after: { id },
      source: {
        version: "test",
        connector: "postgresql",
        name: "p",
        ts_ms: 0,
        snapshot: "false",
        db: "d",
        sequence: null,
        schema: "public",
        table: "items",
        txId: 1,
        lsn: 1n,
        xmin: null,
      },
      op: "c",
      ts_ms: 0,
      transaction: null,
    },
    unchangedColumns: [],
  };
}

function position(sequence: number): SourcePosition {
  return { sequence, lsn: `0/${sequence}`, snapshot: null };
}

function sinkWith(
  sender: ManualSender,
  overrides: Partial<ConstructorParameters<typeof KafkaChangeSink>[0]> = {},
) {
  const sink = new KafkaChangeSink({
    sender,
    topics: new TopicManager(fakeAdmin(), { partitions: 1, replicationFactor: -1 }),
    topicPrefix: "p",
    keySchemasEnable: false,
    valueSchemasEnable: false,
    includeSchemaChanges: true,
    maxInFlightRecords: 100,
    maxRequestBytes: 1_000_000,
    ...overrides,
  });
  const durable: string[] = [];
  sink.onDurable((reported) => durable.push(reported.lsn));
  return { sink, durable };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test("positions become durable only when every record of the batch and all earlier ones is acknowledged, in order", async () => {
  const sender = new ManualSender();
  const { sink, durable } = sinkWith(sender);
  await sink.write({ events: [insert(1), insert(2)], position: position(1) });
  await sink.write({ events: [], position: position(2) });
  await sink.write({ events: [insert(3)], position: position(3) });
  assert.equal(sender.requests.length, 1, "one request in flight at a time");
  assert.deepEqual(
    sender.requests[0]?.records.map((record) => record.key?.toString()),
    ['{"id":1}', '{"id":2}'],
  );
  assert.deepEqual(durable, [], "nothing acknowledged yet");
  sender.requests[0]?.ack();
  await tick();
  assert.deepEqual(durable, ["0/2"], "batch 1 and the empty batch 2 after them");
  assert.equal(sender.requests.length, 2);
  assert.deepEqual(
    sender.requests[1]?.records.map((record) => record.key?.toString()),
    ['{"id":3}'],
  );
  const flushed = sink.flush();
  sender.requests[1]?.ack();
  await flushed;
  assert.deepEqual(durable, ["0/2", "0/3"]);
  assert.deepEqual(sink.stats(), {
    recordsAcknowledged: 3,
    recordsInFlight: 0,
    bytesInFlight: 0,
    requests: 2,
  });
});

test("write waits when maxInFlightRecords are unacknowledged (backpressure)", async () => {
  const sender = new ManualSender();
  const { sink } = sinkWith(sender, { maxInFlightRecords: 3 });
  await sink.write({ events: [insert(1), insert(2)], position: position(1) });
  let returned = false;
  const writing = sink.write({ events: [insert(3), insert(4)], position: position(2) }).then(() => {
    returned = true;
  });
  await tick();
  assert.equal(returned, false, "4 records in flight ≥ 3: write waits");
  sender.requests[0]?.ack();
  await tick();
  assert.equal(returned, true, "2 in flight < 3: write returns before its own records are acknowledged");
  await writing;
});

test("write also waits when maxInFlightBytes are unacknowledged", async () => {
  const sender = new ManualSender();
  const { sink } = sinkWith(sender, { maxInFlightBytes: 1024 });
  const events = Array.from({ length: 10 }, (_, index) => insert(index));
  let returned = false;
  const writing = sink.write({ events, position: position(1) }).then(() => {
    returned = true;
  });
  await tick();
  assert.ok(sink.stats().bytesInFlight >= 1024);
  assert.equal(returned, false);
  sender.requests[0]?.ack();
  await writing;
  assert.equal(sink.stats().bytesInFlight, 0);
});

test("requests hold at most maxRequestBytes, records stay in order", async () => {
  const sender = new ManualSender();
  const { sink } = sinkWith(sender, { maxRequestBytes: 1024 });
  const events = Array.from({ length: 40 }, (_, index) => insert(index));
  await sink.write({ events, position: position(1) });
  const flushed = sink.flush();
  const sent: string[] = [];
  while (sent.length < 40) {
    await tick();
    const request = sender.requests.at(-1);
    assert.ok(request);
    const bytes = request.records.reduce(
      (sum, record) => sum + (record.value?.length ?? 0) + (record.key?.length ?? 0),
      0,
    );
    assert.ok(bytes <= 1024, `request of ${bytes} bytes`);
    sent.push(...request.records.map((record) => record.key?.toString() ?? ""));
    request.ack();
  }
  await flushed;
  assert.deepEqual(
    sent,
    events.map((_, index) => `{"id":${index}}`),
  );
  assert.ok(sender.requests.length > 1);
});

test("a failed produce fails the sink: later writes, flush and `failed` reject with PRODUCE_FAILED; no later position is reported", async () => {
  const sender = new ManualSender();
  const { sink, durable } = sinkWith(sender);
  await sink.write({ events: [insert(1)], position: position(1) });
  await sink.write({ events: [insert(2)], position: position(2) });
  const flushed = sink.flush();
  sender.requests[0]?.fail(new Error("NOT_ENOUGH_REPLICAS"));
  const isProduceFailure = (error: unknown) =>
    error instanceof KafkaTransportError &&
    error.code === "PRODUCE_FAILED" &&
    error.message.includes("p.public.items") &&
    error.message.includes("NOT_ENOUGH_REPLICAS");
  await assert.rejects(flushed, isProduceFailure);
  await assert.rejects(sink.failed, isProduceFailure);
  await assert.rejects(sink.write({ events: [insert(3)], position: position(3) }), isProduceFailure);
  assert.deepEqual(durable, []);
  assert.equal(sender.requests.length, 1, "nothing is sent after a failure");
});

test("records: sanitized topic names, tombstones with null value, schema changes to <prefix>, null keys (partition 0)", async () => {
  const sender = new ManualSender();
  const created: string[][] = [];
  const { sink } = sinkWith(sender, {
    topics: new TopicManager(
      fakeAdmin((topics) => created.push(topics)),
      { partitions: 1, replicationFactor: -1 },
    ),
  });
  const odd = { ...insert(1), topic: "p.public.Order Lines" } as CaptureEvent;
  await sink.write({
    events: [
      odd,
      { kind: "tombstone", topic: "p.public.items", table, key: { id: 1 } },
      {
        kind: "schema_change",
        topic: "p.public.items",
        change: { schema: "public", table: "items", changes: [], tableSchema: table },
      },
      { ...insert(2), key: null } as CaptureEvent,
    ],
    position: position(1),
  });
  await sink.write({ events: [insert(3)], position: position(2) });
  const records = sender.requests[0]?.records ?? [];
  assert.deepEqual(
    records.map((record) => [record.topic, record.key?.toString() ?? null, record.value === null]),
    [
      ["p.public.Order_Lines", '{"id":1}', false],
      ["p.public.items", '{"id":1}', true],
      ["p", '{"schema":"public","table":"items"}', false],
      ["p.public.items", null, false],
    ],
  );
  assert.deepEqual(created, [["p.public.Order_Lines", "p.public.items", "p"]], "each topic created once");

  const quiet = sinkWith(new ManualSender(), { includeSchemaChanges: false });
  await quiet.sink.write({
    events: [
      {
        kind: "schema_change",
        topic: "x",
        change: { schema: "s", table: "t", changes: [], tableSchema: table },
      },
    ],
    position: position(1),
  });
  await quiet.sink.flush();
  assert.deepEqual(quiet.durable, ["0/1"], "a batch with nothing to send is durable at once");
});

test("TopicManager: an existing topic is success; a refused one is TOPIC_CREATION_FAILED naming it and the broker's reason", async () => {
  const refusing = {
    createTopics: async () => {
      // The shape @platformatic/kafka gives a CreateTopics reply with per-topic errors.
      throw Object.assign(new Error("Received response with error while executing API CreateTopics(v7)"), {
        response: {
          topics: [
            { name: "a", errorCode: 36, errorMessage: "Topic 'a' already exists." },
            { name: "b", errorCode: 38, errorMessage: "Unable to replicate the partition 3 time(s)" },
          ],
        },
      });
    },
  } as unknown as Admin;
  await assert.rejects(
    new TopicManager(refusing, { partitions: 1, replicationFactor: 3 }).ensure(["a", "b"]),
    (error: unknown) =>
      error instanceof KafkaTransportError &&
      error.code === "TOPIC_CREATION_FAILED" &&
      /refused to create b:/.test(error.message) &&
      error.message.includes("Unable to replicate") &&
      !/create a,/.test(error.message),
  );
  const existing = {
    createTopics: async () => {
      throw Object.assign(new Error("exists"), {
        response: { topics: [{ name: "a", errorCode: 36, errorMessage: "Topic 'a' already exists." }] },
      });
    },
  } as unknown as Admin;
  await new TopicManager(existing, { partitions: 1, replicationFactor: 1 }).ensure(["a"]);
});

test("kafkaTopicName replaces what Kafka does not allow, like Debezium", () => {
  assert.equal(kafkaTopicName("p.public.orders"), "p.public.orders");
  assert.equal(kafkaTopicName("p.Sales Data.Ünïcode"), "p.Sales_Data._n_code");
  assert.throws(() => kafkaTopicName("x".repeat(250)), KafkaTransportError);
});

test("records are byte for byte Buffer.from(serializeKey/serializeValue), with and without schemas", async () => {
  const columns = ["id", "note"].map((name) => ({
    name,
    optional: name !== "id",
    mapping: { connect: { type: name === "id" ? "int64" : "string" } },
  }));
  const shaped = { schema: "public", table: "items", columns, primaryKey: ["id"] } as unknown as TableSchema;
  const texts = [
    "plain",
    "Ünïcode ✓",
    "emoji 😀 pair",
    "lone \ud800 surrogate",
    'quote " and \\ and \n',
    "x".repeat(200_000),
  ];
  const events: CaptureEvent[] = texts.flatMap((note, index): CaptureEvent[] => {
    const change = insert(index) as Extract<CaptureEvent, { kind: "change" }>;
    return [
      {
        ...change,
        table: shaped,
        key: { id: BigInt(index) },
        value: {
          ...change.value,
          before: { id: BigInt(index), note: "old" },
          after: { id: BigInt(index), note },
          op: "u",
          transaction: { id: "7:42", total_order: index + 1, data_collection_order: index + 1 },
        },
        unchangedColumns: index === 2 ? ["note"] : [],
      },
      { kind: "tombstone", topic: "p.public.items", table: shaped, key: { id: BigInt(index) } },
    ];
  });
  events.push(
    { ...insert(99), table: shaped, key: null } as CaptureEvent,
    {
      kind: "transaction",
      topic: "p.transaction",
      status: "END",
      id: "7:42",
      eventCount: 2,
      dataCollections: [{ data_collection: "public.items", event_count: 2 }],
      tsMs: 5,
    },
    {
      kind: "message",
      topic: "p.message",
      prefix: "pré",
      content: Buffer.from("hello"),
      transactional: true,
      source: (insert(1) as Extract<CaptureEvent, { kind: "change" }>).value.source,
      tsMs: 6,
    },
    {
      kind: "schema_change",
      topic: "p.public.items",
      change: { schema: "public", table: "items", changes: [], tableSchema: shaped },
    },
  );
  for (const schemasEnable of [true, false]) {
    const sender = new ManualSender();
    const { sink } = sinkWith(sender, {
      keySchemasEnable: schemasEnable,
      valueSchemasEnable: schemasEnable,
      maxInFlightRecords: 1000,
    });
    await sink.write({ events, position: position(1) });
    const records: OutgoingRecord[] = [];
    while (records.length < events.length) {
      const request = sender.requests[sender.requests.length - 1];
      assert.ok(request);
      records.push(...request.records);
      request.ack();
      await tick();
    }
    const options = { schemasEnable };
    // The value is the generic JSON of the envelope (the fast paths print the same text).
    for (const event of events)
      if (event.kind === "change" && !schemasEnable)
        assert.equal(
          serializeValue(event, options),
          toJson({
            ...event.value,
            source: { ...event.value.source },
            transaction: event.value.transaction as unknown as EventValue,
            ...(event.unchangedColumns.length > 0 ? { unchanged_columns: event.unchangedColumns } : {}),
          } as unknown as EventValue),
        );
    events.forEach((event, index) => {
      const key = serializeKey(event, options);
      const value = serializeValue(event, options);
      const record = records[index];
      assert.deepEqual(record?.key, key === null ? null : Buffer.from(key), `key ${index}`);
      assert.deepEqual(record?.value, value === null ? null : Buffer.from(value), `value ${index}`);
    });
  }
});
