/**
 * One `floe sink` process: a worker (its share of the source partitions) and a coordinator candidate
 * (active only while elected). Run several processes with the same sink id to scale out; Kafka's
 * group protocol spreads the partitions and elects one coordinator. See map.md.
 */
import { Admin } from "@platformatic/kafka";
import type { Catalog, Namespace, TableIdentifier } from "../../catalog/catalog.ts";
import { SinkError } from "../errors.ts";
import { DEFAULT_CONTROL_TOPIC } from "./control.ts";
import { Coordinator, quietly } from "./coordinator.ts";
import { deadLetterHeaders } from "./dead-letter.ts";
import { type RecordDecoder, type SourceRecord, Worker } from "./worker.ts";

export interface KafkaSinkOptions {
  /** Consumer group id; also tags the sink's snapshots (`floe.sink.id`). */
  sinkId: string;
  brokers: string[];
  /** Source topics, or a regular expression matched against the broker's topic names. */
  topics?: string[];
  topicsRegex?: string;
  controlTopic?: string;
  catalog: Catalog;
  namespace: Namespace;
  mode?: "upsert" | "changelog";
  decode: RecordDecoder;
  route?: (source: { schema: string; table: string }, record: SourceRecord) => TableIdentifier;
  deadLetterTopic?: string;
  deadLetterHeaders?: (error: unknown, record: SourceRecord) => Record<string, string>;
  commitIntervalMs?: number;
  /** A round commits what arrived after this long even if some partitions did not answer. */
  commitTimeoutMs?: number;
  bufferRows?: number;
  log?: (line: string) => void;
  workerId?: string;
  /**
   * Transaction-consistent mode: the capture's transaction-metadata topic (`<prefix>.transaction`).
   * Every commit then holds whole PostgreSQL transactions only, across tables, and records the commit
   * LSN it reaches (`floe.source.lsn`).
   */
  transactionTopic?: string;
}

export interface KafkaSink {
  worker: Worker;
  coordinator: Coordinator;
  /** Rejects when the worker stopped on an error. */
  failed: Promise<never>;
  close(): Promise<void>;
}

export async function startKafkaSink(options: KafkaSinkOptions): Promise<KafkaSink> {
  const controlTopic = options.controlTopic ?? DEFAULT_CONTROL_TOPIC;
  const log = options.log ?? (() => {});
  const admin = new Admin({
    clientId: `floe-sink-${options.sinkId}-admin`,
    bootstrapBrokers: options.brokers,
  });
  try {
    const topics = await resolveTopics(admin, options);
    await ensureControlTopic(admin, controlTopic, options.deadLetterTopic);
    const partitions = async () => {
      const metadata = await admin.metadata({ topics });
      const set = new Set<string>();
      for (const [name, topic] of metadata.topics) {
        for (let p = 0; p < topic.partitionsCount; p++) set.add(`${name}/${p}`);
      }
      return set;
    };
    const commitIntervalMs = options.commitIntervalMs ?? 1000;
    const coordinator = new Coordinator({
      sinkId: options.sinkId,
      brokers: options.brokers,
      controlTopic,
      catalog: options.catalog,
      partitions,
      commitIntervalMs,
      commitTimeoutMs: options.commitTimeoutMs ?? Math.max(5000, 3 * commitIntervalMs),
      log,
      ...(options.transactionTopic ? { transactionTopic: options.transactionTopic } : {}),
    });
    const worker = new Worker({
      sinkId: options.sinkId,
      brokers: options.brokers,
      topics,
      controlTopic,
      catalog: options.catalog,
      namespace: options.namespace,
      mode: options.mode ?? "upsert",
      decode: options.decode,
      log,
      ...(options.route ? { route: options.route } : {}),
      ...(options.deadLetterTopic ? { deadLetterTopic: options.deadLetterTopic } : {}),
      deadLetterHeaders: options.deadLetterHeaders ?? ((error, record) => deadLetterHeaders(error, record)),
      ...(options.bufferRows !== undefined ? { bufferRows: options.bufferRows } : {}),
      ...(options.workerId ? { workerId: options.workerId } : {}),
      ...(options.transactionTopic ? { transactionConsistent: true } : {}),
    });
    // The coordinator first: a worker's first reset waits for rounds published before it joined.
    await coordinator.start();
    await worker.start().catch(async (error: unknown) => {
      await worker.close();
      await coordinator.close();
      throw error;
    });
    return {
      worker,
      coordinator,
      failed: worker.failed,
      close: async () => {
        await worker.close();
        await coordinator.close();
        await quietly(() => admin.close());
      },
    };
  } catch (error) {
    await quietly(() => admin.close());
    throw error;
  }
}

async function resolveTopics(admin: Admin, options: KafkaSinkOptions): Promise<string[]> {
  if (options.topics && options.topics.length > 0) return options.topics;
  if (!options.topicsRegex) {
    throw new SinkError("CHANGE_INVALID", "floe sink needs --topics or --topics-regex");
  }
  const pattern = new RegExp(`^(?:${options.topicsRegex})$`);
  const topics = (await admin.listTopics()).filter((t) => pattern.test(t)).sort();
  if (topics.length === 0) {
    throw new SinkError(
      "CHANGE_INVALID",
      `no topic matches --topics-regex ${options.topicsRegex}; start floe capture first or check the prefix`,
    );
  }
  return topics;
}

/** The control topic has one partition (the coordinator election needs that); created when missing. */
async function ensureControlTopic(
  admin: Admin,
  controlTopic: string,
  deadLetterTopic?: string,
): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const create = [controlTopic, deadLetterTopic].filter(
    (t): t is string => t !== undefined && !existing.has(t),
  );
  for (const topic of create) {
    await admin
      .createTopics({ topics: [topic], partitions: 1, replicas: 1 })
      .catch(async (error: unknown) => {
        if (!(await admin.listTopics()).includes(topic)) throw error;
      });
  }
  const metadata = await admin.metadata({ topics: [controlTopic] });
  const partitions = metadata.topics.get(controlTopic)?.partitionsCount ?? 0;
  if (partitions !== 1) {
    throw new SinkError(
      "CHANGE_INVALID",
      `control topic ${controlTopic} has ${partitions} partitions; it needs exactly 1 (the coordinator is elected through it)`,
    );
  }
}
