/**
 * A `floe sink` worker: one member of the sink's consumer group. It reads its share of the source
 * topics (read_committed), decodes Debezium change events, routes them to one table writer per Iceberg
 * table (auto-created from the event schema, evolved with source DDL) and, when the coordinator starts a
 * commit round, closes its files and publishes them with the offsets they cover in ONE Kafka
 * transaction (see control.ts). It then waits until the coordinator committed the round before taking
 * more changes (its key index must see its own rows before it deletes them again).
 *
 * Rebalances: a source partition's keys belong to one worker at a time, so writers share tables
 * (`sharedWithSink`). Every group join drops what is not yet published and re-reads from the committed
 * offsets, which the worker reads itself (require_stable, so a transaction still committing another
 * worker's offsets is waited for, as Kafka's Java consumer does under read_committed). It then opens a
 * fresh stream positioned explicitly at those offsets and closes the old one; records from a stream
 * opened before the latest join are ignored. (Rewinding the old stream instead raced with its in-flight
 * fetches, which moved the position past the rewind: the worker then waited for records that never came.)
 * Every assigned partition gets a committed offset when first assigned, so a rewind always has a target.
 */
import { randomUUID } from "node:crypto";
import {
  Admin,
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
import type { Schema } from "../../iceberg/schema.ts";
import { ancestorsOf, currentSchema, snapshotForRef } from "../../iceberg/table-metadata.ts";
import { createSinkTable, type EventSchema } from "../auto-create.ts";
import { type Change, formatLsn } from "../change.ts";
import { SinkError } from "../errors.ts";
import { ChangelogTableWriter, SINK_ID_PROPERTY, UpsertTableWriter } from "../table-writer.ts";
import {
  type ControlEvent,
  committedControlOffset,
  decodeControlEvent,
  encodeControlEvent,
  publicationId,
  SINK_PUBLICATIONS_PROPERTY,
  type TopicPartitionOffset,
  type TransactionCount,
  tableKey,
} from "./control.ts";
import { quietly } from "./coordinator.ts";
import { DecodeError } from "./decode-error.ts";
import { commitLsn } from "./transaction-ledger.ts";

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
      /** Debezium's `transaction.id` (`txId:commitLsn`), when the event carries transaction metadata. */
      transactionId?: string;
    }
  | { kind: "skip" };

export type RecordDecoder = (record: SourceRecord, target: Schema | EventSchema | undefined) => DecodedRecord;

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
  /**
   * Transaction-consistent mode: changes of a PostgreSQL transaction are held until the coordinator's
   * frontier says every event of it was read (by any worker), so a round never holds part of one.
   */
  transactionConsistent?: boolean;
}

/** A change read but held back: its transaction is beyond the coordinator's frontier. */
interface HeldChange {
  tp: string;
  message: Message;
  record: SourceRecord;
  decoded: Extract<DecodedRecord, { kind: "change" }>;
  transactionId: string;
  collection: string;
  commitLsn: bigint;
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
  return /TxnOffsetCommit|REBALANCE_IN_PROGRESS|ILLEGAL_GENERATION|UNKNOWN_MEMBER_ID|FENCED_INSTANCE_ID/i.test(
    kafkaErrorText(error),
  );
}

/** The client's message plus its nested errors (where the broker's error codes are). */
function kafkaErrorText(error: unknown): string {
  return `${(error as Error)?.message ?? ""} ${JSON.stringify((error as { errors?: unknown })?.errors ?? "")}`;
}

