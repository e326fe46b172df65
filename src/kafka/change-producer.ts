/**
 * Capture's Kafka downstream: {@link KafkaChangeSink} turns capture batches into Kafka records
 * (Debezium envelope as Kafka Connect JSON, one topic per table keyed by primary key, tombstones,
 * transaction BEGIN/END, logical decoding messages, schema changes, heartbeats), produces them with an
 * idempotent producer (acks=all), and reports a batch's position durable only when the broker has
 * acknowledged every record of it and of every batch before it — the only thing that lets capture move
 * the slot. `write` returns before the acks (pipelining) but waits once `maxInFlightRecords` are
 * unacknowledged (backpressure). A produce that fails after the retries fails the sink for good: the
 * next `write` and `failed` reject with PRODUCE_FAILED, so capture stops instead of skipping records.
 */
import { Producer } from "@platformatic/kafka";
import type { ChangeBatch, ChangeSink, SourcePosition } from "../capture/capture.ts";
import { type CaptureEvent, type JsonParts, keyJsonParts, valueJsonParts } from "../capture/envelope.ts";
import { brokerMessage, KafkaTransportError } from "./errors.ts";
import { heartbeatRecord, heartbeatTopic } from "./heartbeat.ts";
import { keyPartitioner } from "./partitioner.ts";
import { kafkaTopicName, type TopicManager } from "./topics.ts";

export interface OutgoingRecord {
  topic: string;
  /** Null: no key (a table without a primary key, TRUNCATE); the record goes to partition 0. */
  key: Buffer | null;
  /** Null: a tombstone. */
  value: Buffer | null;
}

