/**
 * A `floe sink` worker: one member of the sink's consumer group. It reads its share of the source
 * topics (read_committed), decodes Debezium change events, routes them to one table writer per Iceberg
 * table (auto-created from the event schema, evolved with source DDL) and, when the coordinator starts a
 * commit round, closes its files and publishes them with the offsets they cover in ONE Kafka
 * transaction (see control.ts). It then waits until the coordinator committed the round before taking
 * more changes (its key index must see its own rows before it deletes them again).
 *
 * Rebalances: a source partition's keys belong to one worker at a time, so writers share tables
 * (`sharedWithSink`). When the group rebalances, everything not yet published is dropped and read
 * again from the committed offsets: the consumer rewinds every assigned partition to its committed
 * offset, and records still buffered from before the rebalance are filtered out per partition (records
 * after the last one delivered are dropped until the rewound ones arrive; then offsets must increase).
 * Every assigned partition gets a committed offset when first assigned, so a rewind always has a target.
 */
import { randomUUID } from "node:crypto";
import {
  Consumer,
  FetchIsolationLevels,
  ListOffsetTimestamps,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  type MessageToProduce,
  Producer,
  stringDeserializers,
} from "@platformatic/kafka";
import type { Catalog, Namespace, TableIdentifier } from "../../catalog/catalog.ts";
import { ancestorsOf, snapshotForRef } from "../../iceberg/table-metadata.ts";
import { createSinkTable, type EventSchema } from "../auto-create.ts";
import { type Change, formatLsn } from "../change.ts";
import { SinkError } from "../errors.ts";
import { ChangelogTableWriter, SINK_ID_PROPERTY, UpsertTableWriter } from "../table-writer.ts";
import {
  type ControlEvent,
  decodeControlEvent,
  encodeControlEvent,
  SINK_ROUNDS_PROPERTY,
  tableKey,
} from "./control.ts";
import { quietly } from "./coordinator.ts";

/** A Kafka record as the decoder sees it. */
export interface SourceRecord {
  topic: string;
  partition: number;
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
}

/** What the decoder makes of a record: a change for a source table, or something to skip. */
export type DecodedRecord =
  | {
      kind: "change";
      source: { schema: string; table: string };
      change: Omit<Change, "position">;
      eventSchema: EventSchema | undefined;
      /** The source LSN, when the event has one (changelog tables record it with the offset). */
      lsn?: bigint;
    }
  | { kind: "skip" };

export type RecordDecoder = (record: SourceRecord, target: EventSchema | undefined) => DecodedRecord;

export interface WorkerOptions {
  sinkId: string;
  brokers: string[];
  topics: string[];
  controlTopic: string;
  catalog: Catalog;
  namespace: Namespace;
  mode: "upsert" | "changelog";
  decode: RecordDecoder;
  /** Source table → Iceberg table (default: `<namespace>.<source table>`). */
  route?: (source: { schema: string; table: string }, record: SourceRecord) => TableIdentifier;
  /** Undecodable records go here with the error in headers; without it they stop the worker. */
  deadLetterTopic?: string;
  deadLetterHeaders?: (error: unknown, record: SourceRecord) => Record<string, string>;
  bufferRows?: number;
  log?: (line: string) => void;
  workerId?: string;
}

interface Route {
  identifier: TableIdentifier;
  writer: UpsertTableWriter | ChangelogTableWriter;
  schema: EventSchema | undefined;
  schemaJson: string;
  changes: number;
}

export interface WorkerStats {
  records: number;
  changes: number;
  published: number;
  deadLettered: number;
  resets: number;
}

/** Consecutive publications refused because of a rebalance before the worker gives up. */
const MAX_FENCED_PUBLICATIONS = 20;

/**
 * Kafka refused the transaction's offsets because the group moved on (rebalance in progress, a new
 * generation, this member evicted): expected during scaling, handled by re-reading.
 */
function isRebalanceError(error: unknown): boolean {
  const text = `${(error as Error)?.message ?? ""} ${JSON.stringify((error as { errors?: unknown })?.errors ?? "")}`;
  return /TxnOffsetCommit|REBALANCE_IN_PROGRESS|ILLEGAL_GENERATION|UNKNOWN_MEMBER_ID|FENCED_INSTANCE_ID/i.test(
    text,
  );
}

