// Smoke test: the development Kafka is a real broker with transactions — a transactional producer's
// committed messages reach a read_committed consumer, and an aborted transaction's never do.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Admin,
  Consumer,
  FetchIsolationLevels,
  MessagesStreamModes,
  Producer,
  stringDeserializers,
  stringSerializers,
} from "@platformatic/kafka";
import { defer, requireKafkaBrokers, topicPrefix, uniqueName } from "../helpers/services.ts";

async function readUntil(
  bootstrapBrokers: string[],
  topic: string,
  isolationLevel: number,
  last: string,
): Promise<string[]> {
  const consumer = new Consumer({
    clientId: "floe-smoke-consumer",
    groupId: uniqueName("floe-smoke-group"),
    bootstrapBrokers,
    isolationLevel,
    deserializers: stringDeserializers,
    maxWaitTime: 200,
  });
  try {
    const stream = await consumer.consume({
      topics: [topic],
      mode: MessagesStreamModes.EARLIEST,
      autocommit: false,
    });
    const seen: string[] = [];
    for await (const message of stream) {
      seen.push(message.value);
      if (message.value === last) break;
    }
    await stream.close();
    return seen;
  } finally {
    await consumer.close(true);
  }
}

test("a transactional producer commits and a read_committed consumer sees only committed messages", async (t) => {
  const bootstrapBrokers = await requireKafkaBrokers();
  const topic = `${topicPrefix()}orders`;

  const admin = new Admin({ clientId: "floe-smoke-admin", bootstrapBrokers });
  defer(t, () => admin.close());
  // One partition, so the log order is exactly: committed, aborted, committed.
  await admin.createTopics({ topics: [topic], partitions: 1, replicas: 1 });
  defer(t, () => admin.deleteTopics({ topics: [topic] }));

  const producer = new Producer({
    clientId: "floe-smoke-producer",
    bootstrapBrokers,
    idempotent: true,
    transactionalId: uniqueName("floe-smoke-tx"),
    serializers: stringSerializers,
  });
  defer(t, () => producer.close());

  const first = await producer.beginTransaction();
  await first.send({ messages: [{ topic, key: "1", value: "insert-1" }] });
  await first.commit();

  const aborted = await producer.beginTransaction();
  await aborted.send({ messages: [{ topic, key: "1", value: "update-1-aborted" }] });
  await aborted.abort();

  const second = await producer.beginTransaction();
  await second.send({
    messages: [
      { topic, key: "2", value: "insert-2" },
      { topic, key: "1", value: "delete-1" },
    ],
  });
  await second.commit();

  const committedView = await readUntil(
    bootstrapBrokers,
    topic,
    FetchIsolationLevels.READ_COMMITTED,
    "delete-1",
  );
  assert.deepEqual(committedView, ["insert-1", "insert-2", "delete-1"]);

  // The aborted message really is in the log: a read_uncommitted consumer is handed it.
  const everything = await readUntil(
    bootstrapBrokers,
    topic,
    FetchIsolationLevels.READ_UNCOMMITTED,
    "delete-1",
  );
  assert.deepEqual(everything, ["insert-1", "update-1-aborted", "insert-2", "delete-1"]);
});