export class Worker {
  readonly id: string;
  readonly #options: WorkerOptions;
  readonly #log: (line: string) => void;
  readonly #consumer: Consumer;
  readonly #control: Consumer<string, string, string, string>;
  readonly #producer: Producer;
  readonly #admin: Admin;
  #stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  #controlStream: MessagesStream<string, string, string, string> | undefined;
  readonly #routes = new Map<string, Route>();
  /** Iceberg schemas of target tables, for records without Connect schemas (which carry no DDL). */
  readonly #targetSchemas = new Map<string, Schema>();
  #lock: Promise<unknown> = Promise.resolve();
  /** Group joins seen (plus refused publications, which also force a re-read). */
  #joins = 0;
  /** The join count the unpublished state was last reset for, and the current stream was opened for. */
  #stateJoins = -1;
  #streamJoins = -1;
  #started = false;
  /** Per `topic/partition`: the last offset accepted, and where the stream of the last reset started. */
  readonly #accepted = new Map<string, bigint>();
  readonly #startOffsets = new Map<string, bigint>();
  /** Last accepted message per partition since the last publication (its offset goes in the transaction). */
  readonly #lastMessage = new Map<string, Message>();
  #deadLetters: { record: SourceRecord; error: unknown }[] = [];
  #epoch = -1;
  #fencedPublications = 0;
  /** Transaction-consistent mode: the coordinator's frontier (commit LSN), and what waits for it. */
  #frontier = -1n;
  #held: HeldChange[] = [];
  /**
   * Transaction-consistent mode, after a reset: the control-topic end the coordinator's committed
   * offset must reach before the key index is re-read; until then every change is held.
   */
  #indexPendingUntil: bigint | undefined;
  /** Transaction-consistent mode: the coordinator's latest "everything below this offset is in". */
  #committedThrough = -1n;
  /** Events of transactions written since the last publication: `transaction|collection` → count. */
  readonly #released = new Map<string, TransactionCount>();
  /** A message of the current generation per partition, to commit offsets by (held events stop them). */
  readonly #partitionMessage = new Map<string, Message>();
  /** Rounds answered lately (a coordinator re-sends start-commit until every partition answered). */
  #answeredRounds: string[] = [];
  /** Publication id → told when one of its tables was committed (table key, snapshot id). */
  readonly #commitWaiters = new Map<string, (table: string, snapshotId: bigint) => void>();
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
    this.#admin = new Admin({ clientId: `${clientId}-admin`, bootstrapBrokers: options.brokers });
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
      joins: this.#joins,
      stateJoins: this.#stateJoins,
      streamJoins: this.#streamJoins,
      accepted: Object.fromEntries([...this.#accepted].map(([k, v]) => [k, String(v)])),
      startOffsets: Object.fromEntries([...this.#startOffsets].map(([k, v]) => [k, String(v)])),
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
    this.#consumer.on("consumer:group:join", () => this.#requestReset());
    // The first consume joins the group; its stream is replaced at once by one positioned explicitly.
    const first = await this.#consumer.consume({
      topics: this.#options.topics,
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
      autocommit: false,
    });
    first.on("error", (error: unknown) => this.#fail(error));
    this.#stream = first;
    this.#started = true;
    await this.#exclusive(() => this.#reopen());
    this.#consuming = this.#consume();
  }

  /** A join (or a publication refused by a rebalance): re-read from the committed offsets. */
  #requestReset(): void {
    this.#joins++;
    if (!this.#started || this.#closed) return;
    this.#exclusive(() => this.#reopen()).catch((error: unknown) => this.#fail(error));
  }

  /**
   * Resets the unpublished state for the latest join and replaces the stream with one that starts at
   * the committed offsets. The old stream is closed without waiting: its remaining records are dropped
   * by the consume loop, which may be waiting on this lock.
   */
  async #reopen(): Promise<void> {
    const tag = this.#joins;
    if (this.#closed || this.#streamJoins === tag) return;
    await this.#resetIfPending();
    if (this.#joins !== tag || this.#closed) return; // a newer join; its own reopen follows
    const offsets = [...this.#startOffsets].map(([tp, offset]) => {
      const slash = tp.lastIndexOf("/");
      return { topic: tp.slice(0, slash), partition: Number(tp.slice(slash + 1)), offset };
    });
    const next = await this.#consumer.consume({
      topics: this.#options.topics,
      mode: MessagesStreamModes.MANUAL,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
      offsets,
      autocommit: false,
    });
    next.on("error", (error: unknown) => this.#fail(error));
    const old = this.#stream;
    this.#stream = next;
    this.#streamJoins = tag;
    if (old) {
      old.removeAllListeners("error");
      old.on("error", () => {});
      old.close().catch(() => {});
    }
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

  /** Reads the current stream; when a reopen replaced it, goes on with its successor. */
  async #consume(): Promise<void> {
    try {
      while (!this.#closed) {
        const stream = this.#stream;
        const tag = this.#streamJoins;
        if (!stream) return;
        for await (const message of stream) {
          if (this.#closed) break;
          if (tag !== this.#joins) continue; // opened before the latest join; its successor follows
          await this.#exclusive(() => this.#handle(message, tag));
        }
        if (!this.#closed && this.#stream === stream) {
          throw new SinkError(
            "KAFKA_FAILED",
            `worker ${this.id}: the source topic stream ended unexpectedly`,
          );
        }
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
      if (event.frontier !== undefined && BigInt(event.frontier) > this.#frontier)
        this.#frontier = BigInt(event.frontier);
      if (event.committedThrough !== undefined) this.#committedThrough = BigInt(event.committedThrough);
      if (this.#answeredRounds.includes(event.round)) return; // re-sent for a worker that had not answered
      this.#answeredRounds.push(event.round);
      if (this.#answeredRounds.length > 64) this.#answeredRounds.shift();
      this.#exclusive(() => this.#publish(event.round)).catch((error: unknown) => this.#fail(error));
    } else if (event.type === "commit-complete") {
      const snapshots = new Map(event.tables.map((t) => [tableKey(t.table), BigInt(t.snapshotId)]));
      for (const { table, ids } of event.publications ?? []) {
        const snapshotId = snapshots.get(tableKey(table));
        if (snapshotId === undefined) continue;
        for (const id of ids) this.#commitWaiters.get(id)?.(tableKey(table), snapshotId);
      }
    }
  }

  async #handle(message: Message, tag: number): Promise<void> {
    // A join (or a refused publication) came while this record waited for the lock: the stream it
    // came from is being replaced and the state was (or will be) reset.
    if (tag !== this.#joins || tag !== this.#stateJoins) return;
    const tp = `${message.topic}/${message.partition}`;
    const offset = message.offset;
    const accepted = this.#accepted.get(tp);
    if (accepted !== undefined && offset <= accepted) return; // already taken
    this.#accepted.set(tp, offset);
    this.#lastMessage.set(tp, message);
    this.#partitionMessage.set(tp, message);
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
      // No Connect schema in the record: decode it by the schema of the table it goes to, if that exists.
      const target =
        error instanceof DecodeError && error.code === "SCHEMA_MISSING" && error.source
          ? await this.#targetSchema(error.source, record)
          : undefined;
      try {
        if (!target) throw error;
        decoded = this.#options.decode(record, target);
      } catch (retried) {
        this.#deadLetter(record, retried);
        return;
      }
    }
    if (decoded.kind !== "change") return;
    if (this.#options.transactionConsistent) {
      const held: HeldChange = {
        tp,
        message,
        record,
        decoded,
        transactionId: decoded.transactionId ?? "",
        collection: `${decoded.source.schema}.${decoded.source.table}`,
        // Changes outside transactions (snapshot reads) wait only for the key index.
        commitLsn: decoded.transactionId === undefined ? -1n : commitLsnOf(decoded.transactionId, record),
      };
      if (held.commitLsn > this.#frontier || this.#indexPendingUntil !== undefined) {
        this.#held.push(held);
        return;
      }
      if (held.transactionId) this.#countReleased(held.transactionId, held.collection);
    }
    await this.#apply(decoded, record);
  }

  #countReleased(transactionId: string, collection: string): void {
    const key = `${transactionId}|${collection}`;
    const count = this.#released.get(key);
    if (count) count[2]++;
    else this.#released.set(key, [transactionId, collection, 1]);
  }

  /** Transaction-consistent mode: writes the held changes the frontier now covers, in the order read. */
  async #releaseHeld(): Promise<void> {
    await this.#finishResetIfReady();
    if (this.#held.length === 0 || this.#indexPendingUntil !== undefined) return;
    const keep: HeldChange[] = [];
    const release: HeldChange[] = [];
    for (const held of this.#held) (held.commitLsn <= this.#frontier ? release : keep).push(held);
    this.#held = keep;
    for (const held of release) {
      if (held.transactionId) this.#countReleased(held.transactionId, held.collection);
      await this.#apply(held.decoded, held.record);
    }
  }

  async #apply(decoded: Extract<DecodedRecord, { kind: "change" }>, record: SourceRecord): Promise<void> {
    const offset = record.offset;
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
    if (this.#options.transactionConsistent) {
      // The transaction's END counts this event: count it as handled, or the transaction never completes.
      const transaction = rawTransactionOf(record);
      if (transaction) this.#countReleased(transaction.id, transaction.collection);
    }
  }

  /** The current schema of the Iceberg table a source table routes to; undefined while it does not exist. */
  async #targetSchema(
    source: { schema: string; table: string },
    record: SourceRecord,
  ): Promise<Schema | undefined> {
    const identifier = this.#options.route
      ? this.#options.route(source, record)
      : { namespace: this.#options.namespace, name: source.table };
    const key = tableKey(identifier);
    const known = this.#targetSchemas.get(key);
    if (known) return known;
    if (!(await this.#options.catalog.tableExists(identifier))) return undefined;
    const schema = currentSchema((await this.#options.catalog.loadTable(identifier)).metadata);
    this.#targetSchemas.set(key, schema);
    return schema;
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

  /** After a join: drop what is unpublished and read where every assigned partition starts again. */
  async #resetIfPending(): Promise<void> {
    const joins = this.#joins;
    if (this.#stateJoins === joins) return;
    this.stats.resets++;
    for (const route of this.#routes.values()) {
      await route.writer.discardRound();
      route.changes = 0;
    }
    this.#lastMessage.clear();
    this.#deadLetters = [];
    this.#accepted.clear();
    this.#startOffsets.clear();
    this.#held = [];
    this.#released.clear();
    this.#partitionMessage.clear();
    this.#indexPendingUntil = undefined;
    const assignments = this.#consumer.assignments ?? [];
    if (assignments.length > 0) {
      const committed = await this.#committedOffsets(assignments);
      const missing = assignments.flatMap((a) =>
        a.partitions.filter((p) => committed.get(`${a.topic}/${p}`) === undefined).map(() => a.topic),
      );
      // Never committed: start at the log start (nothing from it was ever published).
      const earliest =
        missing.length > 0
          ? await this.#consumer.listOffsets({
              topics: [...new Set(missing)],
              timestamp: ListOffsetTimestamps.EARLIEST,
            })
          : new Map<string, bigint[]>();
      for (const assignment of assignments) {
        for (const partition of assignment.partitions) {
          const tp = `${assignment.topic}/${partition}`;
          const offset = committed.get(tp) ?? earliest.get(assignment.topic)?.[partition] ?? 0n;
          this.#accepted.set(tp, offset - 1n);
          this.#startOffsets.set(tp, offset);
        }
      }
    }
    // Keys of partitions that moved here were written by their previous owner, whose last rounds may
    // be published but not yet in the tables (its coordinator slow, frozen or dead): wait for them, then
    // re-read the keys. An index without them would insert a second row instead of replacing theirs.
    if (this.#options.transactionConsistent) {
      // Waiting here could deadlock: those rounds may hold transactions whose other events are in the
      // partitions this worker just took over, which it has not read yet. So it reads them now, holding
      // every change, answers rounds with what it holds, and re-reads the keys once the rounds are in.
      this.#indexPendingUntil = await this.#controlEnd();
    } else {
      await this.#awaitPublishedRounds();
      await this.#rebuildIndexes();
    }
    this.#stateJoins = joins;
    this.#log(
      `worker ${this.id}: reading ${this.#startOffsets.size} partitions from their committed offsets (rebalance ${this.stats.resets})`,
    );
  }

  /**
   * Waits until the coordinator has handled every control event published so far: its group's
   * committed control-topic offset (advanced only after the tables are committed) reaches the end of
   * the control topic as it is now. A coordinator commits a round within its commit timeout even
   * while this worker does not answer, so this takes a round or two.
   */
  async #awaitPublishedRounds(): Promise<void> {
    const controlTopic = this.#options.controlTopic;
    const end = await this.#controlEnd();
    if (end <= 0n) return;
    const started = Date.now();
    let logged = started;
    for (;;) {
      if (this.#closed) {
        throw new SinkError("KAFKA_FAILED", `worker ${this.id} closed while waiting for the coordinator`);
      }
      const committed = await committedControlOffset(this.#admin, this.#options.sinkId, controlTopic);
      if (committed >= end) return;
      if (Date.now() - logged > 10_000) {
        logged = Date.now();
        this.#log(
          `worker ${this.id}: waiting ${Math.round((logged - started) / 1000)} s for the coordinator to commit rounds published before the rebalance (control offset ${committed} of ${end})`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  async #controlEnd(): Promise<bigint> {
    const controlTopic = this.#options.controlTopic;
    const ends = await this.#consumer.listOffsets({
      topics: [controlTopic],
      timestamp: ListOffsetTimestamps.LATEST,
    });
    return ends.get(controlTopic)?.[0] ?? 0n;
  }

  async #rebuildIndexes(): Promise<void> {
    for (const route of this.#routes.values()) {
      if (route.writer instanceof UpsertTableWriter) await route.writer.rebuildIndex({ reload: true });
    }
  }

  /** Transaction-consistent mode: re-reads the keys once the rounds published before the reset are in. */
  async #finishResetIfReady(): Promise<void> {
    const until = this.#indexPendingUntil;
    if (until === undefined) return;
    // The coordinator's committed control offset cannot say it here: it is held back for its own
    // recovery. Its start-commit says what is in.
    if (until > 0n && this.#committedThrough < until) return;
    await this.#rebuildIndexes();
    this.#indexPendingUntil = undefined;
  }

  /**
   * The group's committed offsets of these partitions, read with require_stable: while another
   * worker's transaction that commits offsets for them is still completing, the broker answers
   * UNSTABLE_OFFSET_COMMIT and we ask again, so a moved partition never restarts before records
   * whose files are already published.
   */
  async #committedOffsets(
    assignments: { topic: string; partitions: number[] }[],
  ): Promise<Map<string, bigint>> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        const groups = await this.#admin.listConsumerGroupOffsets({
          groups: [
            {
              groupId: this.#options.sinkId,
              topics: assignments.map((a) => ({ name: a.topic, partitionIndexes: a.partitions })),
            },
          ],
          requireStable: true,
        });
        const offsets = new Map<string, bigint>();
        for (const group of groups) {
          for (const topic of group.topics) {
            for (const p of topic.partitions) {
              if (p.committedOffset >= 0n)
                offsets.set(`${topic.name}/${p.partitionIndex}`, p.committedOffset);
            }
          }
        }
        return offsets;
      } catch (error) {
        if (!/UNSTABLE_OFFSET_COMMIT/i.test(kafkaErrorText(error)) || Date.now() > deadline || this.#closed) {
          throw new SinkError(
            "KAFKA_FAILED",
            `worker ${this.id}: reading the committed offsets of group ${this.#options.sinkId} failed: ${(error as Error).message}`,
            { cause: error },
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  /** The coordinator asked for a round: publish files + offsets in one transaction, wait for the commit. */
  async #publish(round: string): Promise<void> {
    await this.#resetIfPending();
    const joins = this.#joins;
    await this.#releaseHeld();
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
    // Held changes stay unpublished: a partition's offset stops at its first held one.
    const firstHeld = new Map<string, HeldChange>();
    const heldCounts = new Map<string, Map<string, TransactionCount>>();
    for (const held of this.#held) {
      if (!firstHeld.has(held.tp)) firstHeld.set(held.tp, held);
      if (!held.transactionId) continue;
      let counts = heldCounts.get(held.tp);
      if (!counts) {
        counts = new Map();
        heldCounts.set(held.tp, counts);
      }
      const key = `${held.transactionId}|${held.collection}`;
      const count = counts.get(key);
      if (count) count[2]++;
      else counts.set(key, [held.transactionId, held.collection, 1]);
    }
    const nextOffset = (tp: string) =>
      firstHeld.get(tp)?.record.offset ?? (this.#accepted.get(tp) ?? -2n) + 1n;
    const partitions: TopicPartitionOffset[] = (this.#consumer.assignments ?? []).flatMap((a) =>
      a.partitions.map((partition) => {
        const tp = `${a.topic}/${partition}`;
        const counts = heldCounts.get(tp);
        return {
          topic: a.topic,
          partition,
          offset: String(nextOffset(tp)),
          ...(this.#options.transactionConsistent ? { held: counts ? [...counts.values()] : [] } : {}),
        };
      }),
    );
    const released = [...this.#released.values()];
    events.push({
      type: "data-complete",
      sinkId: this.#options.sinkId,
      round,
      worker: this.id,
      partitions,
      ...(this.#options.transactionConsistent
        ? { released, ...(this.#indexPendingUntil !== undefined ? { waitingForRounds: true } : {}) }
        : {}),
    });
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
      // Offsets of the partitions read since the last publication, or whose held changes were
      // released since (a message of the partition at `next - 1`: Kafka stores `offset + 1`).
      const offsets = new Map<string, Message>();
      for (const [tp, message] of this.#lastMessage) offsets.set(tp, message);
      if (released.length > 0) for (const [tp, message] of this.#partitionMessage) offsets.set(tp, message);
      if (offsets.size > 0) {
        await transaction.addConsumer(this.#consumer);
        for (const [tp, message] of offsets) {
          const next = nextOffset(tp);
          await transaction.addOffset(
            next - 1n === message.offset ? message : { ...message, offset: next - 1n },
          );
        }
      }
      await transaction.send({ messages });
      await transaction.commit();
    } catch (error) {
      await quietly(() => transaction.abort());
      if (isRebalanceError(error) && ++this.#fencedPublications <= MAX_FENCED_PUBLICATIONS) {
        // The group is rebalancing: Kafka refused our offsets for this generation. Nothing was
        // published; drop the round and re-read from the committed offsets after the join.
        this.#log(`worker ${this.id}: round ${round} not published (group rebalancing); re-reading`);
        this.#requestReset();
        return;
      }
      throw new SinkError(
        "KAFKA_FAILED",
        `worker ${this.id}: publishing round ${round} failed (the files stay unpublished and the offsets uncommitted; a restart re-reads them): ${(error as Error).message}`,
        { cause: error },
      );
    }
    this.#fencedPublications = 0;
    const files = events.reduce(
      (n, e) => n + (e.type === "data-written" ? e.dataFiles.length + e.deleteFiles.length : 0),
      0,
    );
    if (files > 0 || this.#deadLetters.length > 0)
      this.#log(
        `worker ${this.id}: round ${round.slice(0, 8)} published ${files} files of ${touched.length} tables${this.#deadLetters.length > 0 ? `, ${this.#deadLetters.length} dead letters` : ""}`,
      );
    this.#lastMessage.clear();
    this.#deadLetters = [];
    this.#released.clear();
    this.stats.published++;
    const written = new Set(events.flatMap((e) => (e.type === "data-written" ? [tableKey(e.table)] : [])));
    const published = touched.filter((route) => written.has(tableKey(route.identifier)));
    // A table whose round wrote nothing (deletes of keys the table does not hold) starts a fresh round:
    // its empty prepared round must not stand in for the next one's changes.
    for (const route of touched) {
      if (!written.has(tableKey(route.identifier))) await route.writer.discardRound({ deleteFiles: false });
    }
    if (published.length > 0) {
      // From here the round's files belong to the coordinators: published, they are committed by this
      // one or a successor even if this worker stops, so they must never be deleted by it.
      // Transaction-consistent mode stops waiting at a rebalance: the round may hold transactions
      // whose other events are in partitions this worker must now read before anyone can commit it.
      // The files stay published; the reset re-reads the keys once the round is in.
      const handedOver = () => this.#options.transactionConsistent === true && this.#joins !== joins;
      const snapshots = await this.#awaitCommit(
        round,
        published.map((r) => r.identifier),
        handedOver,
      ).catch(async (error: unknown) => {
        for (const route of published) await route.writer.discardRound({ deleteFiles: false });
        throw error;
      });
      if (snapshots === undefined) {
        for (const route of published) await route.writer.discardRound({ deleteFiles: false });
        for (const route of touched) route.changes = 0;
        return;
      }
      for (const route of published) {
        await route.writer.completeExternal(
          await this.#options.catalog.loadTable(route.identifier),
          snapshots.get(tableKey(route.identifier))!,
        );
      }
    }
    for (const route of touched) route.changes = 0;
  }

  /**
   * Waits until this worker's files of the round are in every table they went to: announced by
   * commit-complete (its publication listed for the table), or found in the table's snapshot summaries
   * (a coordinator that stopped before announcing, or one that found another had committed them).
   * Both name the publication, not just the round: a round's files can land in several commits.
   */
  async #awaitCommit(
    round: string,
    tables: TableIdentifier[],
    abandon: () => boolean = () => false,
  ): Promise<Map<string, bigint> | undefined> {
    const id = publicationId(round, this.id);
    const wanted = new Set(tables.map(tableKey));
    const found = new Map<string, bigint>();
    let wake: (() => void) | undefined;
    this.#commitWaiters.set(id, (table, snapshotId) => {
      if (!wanted.has(table) || found.has(table)) return;
      found.set(table, snapshotId);
      wake?.();
    });
    const started = Date.now();
    let logged = started;
    try {
      for (;;) {
        if (found.size === wanted.size) return found;
        const announced = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 2000);
          wake = () => {
            clearTimeout(timer);
            resolve(true);
          };
        });
        wake = undefined;
        if (announced) continue;
        if (abandon()) return undefined;
        for (const identifier of tables) {
          const key = tableKey(identifier);
          if (found.has(key)) continue;
          const table = await this.#options.catalog.loadTable(identifier);
          for (const snapshot of ancestorsOf(table.metadata, snapshotForRef(table.metadata))) {
            if (
              snapshot.summary[SINK_ID_PROPERTY] === this.#options.sinkId &&
              (snapshot.summary[SINK_PUBLICATIONS_PROPERTY] ?? "").split(",").includes(id)
            ) {
              found.set(key, snapshot.snapshotId);
              break;
            }
          }
        }
        if (this.#closed)
          throw new SinkError("KAFKA_FAILED", `worker ${this.id} closed while round ${round} was committing`);
        if (Date.now() - logged > 30_000) {
          logged = Date.now();
          this.#log(
            `worker ${this.id}: waiting ${Math.round((logged - started) / 1000)} s for round ${round.slice(0, 8)} to be committed (${[...wanted].filter((t) => !found.has(t)).join(", ")})`,
          );
        }
      }
    } finally {
      this.#commitWaiters.delete(id);
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
    await quietly(() => this.#admin.close());
  }
}

/** The commit LSN of a change's Debezium PostgreSQL transaction id (`txId:commitLsn`). */
function commitLsnOf(transactionId: string, record: SourceRecord): bigint {
  const lsn = commitLsn(transactionId);
  if (lsn === undefined) {
    throw new SinkError(
      "CHANGE_INVALID",
      `record ${record.topic}/${record.partition}@${record.offset} has transaction id ${JSON.stringify(transactionId)}, not "<txId>:<commit LSN>"; transaction-consistent mode needs PostgreSQL transaction metadata`,
    );
  }
  return lsn;
}

/** Best effort: the transaction id and table of a record that could not be decoded. */
function rawTransactionOf(record: SourceRecord): { id: string; collection: string } | undefined {
  try {
    const value = JSON.parse(record.value?.toString() ?? "null") as Record<string, unknown> | null;
    const payload = (value && "payload" in value ? value.payload : value) as {
      transaction?: { id?: unknown };
      source?: { schema?: unknown; table?: unknown };
    } | null;
    const id = payload?.transaction?.id;
    const schema = payload?.source?.schema;
    const table = payload?.source?.table;
    if (typeof id === "string" && typeof schema === "string" && typeof table === "string")
      return { id, collection: `${schema}.${table}` };
  } catch {
    // not JSON: not a change event of a transaction
  }
  return undefined;
}