export class Worker {
  readonly id: string;
  readonly #options: WorkerOptions;
  readonly #log: (line: string) => void;
  readonly #consumer: Consumer;
  readonly #control: Consumer<string, string, string, string>;
  readonly #producer: Producer;
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  #controlStream: MessagesStream<string, string, string, string> | undefined;
  readonly #routes = new Map<string, Route>();
  #lock: Promise<unknown> = Promise.resolve();
  #resetPending = true;
  /** Per `topic/partition`: last offset the stream delivered, last accepted, resync ceiling. */
  readonly #delivered = new Map<string, bigint>();
  readonly #accepted = new Map<string, bigint>();
  readonly #resyncAbove = new Map<string, bigint>();
  /** Last accepted message per partition since the last publication (its offset goes in the transaction). */
  readonly #lastMessage = new Map<string, Message>();
  #deadLetters: { record: SourceRecord; error: unknown }[] = [];
  #epoch = -1;
  #fencedPublications = 0;
  readonly #commitWaiters = new Map<string, (tables: Map<string, bigint>) => void>();
  #consuming: Promise<void> = Promise.resolve();
  #closed = false;
  #failure: unknown;
  #failed!: (error: unknown) => void;
  /** Rejects when the worker stops on an error (the process should exit and be restarted). */
  readonly failed: Promise<never>;
  readonly stats: WorkerStats = { records: 0, changes: 0, published: 0, deadLettered: 0, resets: 0 };

