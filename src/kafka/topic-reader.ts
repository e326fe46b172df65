/**
 * Reads a topic from its start to the end offsets it has now, with plain Fetch requests to each
 * partition's leader — no consumer group, so no join or rebalance: what the offset store needs at
 * startup (and what tests use to see what capture produced).
 */
import type { Consumer } from "@platformatic/kafka";
import { brokerMessage, KafkaTransportError } from "./errors.ts";

export interface TopicRecord {
  topic: string;
  partition: number;
  offset: bigint;
  timestamp: bigint;
  key: Buffer | null;
  value: Buffer | null;
}

/** Kafka's ListOffsets special timestamps. */
const LATEST = -1n;
const EARLIEST = -2n;
/** The record-batch attribute bit of transaction markers. */
const IS_CONTROL = 0b10_0000;

/**
 * Every record of `topic` below the end offsets at the time of the call, partition by partition, in
 * offset order. `consumer` is only used for its connections (no group is joined).
 */
export async function* readTopic(
  consumer: Consumer,
  topic: string,
  options: { maxBytes?: number } = {},
): AsyncGenerator<TopicRecord> {
  const maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
  let metadata: Awaited<ReturnType<Consumer["metadata"]>>;
  let starts: Map<string, bigint[]>;
  let ends: Map<string, bigint[]>;
  try {
    metadata = await consumer.metadata({ topics: [topic], forceUpdate: true });
    starts = await consumer.listOffsets({ topics: [topic], timestamp: EARLIEST });
    ends = await consumer.listOffsets({ topics: [topic], timestamp: LATEST });
  } catch (error) {
    throw new KafkaTransportError(
      "OFFSET_READ_FAILED",
      `cannot list the offsets of ${topic}: ${brokerMessage(error)}`,
      {
        cause: error,
      },
    );
  }
  const info = metadata.topics.get(topic);
  if (!info) return;
  for (let partition = 0; partition < info.partitionsCount; partition++) {
    const end = ends.get(topic)?.[partition] ?? 0n;
    let offset = starts.get(topic)?.[partition] ?? 0n;
    while (offset < end) {
      const leader = info.partitions[partition]?.leader;
      if (leader === undefined) break;
      let response: Awaited<ReturnType<Consumer["fetch"]>>;
      try {
        response = await consumer.fetch({
          node: leader,
          maxWaitTime: 100,
          minBytes: 1,
          maxBytes,
          topics: [
            {
              topicId: info.id,
              partitions: [
                {
                  partition,
                  fetchOffset: offset,
                  partitionMaxBytes: maxBytes,
                  currentLeaderEpoch: -1,
                  lastFetchedEpoch: -1,
                },
              ],
            },
          ],
        });
      } catch (error) {
        throw new KafkaTransportError(
          "OFFSET_READ_FAILED",
          `cannot read ${topic} partition ${partition} at offset ${offset}: ${brokerMessage(error)}`,
          { cause: error },
        );
      }
      const batches = response.responses[0]?.partitions[0]?.records ?? [];
      let next = offset;
      for (const batch of batches) {
        const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
        if (last + 1n > next) next = last + 1n;
        if (batch.attributes & IS_CONTROL) continue;
        for (const record of batch.records) {
          const recordOffset = batch.firstOffset + BigInt(record.offsetDelta);
          if (recordOffset < offset || recordOffset >= end) continue;
          yield {
            topic,
            partition,
            offset: recordOffset,
            timestamp: batch.firstTimestamp + record.timestampDelta,
            key: record.key ?? null,
            value: record.value ?? null,
          };
        }
      }
      // Nothing came back below the end offset: the rest was removed (retention) or aborted; stop here.
      if (next === offset) break;
      offset = next;
    }
  }
}
