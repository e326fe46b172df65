/**
 * Capture's offset (commit LSN + snapshot progress) in a compacted Kafka topic — Kafka Connect's
 * `offset.storage.topic` idea, so a restarted `floe capture` resumes from Kafka and needs no local state.
 * Record key = the slot name; value = the offset as JSON; a null value (tombstone) resets it. `load`
 * reads the topic to its end and takes the last value for the key; `save` produces and resolves only
 * once the broker acknowledged (acks=all), because Capture moves the slot right after it.
 */
import { type Admin, Consumer, Producer } from "@platformatic/kafka";
import { z } from "zod";
import type { CaptureOffset, OffsetStore } from "../capture/capture.ts";
import { brokerMessage, KafkaTransportError } from "./errors.ts";
import { readTopic } from "./topic-reader.ts";
import { TopicManager } from "./topics.ts";

const TableProgressSchema = z.object({
  done: z.boolean(),
  lastKey: z.array(z.string()).nullable(),
  rows: z.number(),
});

/** The JSON value of an offset record. `ts_ms` is informational (when it was written). */
export const OffsetRecordSchema = z.object({
  slotName: z.string(),
  lsn: z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i),
  snapshot: z
    .object({ consistentPoint: z.string(), tables: z.record(z.string(), TableProgressSchema) })
    .nullable(),
  snapshotCompleted: z.boolean(),
  ts_ms: z.number().optional(),
});

export interface KafkaOffsetStoreOptions {
  brokers: string[];
  topic: string;
  /** The record key: one offset per replication slot. */
  slotName: string;
  clientId?: string;
  /** How the topic is created when missing (always 1 partition, `cleanup.policy=compact`). */
  replicationFactor?: number;
  deliveryTimeoutMs?: number;
}

export class KafkaOffsetStore implements OffsetStore {
  private readonly producer: Producer;
  private readonly consumer: Consumer;
  private opened = false;
  private rejectFailed: (error: Error) => void = () => {};
  /**
   * Rejects with OFFSET_WRITE_FAILED when a save fails. Capture treats a failed save as "not durable"
   * (the slot does not move) and goes on; this lets the caller stop instead of letting WAL pile up.
   */
  readonly failed: Promise<never>;

  constructor(
    private readonly admin: Admin,
    private readonly options: KafkaOffsetStoreOptions,
  ) {
    this.failed = new Promise<never>((_, reject) => {
      this.rejectFailed = reject;
    });
    this.failed.catch(() => {});
    const clientId = options.clientId ?? "floe-capture";
    const retryDelay = 500;
    this.producer = new Producer({
      clientId: `${clientId}-offsets`,
      bootstrapBrokers: options.brokers,
      idempotent: true,
      retries: Math.max(2, Math.ceil((options.deliveryTimeoutMs ?? 120_000) / retryDelay)),
      retryDelay,
    });
    // Only used for Fetch/ListOffsets (topic-reader.ts); it never joins this group.
    this.consumer = new Consumer({
      clientId: `${clientId}-offsets-reader`,
      bootstrapBrokers: options.brokers,
      groupId: `${clientId}-offsets-reader`,
      retries: 5,
      retryDelay: 300,
    });
  }

  get topic(): string {
    return this.options.topic;
  }

  /** Creates the compacted offset topic when it does not exist. */
  async open(): Promise<void> {
    if (this.opened) return;
    await new TopicManager(this.admin, {
      partitions: 1,
      replicationFactor: this.options.replicationFactor ?? -1,
      configs: { "cleanup.policy": "compact" },
    }).ensure([this.options.topic]);
    this.opened = true;
  }

  async load(): Promise<CaptureOffset | null> {
    await this.open();
    let last: Buffer | null = null;
    let found = false;
    for await (const record of readTopic(this.consumer, this.options.topic)) {
      if (record.key?.toString("utf8") !== this.options.slotName) continue;
      last = record.value;
      found = true;
    }
    if (!found || last === null || last.length === 0) return null;
    let parsed: z.infer<typeof OffsetRecordSchema>;
    try {
      parsed = OffsetRecordSchema.parse(JSON.parse(last.toString("utf8")));
    } catch (error) {
      throw new KafkaTransportError(
        "OFFSET_READ_FAILED",
        `the offset for slot "${this.options.slotName}" in ${this.options.topic} is not a capture offset (${(error as Error).message}); produce a tombstone (null value) for key "${this.options.slotName}" to reset it`,
        { cause: error },
      );
    }
    return {
      slotName: parsed.slotName,
      lsn: parsed.lsn,
      snapshot: parsed.snapshot,
      snapshotCompleted: parsed.snapshotCompleted,
    };
  }

  async save(offset: CaptureOffset): Promise<void> {
    const value = JSON.stringify({ ...offset, ts_ms: Date.now() });
    try {
      await this.producer.send({
        messages: [
          {
            topic: this.options.topic,
            key: Buffer.from(this.options.slotName),
            value: Buffer.from(value),
          },
        ],
      });
    } catch (error) {
      const failure = new KafkaTransportError(
        "OFFSET_WRITE_FAILED",
        `cannot store the capture offset ${offset.lsn} in ${this.options.topic}: ${brokerMessage(error)}; the slot stays at the last stored offset`,
        { cause: error },
      );
      this.rejectFailed(failure);
      throw failure;
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.producer.close(), this.consumer.close(true)]);
  }
}