  constructor(options: WorkerOptions) {
    this.#options = options;
    this.id = options.workerId ?? randomUUID().slice(0, 8);
    this.#log = options.log ?? (() => {});
    const clientId = `floe-sink-${options.sinkId}-${this.id}`;
    this.#consumer = new Consumer({
      clientId,
      groupId: options.sinkId,
      bootstrapBrokers: options.brokers,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      maxWaitTime: 100,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      rebalanceTimeout: 30_000,
    });
    this.#control = new Consumer({
      clientId: `${clientId}-control`,
      groupId: `${options.sinkId}-worker-${this.id}`,
      bootstrapBrokers: options.brokers,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      deserializers: stringDeserializers,
      maxWaitTime: 100,
    });
    this.#producer = new Producer({
      clientId: `${clientId}-producer`,
      bootstrapBrokers: options.brokers,
      idempotent: true,
      transactionalId: `${options.sinkId}-worker-${this.id}`,
    });
    this.failed = new Promise<never>((_resolve, reject) => {
      this.#failed = reject;
    });
    this.failed.catch(() => {});
  }

  /** Per-partition filter state and what the worker waits on, for diagnosis. */
  debugState(): Record<string, unknown> {
    return {
      stats: this.stats,
      waiting: [...this.#commitWaiters.keys()],
      delivered: Object.fromEntries([...this.#delivered].map(([k, v]) => [k, String(v)])),
      accepted: Object.fromEntries([...this.#accepted].map(([k, v]) => [k, String(v)])),
      resyncAbove: Object.fromEntries([...this.#resyncAbove].map(([k, v]) => [k, String(v)])),
      assignments: this.#consumer.assignments,
    };
  }

  async start(): Promise<void> {
    this.#controlStream = await this.#control.consume({
      topics: [this.#options.controlTopic],
      mode: MessagesStreamModes.LATEST,
      autocommit: false,
    });
    this.#controlStream.on("data", (message: Message<string, string, string, string>) =>
      this.#onControl(message),
    );
    this.#controlStream.on("error", (error: unknown) => this.#fail(error));
    this.#consumer.on("consumer:group:join", () => {
      this.#resetPending = true;
    });
    this.#stream = await this.#consumer.consume({
      topics: this.#options.topics,
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
      autocommit: false,
    });
    this.#stream.on("error", (error: unknown) => this.#fail(error));
    this.#consuming = this.#consume(this.#stream);
  }

  #fail(error: unknown): void {
    if (this.#closed || this.#failure !== undefined) return;
    this.#failure = error;
    this.#log(`worker ${this.id}: stopped: ${(error as Error).message}`);
    this.#failed(error);
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(() => {
      if (this.#failure !== undefined) throw this.#failure;
      return fn();
    });
    this.#lock = run.catch(() => {});
    return run;
  }

  async #consume(stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>): Promise<void> {
    try {
      for await (const message of stream) {
        if (this.#closed) break;
        await this.#exclusive(() => this.#handle(message));
      }
    } catch (error) {
      this.#fail(error);
    }
  }

  #onControl(message: Message<string, string, string, string>): void {
    if (message.key !== this.#options.sinkId) return;
    let event: ControlEvent;
    try {
      event = decodeControlEvent(message.value, `${message.topic}@${message.offset}`);
    } catch (error) {
      this.#log(`worker ${this.id}: ${(error as Error).message}`);
      return;
    }
    if (event.type === "start-commit") {
      if (event.epoch < this.#epoch) return; // a zombie coordinator's round
      this.#epoch = event.epoch;
      this.#exclusive(() => this.#publish(event.round)).catch((error: unknown) => this.#fail(error));
    } else if (event.type === "commit-complete") {
      const tables = new Map(event.tables.map((t) => [tableKey(t.table), BigInt(t.snapshotId)]));
      for (const round of event.rounds) this.#commitWaiters.get(round)?.(tables);
    }
  }

  async #handle(message: Message): Promise<void> {
    await this.#resetIfPending();
    const tp = `${message.topic}/${message.partition}`;
    const offset = message.offset;
    const delivered = this.#delivered.get(tp);
    this.#delivered.set(tp, delivered === undefined || offset > delivered ? offset : delivered);
    const ceiling = this.#resyncAbove.get(tp);
    if (ceiling !== undefined) {
      if (offset > ceiling) return; // buffered before the rebalance; the rewound copy follows
      this.#resyncAbove.delete(tp);
    }
    const accepted = this.#accepted.get(tp);
    if (accepted !== undefined && offset <= accepted) return; // already taken
    this.#accepted.set(tp, offset);
    this.#lastMessage.set(tp, message);
    this.stats.records++;
    const record: SourceRecord = {
      topic: message.topic,
      partition: message.partition,
      offset,
      key: message.key ?? null,
      value: message.value ?? null,
    };
    let decoded: DecodedRecord;
    try {
      decoded = this.#options.decode(record, undefined);
    } catch (error) {
      this.#deadLetter(record, error);
      return;
    }
    if (decoded.kind !== "change") return;
    try {
      const route = await this.#routeFor(decoded, record);
      // Positions are informational here (offsets give exactly-once): `<LSN>#<offset>`.
      await route.writer.write({ ...decoded.change, position: `${formatLsn(decoded.lsn ?? 0n)}#${offset}` });
      route.changes++;
      this.stats.changes++;
    } catch (error) {
      if (
        error instanceof SinkError &&
        (error.code === "CHANGE_INVALID" || error.code === "SCHEMA_INCOMPATIBLE")
      ) {
        this.#deadLetter(record, error);
        return;
      }
      throw error;
    }
  }

  #deadLetter(record: SourceRecord, error: unknown): void {
    if (!this.#options.deadLetterTopic) {
      throw new SinkError(
        "CHANGE_INVALID",
        `record ${record.topic}/${record.partition}@${record.offset} cannot be applied and no dead-letter topic is configured: ${(error as Error).message}`,
        { cause: error },
      );
    }
    this.#deadLetters.push({ record, error });
    this.stats.deadLettered++;
  }

  async #routeFor(decoded: Extract<DecodedRecord, { kind: "change" }>, record: SourceRecord): Promise<Route> {
    const identifier = this.#options.route
      ? this.#options.route(decoded.source, record)
      : { namespace: this.#options.namespace, name: decoded.source.table };
    const key = tableKey(identifier);
    const existing = this.#routes.get(key);
    // The decoder hands out one object per distinct schema: compare text only when it changes.
    if (existing && (decoded.eventSchema === undefined || decoded.eventSchema === existing.schema))
      return existing;
    const schemaJson = decoded.eventSchema ? JSON.stringify(decoded.eventSchema) : "";
    if (existing) {
      existing.schema = decoded.eventSchema;
      if (decoded.eventSchema && schemaJson !== existing.schemaJson) {
        await existing.writer.applySourceSchema(decoded.eventSchema);
        existing.schemaJson = schemaJson;
      }
      return existing;
    }
    const catalog = this.#options.catalog;
    if (!(await catalog.namespaceExists(identifier.namespace)))
      await catalog.createNamespace(identifier.namespace).catch(async (error: unknown) => {
        if (!(await catalog.namespaceExists(identifier.namespace))) throw error;
      });
    const exists = await catalog.tableExists(identifier);
    if (!exists) {
      if (!decoded.eventSchema) {
        throw new SinkError(
          "TABLE_INVALID",
          `${key} does not exist and ${record.topic} carries no schema to create it from; enable schemas (value.converter.schemas.enable=true) or create the table first`,
        );
      }
      await createSinkTable(catalog, identifier, decoded.eventSchema, { mode: this.#options.mode }).catch(
        async (error: unknown) => {
          if (!(await catalog.tableExists(identifier))) throw error; // another worker created it first
        },
      );
    }
    const options = {
      catalog,
      identifier,
      trackPositions: false,
      ...(this.#options.bufferRows !== undefined ? { bufferRows: this.#options.bufferRows } : {}),
    };
    const writer =
      this.#options.mode === "upsert"
        ? await UpsertTableWriter.open({ ...options, sharedWithSink: this.#options.sinkId })
        : await ChangelogTableWriter.open(options);
    if (exists && decoded.eventSchema) await writer.applySourceSchema(decoded.eventSchema);
    const route: Route = { identifier, writer, schema: decoded.eventSchema, schemaJson, changes: 0 };
    this.#routes.set(key, route);
    return route;
  }

  /** After a rebalance: drop what is unpublished and set up the per-partition filters (module comment). */
  async #resetIfPending(): Promise<void> {
    if (!this.#resetPending) return;
    this.#resetPending = false;
    this.stats.resets++;
    for (const route of this.#routes.values()) {
      await route.writer.discardRound();
      route.changes = 0;
      // Keys of partitions that moved here were written by another worker: re-read them.
      if (route.writer instanceof UpsertTableWriter) await route.writer.rebuildIndex();
    }
    this.#lastMessage.clear();
    this.#deadLetters = [];
    this.#accepted.clear();
    this.#resyncAbove.clear();
    const assignments = this.#consumer.assignments ?? [];
    if (assignments.length === 0) return;
    const committed = await this.#consumer.listCommittedOffsets({ topics: assignments });
    const missing: { topic: string; partition: number }[] = [];
    for (const assignment of assignments) {
      const offsets = committed.get(assignment.topic) ?? [];
      for (const partition of assignment.partitions) {
        const tp = `${assignment.topic}/${partition}`;
        const offset = offsets[partition] ?? -1n;
        if (offset < 0n) {
          missing.push({ topic: assignment.topic, partition });
          continue;
        }
        this.#accepted.set(tp, offset - 1n);
        const delivered = this.#delivered.get(tp);
        if (delivered !== undefined && delivered >= offset) this.#resyncAbove.set(tp, delivered);
      }
    }
    if (missing.length > 0) {
      // First assignment ever: pin the start (log start) as committed, so a later rewind has a target.
      const earliest = await this.#consumer.listOffsets({
        topics: [...new Set(missing.map((m) => m.topic))],
        timestamp: ListOffsetTimestamps.EARLIEST,
      });
      await this.#consumer.commit({
        offsets: missing.map((m) => ({
          topic: m.topic,
          partition: m.partition,
          offset: earliest.get(m.topic)?.[m.partition] ?? 0n,
          leaderEpoch: -1,
        })),
      });
      for (const m of missing) {
        const tp = `${m.topic}/${m.partition}`;
        const start = earliest.get(m.topic)?.[m.partition] ?? 0n;
        this.#accepted.set(tp, start - 1n);
        const delivered = this.#delivered.get(tp);
        if (delivered !== undefined && delivered >= start) this.#resyncAbove.set(tp, delivered);
      }
    }
  }

  /** The coordinator asked for a round: publish files + offsets in one transaction, wait for the commit. */
  async #publish(round: string): Promise<void> {
    await this.#resetIfPending();
    const events: ControlEvent[] = [];
    const touched: Route[] = [];
    for (const route of this.#routes.values()) {
      if (route.changes === 0) continue;
      const prepared = await route.writer.prepareCommit({ equalityFallback: true });
      touched.push(route);
      if (prepared.dataFiles.length === 0 && prepared.deleteFiles.length === 0) continue;
      events.push({
        type: "data-written",
        sinkId: this.#options.sinkId,
        round,
        worker: this.id,
        table: route.identifier,
        dataFiles: prepared.dataFiles.map((file) => ({ file, specId: route.writer.specId })),
        deleteFiles: prepared.deleteFiles,
        referencedDataFiles: prepared.referencedDataFiles,
        equalityFallback: prepared.equalityFallback ?? null,
      });
    }
    const partitions = (this.#consumer.assignments ?? []).flatMap((a) =>
      a.partitions.map((partition) => ({
        topic: a.topic,
        partition,
        offset: String((this.#accepted.get(`${a.topic}/${partition}`) ?? -2n) + 1n),
      })),
    );
    events.push({ type: "data-complete", sinkId: this.#options.sinkId, round, worker: this.id, partitions });
    const messages: MessageToProduce[] = events.map((event) => ({
      topic: this.#options.controlTopic,
      key: Buffer.from(this.#options.sinkId),
      value: Buffer.from(encodeControlEvent(event)),
    }));
    for (const { record, error } of this.#deadLetters) {
      const headers = this.#options.deadLetterHeaders?.(error, record) ?? {
        "__connect.errors.exception.message": (error as Error).message,
      };
      messages.push({
        topic: this.#options.deadLetterTopic!,
        key: Buffer.from(record.key ?? Buffer.alloc(0)),
        value: Buffer.from(record.value ?? Buffer.alloc(0)),
        headers: new Map(Object.entries(headers).map(([k, v]) => [Buffer.from(k), Buffer.from(v)])),
      });
    }
    const transaction = await this.#producer.beginTransaction();
    try {
      if (this.#lastMessage.size > 0) {
        await transaction.addConsumer(this.#consumer);
        for (const message of this.#lastMessage.values()) await transaction.addOffset(message);
      }
      await transaction.send({ messages });
      await transaction.commit();
    } catch (error) {
      await quietly(() => transaction.abort());
      if (isRebalanceError(error) && ++this.#fencedPublications <= MAX_FENCED_PUBLICATIONS) {
        // The group is rebalancing: Kafka refused our offsets for this generation. Nothing was
        // published; drop the round and re-read from the committed offsets after the join.
        this.#log(`worker ${this.id}: round ${round} not published (group rebalancing); re-reading`);
        this.#resetPending = true;
        return;
      }
      throw new SinkError(
        "KAFKA_FAILED",
        `worker ${this.id}: publishing round ${round} failed (the files stay unpublished and the offsets uncommitted; a restart re-reads them): ${(error as Error).message}`,
        { cause: error },
      );
    }
    this.#fencedPublications = 0;
    this.#lastMessage.clear();
    this.#deadLetters = [];
    this.stats.published++;
    const waited = events.filter((e) => e.type === "data-written");
    if (waited.length > 0) {
      const snapshots = await this.#awaitCommit(
        round,
        touched.map((r) => r.identifier),
      );
      for (const route of touched) {
        const snapshotId = snapshots.get(tableKey(route.identifier));
        if (snapshotId === undefined) continue;
        await route.writer.completeExternal(
          await this.#options.catalog.loadTable(route.identifier),
          snapshotId,
        );
      }
    }
    for (const route of touched) route.changes = 0;
  }

  /** Waits until the round is in the tables: commit-complete, or found in the tables' summaries. */
  async #awaitCommit(round: string, tables: TableIdentifier[]): Promise<Map<string, bigint>> {
    let resolve!: (tables: Map<string, bigint>) => void;
    const announced = new Promise<Map<string, bigint>>((r) => {
      resolve = r;
    });
    this.#commitWaiters.set(round, resolve);
    try {
      for (;;) {
        const result = await Promise.race([
          announced,
          new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000)),
        ]);
        if (result) return result;
        if (this.#closed)
          throw new SinkError("KAFKA_FAILED", `worker ${this.id} closed while round ${round} was committing`);
        const found = new Map<string, bigint>();
        for (const identifier of tables) {
          const table = await this.#options.catalog.loadTable(identifier);
          for (const snapshot of ancestorsOf(table.metadata, snapshotForRef(table.metadata))) {
            if (
              snapshot.summary[SINK_ID_PROPERTY] === this.#options.sinkId &&
              (snapshot.summary[SINK_ROUNDS_PROPERTY] ?? "").split(",").includes(round)
            ) {
              found.set(tableKey(identifier), snapshot.snapshotId);
              break;
            }
          }
        }
        if (found.size === tables.length) return found;
      }
    } finally {
      this.#commitWaiters.delete(round);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await quietly(() => this.#stream?.close());
    await quietly(() => this.#controlStream?.close());
    await this.#consuming.catch(() => {});
    await this.#lock.catch(() => {});
    for (const route of this.#routes.values()) {
      await quietly(() => route.writer.discardRound());
      await quietly(() => route.writer.close());
    }
    await quietly(() => this.#consumer.close(true));
    await quietly(() => this.#control.close(true));
    await quietly(() => this.#producer.close());
  }
}