/** What the sink needs of a producer: send records in order and resolve once the broker acknowledged all. */
export interface RecordSender {
  send(records: OutgoingRecord[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * An idempotent @platformatic/kafka producer (acks=all, retried for `deliveryTimeoutMs`), keys
 * partitioned as Kafka's Java client does (partitioner.ts). The sink keeps one request in flight: the client numbers an
 * idempotent batch's sequence when the previous one is acknowledged, so concurrent sends to one
 * partition would be refused as out of order.
 */
export function kafkaRecordSender(options: {
  brokers: string[];
  clientId: string;
  deliveryTimeoutMs: number;
}): RecordSender {
  const retryDelay = 500;
  const producer = new Producer({
    clientId: options.clientId,
    bootstrapBrokers: options.brokers,
    idempotent: true,
    retries: Math.max(2, Math.ceil(options.deliveryTimeoutMs / retryDelay)),
    retryDelay,
    partitioner: keyPartitioner,
  });
  return {
    async send(records) {
      await producer.send({
        messages: records.map((record) => ({
          topic: record.topic,
          ...(record.key === null ? {} : { key: record.key }),
          ...(record.value === null ? {} : { value: record.value }),
        })),
      });
    },
    close: () => producer.close(),
  };
}

export interface KafkaChangeSinkOptions {
  sender: RecordSender;
  topics: TopicManager;
  topicPrefix: string;
  keySchemasEnable: boolean;
  valueSchemasEnable: boolean;
  /** Schema-change events to the `<prefix>` topic (Debezium's `include.schema.changes`); false drops them. */
  includeSchemaChanges: boolean;
  maxInFlightRecords: number;
  /** Bytes (keys + values) produced but not yet acknowledged before `write` waits (Kafka's `buffer.memory`). */
  maxInFlightBytes?: number;
  maxRequestBytes: number;
  heartbeat?: { intervalMs: number; topicPrefix: string };
  /** For the error message: what `deliveryTimeoutMs` the sender was given. */
  deliveryTimeoutMs?: number;
}

export interface KafkaChangeSinkStats {
  recordsAcknowledged: number;
  recordsInFlight: number;
  bytesInFlight: number;
  requests: number;
}

function recordBytes(record: OutgoingRecord): number {
  return (record.key?.length ?? 0) + (record.value?.length ?? 0);
}

/**
 * UTF-8 encodes record keys and values into shared slabs (each record is a view of one), instead of
 * one `Buffer.from` per key and value; the constant `{"schema":…,"payload":` of a change event is
 * copied as bytes instead of being encoded again for every record. The bytes are exactly those of
 * `Buffer.from(serializeKey/serializeValue(…))`. A slab lives as long as any record in it is
 * referenced (until the broker has acknowledged them).
 */
export class RecordEncoder {
  private static readonly SLAB_BYTES = 256 * 1024;
  private slab = Buffer.allocUnsafe(RecordEncoder.SLAB_BYTES);
  private used = 0;

  encode(parts: JsonParts | null): Buffer | null {
    if (parts === null) return null;
    const head = parts.head?.bytes;
    const body = parts.body;
    // At most 3 bytes per UTF-16 unit (a surrogate pair is 2 units and 4 bytes), + the closing brace.
    const most = (head ? head.length + 1 : 0) + body.length * 3;
    if (this.used + most > this.slab.length) {
      this.slab = Buffer.allocUnsafe(Math.max(RecordEncoder.SLAB_BYTES, most));
      this.used = 0;
    }
    const slab = this.slab;
    const start = this.used;
    let end = start;
    if (head) end += head.copy(slab, end);
    end += slab.write(body, end, "utf8");
    if (head) slab[end++] = 0x7d; // }
    // Keep views 8-byte aligned, as Buffer's own pool does.
    this.used = (end + 7) & ~7;
    return slab.subarray(start, end);
  }
}

interface DurabilityMark {
  position: SourcePosition;
  /** The position is durable once this many records (counted from the start) are acknowledged. */
  recordsThrough: number;
}

export class KafkaChangeSink implements ChangeSink {
  private readonly options: KafkaChangeSinkOptions;
  private listener: ((position: SourcePosition) => void) | null = null;
  private unsent: OutgoingRecord[] = [];
  private marks: DurabilityMark[] = [];
  private enqueued = 0;
  private acknowledged = 0;
  private bytesInFlight = 0;
  private requests = 0;
  private sending = false;
  private closed = false;
  private failure: KafkaTransportError | null = null;
  private waiters: Array<{ ready: () => boolean; resolve: () => void; reject: (error: Error) => void }> = [];
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private readonly encoder = new RecordEncoder();
  private rejectFailed: (error: Error) => void = () => {};
  /** Rejects with PRODUCE_FAILED when the sink fails; never resolves. Race it with capture's `done`. */
  readonly failed: Promise<never>;

  constructor(options: KafkaChangeSinkOptions) {
    this.options = options;
    this.failed = new Promise<never>((_, reject) => {
      this.rejectFailed = reject;
    });
    this.failed.catch(() => {});
    const heartbeat = options.heartbeat;
    if (heartbeat && heartbeat.intervalMs > 0) {
      const topic = heartbeatTopic(heartbeat.topicPrefix, options.topicPrefix);
      this.heartbeatTimer = setInterval(() => void this.sendHeartbeat(topic), heartbeat.intervalMs);
      this.heartbeatTimer.unref();
    }
  }

  onDurable(listener: (position: SourcePosition) => void): void {
    this.listener = listener;
  }

  async write(batch: ChangeBatch): Promise<void> {
    this.checkUsable();
    const records = this.records(batch.events);
    if (records.length > 0) {
      const topics = new Set(records.map((record) => record.topic));
      // The transaction-metadata topic gets one partition: its END records in commit order are what a
      // transaction-consistent sink walks, and order holds only within a partition.
      const transactions = kafkaTopicName(`${this.options.topicPrefix}.transaction`);
      if (topics.delete(transactions)) await this.options.topics.ensure([transactions], { partitions: 1 });
      await this.options.topics.ensure(topics);
    }
    this.checkUsable();
    for (const record of records) {
      this.unsent.push(record);
      this.bytesInFlight += recordBytes(record);
    }
    this.enqueued += records.length;
    this.marks.push({ position: batch.position, recordsThrough: this.enqueued });
    this.pump();
    if (!this.hasRoom()) await this.waitUntil(() => this.hasRoom());
  }

  /** The backpressure bound: fewer than `maxInFlightRecords` records and `maxInFlightBytes` bytes unacknowledged. */
  private hasRoom(): boolean {
    return (
      this.enqueued - this.acknowledged < this.options.maxInFlightRecords &&
      this.bytesInFlight < (this.options.maxInFlightBytes ?? Number.POSITIVE_INFINITY)
    );
  }

  /** Resolves once every record written so far is acknowledged (and its position reported durable). */
  async flush(): Promise<void> {
    const target = this.enqueued;
    await this.waitUntil(() => this.acknowledged >= target);
  }

  /** Flushes, then closes the producer. Later writes fail with SINK_CLOSED. */
  async close(): Promise<void> {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    try {
      if (!this.failure) await this.flush();
    } finally {
      this.closed = true;
      await this.options.sender.close();
    }
  }

  stats(): KafkaChangeSinkStats {
    return {
      recordsAcknowledged: this.acknowledged,
      recordsInFlight: this.enqueued - this.acknowledged,
      bytesInFlight: this.bytesInFlight,
      requests: this.requests,
    };
  }

  /** The Kafka records of a batch's events, in order. */
  private records(events: CaptureEvent[]): OutgoingRecord[] {
    const keyOptions = { schemasEnable: this.options.keySchemasEnable };
    const valueOptions = { schemasEnable: this.options.valueSchemasEnable };
    const encoder = this.encoder;
    const records: OutgoingRecord[] = [];
    let lastTopic = "";
    let lastKafkaTopic = "";
    for (const event of events) {
      let topic: string;
      if (event.kind === "schema_change") {
        if (!this.options.includeSchemaChanges) continue;
        // Debezium's schema change topic is named after the topic prefix alone.
        topic = kafkaTopicName(this.options.topicPrefix);
      } else if (event.topic === lastTopic) {
        topic = lastKafkaTopic; // the events of a table come in runs: sanitize its name once per run
      } else {
        topic = kafkaTopicName(event.topic);
        lastTopic = event.topic;
        lastKafkaTopic = topic;
      }
      records.push({
        topic,
        key: encoder.encode(keyJsonParts(event, keyOptions)),
        value: encoder.encode(valueJsonParts(event, valueOptions)),
      });
    }
    return records;
  }

  private async sendHeartbeat(topic: string): Promise<void> {
    if (this.closed || this.failure) return;
    try {
      await this.options.topics.ensure([topic]);
    } catch (error) {
      this.fail(error, [topic]);
      return;
    }
    if (this.closed || this.failure) return;
    const record = heartbeatRecord(topic, this.options.topicPrefix, Date.now(), {
      keySchemasEnable: this.options.keySchemasEnable,
      valueSchemasEnable: this.options.valueSchemasEnable,
    });
    this.unsent.push(record);
    this.bytesInFlight += recordBytes(record);
    this.enqueued++;
    this.pump();
  }

  /** Sends the next request when none is in flight: records in order, up to `maxRequestBytes`. */
  private pump(): void {
    if (this.sending || this.failure) return;
    if (this.unsent.length === 0) {
      this.reportDurable();
      return;
    }
    let bytes = 0;
    let count = 0;
    for (const record of this.unsent) {
      const size = recordBytes(record) + 64; // + a record's framing, roughly
      if (count > 0 && bytes + size > this.options.maxRequestBytes) break;
      bytes += size;
      count++;
    }
    const chunk = this.unsent.splice(0, count);
    this.sending = true;
    this.requests++;
    this.options.sender.send(chunk).then(
      () => {
        this.sending = false;
        this.acknowledged += chunk.length;
        for (const record of chunk) this.bytesInFlight -= recordBytes(record);
        this.reportDurable();
        this.wake();
        this.pump();
      },
      (error: unknown) => {
        this.sending = false;
        this.fail(error, [...new Set(chunk.map((record) => record.topic))]);
      },
    );
  }

  /** Hands the newest fully acknowledged batch position to capture (positions are cumulative). */
  private reportDurable(): void {
    let newest: DurabilityMark | undefined;
    while (this.marks.length > 0 && (this.marks[0]?.recordsThrough ?? 0) <= this.acknowledged)
      newest = this.marks.shift();
    if (newest) this.listener?.(newest.position);
  }

  private fail(error: unknown, topics: string[]): void {
    if (this.failure) return;
    this.failure =
      error instanceof KafkaTransportError
        ? error
        : new KafkaTransportError(
            "PRODUCE_FAILED",
            `Kafka did not acknowledge records for ${topics.join(", ")}${this.options.deliveryTimeoutMs ? ` within delivery.timeout.ms=${this.options.deliveryTimeoutMs}` : ""}: ${brokerMessage(error)}; capture stops here and the slot stays at the last acknowledged position, so a restart re-sends the rest`,
            { cause: error },
          );
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.unsent = [];
    this.marks = [];
    for (const waiter of this.waiters) waiter.reject(this.failure);
    this.waiters = [];
    this.rejectFailed(this.failure);
  }

  private checkUsable(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new KafkaTransportError("SINK_CLOSED", "the Kafka change sink is closed");
  }

  private waitUntil(ready: () => boolean): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (ready()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.waiters.push({ ready, resolve, reject }));
  }

  private wake(): void {
    this.waiters = this.waiters.filter((waiter) => {
      if (!waiter.ready()) return true;
      waiter.resolve();
      return false;
    });
  }
}
