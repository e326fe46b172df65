/**
 * Capture into Kafka, wired: the admin connection (brokers checked first), the offset store, the
 * change sink and capture itself, with one `done` that settles when any of them fails and one `stop`
 * that ends them in the order that loses nothing — stop the stream at a transaction boundary, wait for
 * the broker's acks, store the offset, confirm the slot, close the clients. `floe capture` is this plus
 * flags, logging and metrics.
 */
import type { Admin } from "@platformatic/kafka";
import { Capture } from "../capture/capture.ts";
import type { CaptureConfig } from "../capture/config.ts";
import { connectAdmin } from "./brokers.ts";
import { KafkaChangeSink, kafkaRecordSender, type RecordSender } from "./change-producer.ts";
import type { KafkaCaptureConfig } from "./config.ts";
import { KafkaOffsetStore } from "./offset-store.ts";
import { TopicManager } from "./topics.ts";

export interface KafkaCaptureOptions {
  capture: CaptureConfig;
  kafka: KafkaCaptureConfig;
  /** Wraps the producer (tests hold acknowledgements back through it). */
  wrapSender?: (sender: RecordSender) => RecordSender;
}

export class KafkaCapture {
  readonly capture: Capture;
  readonly sink: KafkaChangeSink;
  readonly offsets: KafkaOffsetStore;
  private streamDone: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  /** Settles when streaming ends: rejects on the first failure of capture, the producer or the offset store. */
  readonly done: Promise<void>;
  private settleDone: { resolve: () => void; reject: (error: unknown) => void } = {
    resolve: () => {},
    reject: () => {},
  };

  private constructor(
    private readonly admin: Admin,
    readonly config: { capture: CaptureConfig; kafka: KafkaCaptureConfig },
    sender: RecordSender,
  ) {
    const { capture, kafka } = config;
    this.offsets = new KafkaOffsetStore(admin, {
      brokers: kafka.brokers,
      topic: kafka.offsetTopic,
      slotName: capture.slotName,
      clientId: kafka.clientId,
      replicationFactor: kafka.topicReplicationFactor,
      deliveryTimeoutMs: kafka.deliveryTimeoutMs,
    });
    this.sink = new KafkaChangeSink({
      sender,
      topics: new TopicManager(admin, {
        partitions: kafka.topicPartitions,
        replicationFactor: kafka.topicReplicationFactor,
        configs: kafka.topicConfigs,
      }),
      topicPrefix: capture.topicPrefix,
      keySchemasEnable: kafka.keySchemasEnable,
      valueSchemasEnable: kafka.valueSchemasEnable,
      includeSchemaChanges: kafka.includeSchemaChanges,
      maxInFlightRecords: kafka.maxInFlightRecords,
      maxInFlightBytes: kafka.maxInFlightBytes,
      maxRequestBytes: kafka.maxRequestBytes,
      deliveryTimeoutMs: kafka.deliveryTimeoutMs,
      heartbeat: { intervalMs: kafka.heartbeatIntervalMs, topicPrefix: kafka.heartbeatTopicPrefix },
    });
    this.capture = new Capture(capture, this.sink, this.offsets);
    this.done = new Promise<void>((resolve, reject) => {
      this.settleDone = { resolve, reject };
    });
    this.done.catch(() => {});
    this.sink.failed.catch((error: unknown) => this.settleDone.reject(error));
    this.offsets.failed.catch((error: unknown) => this.settleDone.reject(error));
  }

  /** Connects to Kafka (BROKERS_UNREACHABLE when it cannot) and creates the offset topic if missing. */
  static async open(options: KafkaCaptureOptions): Promise<KafkaCapture> {
    const { capture, kafka } = options;
    const admin = await connectAdmin({ brokers: kafka.brokers, clientId: kafka.clientId });
    const base = kafkaRecordSender({
      brokers: kafka.brokers,
      clientId: kafka.clientId,
      deliveryTimeoutMs: kafka.deliveryTimeoutMs,
    });
    const pipeline = new KafkaCapture(admin, { capture, kafka }, options.wrapSender?.(base) ?? base);
    try {
      await pipeline.offsets.open();
    } catch (error) {
      await pipeline.closeClients();
      throw error;
    }
    return pipeline;
  }

  /**
   * Runs the snapshot the mode asks for and starts streaming; resolves once streaming runs (or, for
   * `initial_only`, once the snapshot is written). Rejects when the sink fails while it runs.
   */
  async start(): Promise<void> {
    const started = this.capture.start();
    started.catch(() => {});
    const { done } = await Promise.race([started, this.sink.failed, this.offsets.failed]);
    this.streamDone = done;
    done.then(
      () => this.settleDone.resolve(),
      (error: unknown) => this.settleDone.reject(error),
    );
  }

  /** Stops cleanly (idempotent): stream halted at a transaction boundary, acks awaited, offset stored, slot confirmed. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.capture.stop();
        await this.sink.close().catch(() => {});
      } finally {
        await this.closeClients();
        this.settleDone.resolve();
      }
    })();
    return this.stopping;
  }

  private async closeClients(): Promise<void> {
    await this.sink.close().catch(() => {});
    await this.offsets.close();
    await this.admin.close().catch(() => {});
  }

  get streaming(): boolean {
    return this.streamDone !== null;
  }
}
