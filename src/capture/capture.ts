/**
 * The capture orchestrator: pre-flight, publication, slot, initial snapshot, then the pgoutput stream —
 * decoded into Debezium events and handed to a {@link ChangeSink} in batches. The slot's confirmed
 * flush LSN moves only when the sink reports a position durable, so a crash re-sends (never loses)
 * what was not yet durable. See map.md for the snapshot → stream hand-off.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type pg from "pg";
import type { CaptureConfig } from "./config.ts";
import {
  type CaptureEvent,
  type ChangeEvent,
  CONNECTOR_VERSION,
  decodeTuple,
  keyOf,
  type Row,
  type SourceInfo,
  sameKey,
  tableTopic,
  transactionId,
} from "./envelope.ts";
import { CaptureError } from "./errors.ts";
import { formatLsn, type Lsn, parseLsn } from "./lsn.ts";
import { TypeRegistry } from "./pg-types.ts";
import { PgoutputDecoder, type PgoutputMessage } from "./pgoutput.ts";
import {
  checkServer,
  ensurePublication,
  resolveTables,
  type ServerInfo,
  slotLagBytes,
  slotState,
} from "./publication.ts";
import { qualifiedName, SchemaTracker, type TableSchema } from "./relation.ts";
import { ReplicationConnection } from "./replication-connection.ts";
import { keyExtractor } from "./row-decoder.ts";
import { runSnapshot, type SnapshotProgress, textClient } from "./snapshot.ts";
import { TransactionSpill } from "./transaction-spill.ts";

/** How far the events of a batch (and all before it) reach in the source. */
export interface SourcePosition {
  /** Increases by one per batch; lets capture tell "everything written is durable". */
  sequence: number;
  /** Commit end LSN of the last transaction complete in this or an earlier batch (X/Y). */
  lsn: string;
  /** Snapshot progress when the batch holds snapshot rows; null once the snapshot is complete. */
  snapshot: SnapshotProgress | null;
}

export interface ChangeBatch {
  events: CaptureEvent[];
  position: SourcePosition;
}

/**
 * The downstream. `write` may return before the events are durable (it is backpressure, not a
 * commit); the sink later calls the `onDurable` listener with the position of the newest batch whose
 * events, and all before it, are durable (Kafka acks, an Iceberg commit). Events are read-only: events
 * of one transaction share their `source` object.
 */
export interface ChangeSink {
  write(batch: ChangeBatch): Promise<void>;
  onDurable(listener: (position: SourcePosition) => void): void;
  /**
   * Optional: resolves once everything written so far is durable (and reported through `onDurable`).
   * `Capture.stop()` calls it after the stream has stopped, so a clean stop leaves the offset and the
   * slot at the last event emitted (nothing re-sent on restart).
   */
  flush?(): Promise<void>;
}

/** What capture stores about its progress; in direct mode it rides in the Iceberg commit. */
export interface CaptureOffset {
  slotName: string;
  lsn: string;
  snapshot: SnapshotProgress | null;
  snapshotCompleted: boolean;
}

export interface OffsetStore {
  load(): Promise<CaptureOffset | null>;
  save(offset: CaptureOffset): Promise<void>;
}

export class MemoryOffsetStore implements OffsetStore {
  offset: CaptureOffset | null = null;
  async load(): Promise<CaptureOffset | null> {
    return this.offset ? structuredClone(this.offset) : null;
  }
  async save(offset: CaptureOffset): Promise<void> {
    this.offset = structuredClone(offset);
  }
}

/** A JSON file, replaced atomically (write + rename) on every save. */
export class FileOffsetStore implements OffsetStore {
  constructor(private readonly path: string) {}
  async load(): Promise<CaptureOffset | null> {
    try {
      return JSON.parse(await readFile(this.path, "utf8")) as CaptureOffset;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
  }
  async save(offset: CaptureOffset): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const temporary = `${this.path}.tmp`;
    await writeFile(temporary, JSON.stringify(offset));
    await rename(temporary, this.path);
  }
}

export interface CaptureMetrics {
  eventsEmitted: number;
  transactionsEmitted: number;
  snapshotRows: number;
  lastCommitLsn: string;
  confirmedFlushLsn: string;
}

interface OpenTransaction {
  xid: number;
  commitLsn: Lsn;
  commitTimeMs: number;
  id: string;
  totalOrder: number;
  perTable: Map<string, number>;
  /** Per table: the source block and topic of its events (the same for every event of this transaction). */
  tables: Map<TableSchema, { source: SourceInfo; topic: string }>;
}

const HEARTBEAT_PREFIX = "floe.heartbeat";

/** Messages that carry an xid inside a stream block (protocol ≥ 2) and belong to an uncommitted transaction. */
const STREAMABLE = new Set<PgoutputMessage["tag"]>([
  "relation",
  "type",
  "insert",
  "update",
  "delete",
  "truncate",
  "message",
]);

/** Snapshot rows are complete: one shared empty list instead of one per row (events are read-only downstream). */
const NO_UNCHANGED_COLUMNS: string[] = Object.freeze([]) as unknown as string[];

export class Capture {
  private sql: pg.Client | null = null;
  private replication: ReplicationConnection | null = null;
  private types: TypeRegistry | null = null;
  private schemas: SchemaTracker | null = null;
  private readonly decoder = new PgoutputDecoder();
  private readonly spill: TransactionSpill;
  private server: ServerInfo | null = null;
  private dbName = "";
  private transaction: OpenTransaction | null = null;
  private pending: CaptureEvent[] = [];
  private sequence = 0;
  private lastCommitLsn: Lsn = 0n;
  private skipThroughLsn: Lsn = 0n;
  private ackedSequence = 0;
  private ackedLsn: Lsn = 0n;
  private snapshotCompleted = false;
  private saving: Promise<void> = Promise.resolve();
  private savingOffsets = false;
  private nextOffset: { offset: CaptureOffset; lsn: Lsn } | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private streamDone: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly counters = { eventsEmitted: 0, transactionsEmitted: 0, snapshotRows: 0 };

  constructor(
    private readonly config: CaptureConfig,
    private readonly sink: ChangeSink,
    private readonly offsets: OffsetStore = new MemoryOffsetStore(),
  ) {
    this.spill = new TransactionSpill(config.spillDirectory);
    sink.onDurable((position) => this.onDurable(position));
  }

  /**
   * Prepares publication and slot, runs the snapshot the mode asks for, and starts streaming.
   * Resolves once streaming runs (or, for initial_only, once the snapshot is durable-bound); `done`
   * then settles when the stream ends — rejecting on any error.
   */
  async start(): Promise<{ done: Promise<void> }> {
    const config = this.config;
    const sql = textClient(config.url);
    await sql.connect();
    this.sql = sql;
    this.server = await checkServer(sql);
    this.dbName = (await sql.query<{ db: string }>("select current_database() as db")).rows[0]?.db ?? "";
    this.types = new TypeRegistry(sql, config);
    this.schemas = new SchemaTracker(sql, this.types);
    const tables = await resolveTables(sql, config);
    await ensurePublication(sql, config, tables);

    const offset = await this.offsets.load();
    let slot = await slotState(sql, config.slotName);
    // A walsender that just lost its client releases the slot a moment later: wait for that, briefly.
    for (let attempt = 0; slot.active && attempt < 20; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      slot = await slotState(sql, config.slotName);
    }
    if (slot.active)
      throw new CaptureError(
        "SLOT_IN_USE",
        `replication slot "${config.slotName}" is in use by process ${slot.activePid}; stop that consumer (select pg_terminate_backend(${slot.activePid})) or set slot.name to another slot`,
      );
    if (slot.exists && slot.plugin !== "pgoutput")
      throw new CaptureError(
        "SLOT_IN_USE",
        `replication slot "${config.slotName}" uses plugin ${slot.plugin}, not pgoutput; choose another slot.name`,
      );

    this.replication = await ReplicationConnection.connect(this.replicationUrl());
    const mode = config.snapshotMode;
    const wantsData = mode !== "never" && mode !== "no_data";
    let snapshotName: string | null = null;
    let progress: SnapshotProgress | null = null;
    if (!slot.exists) {
      const created = await this.replication.createSlot(config.slotName, wantsData);
      snapshotName = created.snapshotName;
      if (wantsData) progress = { consistentPoint: formatLsn(created.consistentPoint), tables: {} };
    } else if (offset && !offset.snapshotCompleted && offset.snapshot) {
      progress = offset.snapshot; // a snapshot was interrupted: resume it
    } else if (wantsData && (mode === "always" || !offset)) {
      progress = { consistentPoint: slot.confirmedFlushLsn ?? "0/0", tables: {} };
    }
    if (offset) {
      this.ackedLsn = parseLsn(offset.lsn);
      this.skipThroughLsn = this.ackedLsn;
      this.lastCommitLsn = this.ackedLsn;
    }

    if (progress) {
      await this.snapshot(progress, snapshotName, tables);
    }
    this.snapshotCompleted = true;
    if (mode === "initial_only") {
      await this.replication.close();
      return { done: Promise.resolve() };
    }
    await this.stream();
    return { done: this.streamDone };
  }

  private replicationUrl(): string {
    return this.config.url;
  }

  private async snapshot(
    progress: SnapshotProgress,
    snapshotName: string | null,
    tables: Array<{ schema: string; table: string }>,
  ) {
    const consistentPoint = parseLsn(progress.consistentPoint);
    if (consistentPoint > this.lastCommitLsn) this.lastCommitLsn = consistentPoint;
    const state: SnapshotProgress = structuredClone(progress);
    let writing: Promise<void> = Promise.resolve();
    await runSnapshot({
      url: this.config.url,
      snapshotName,
      tables,
      progress: state,
      threads: this.config.snapshotMaxThreads,
      fetchSize: this.config.snapshotFetchSize,
      batchSize: this.config.maxBatchSize,
      typeOptions: this.config,
      onChunk: (chunk) => {
        // Workers run in parallel; the sink sees one batch at a time, in the order chunks completed.
        writing = writing.then(async () => {
          state.tables[qualifiedName(chunk.table)] = chunk.progress;
          // One source block and topic for the whole chunk: they are the same for every row of it, and
          // events are read-only downstream (a per-row copy was a large share of the snapshot's time).
          const now = Date.now();
          const source = this.source(chunk.table, {
            tsMs: now,
            snapshot: "true",
            txId: null,
            lsn: consistentPoint,
          });
          const topic = tableTopic(this.config.topicPrefix, chunk.table);
          const key = keyExtractor(chunk.table);
          const events = chunk.rows.map((row) =>
            this.snapshotEvent(chunk.table, row, key(row), topic, source, now),
          );
          this.counters.snapshotRows += events.length;
          await this.writeBatch(events, structuredClone(state));
        });
        return writing;
      },
    });
    await writing;
  }

  private snapshotEvent(
    table: TableSchema,
    row: Row,
    key: Row | null,
    topic: string,
    source: SourceInfo,
    now: number,
  ): ChangeEvent {
    return {
      kind: "change",
      topic,
      table,
      key,
      value: {
        before: null,
        after: row,
        source,
        op: "r",
        ts_ms: now,
        transaction: null,
      },
      unchangedColumns: NO_UNCHANGED_COLUMNS,
    };
  }

  private async stream(): Promise<void> {
    const replication = this.replication;
    const server = this.server;
    if (!replication || !server) throw new Error("stream() before start()");
    const options: Record<string, string> = {
      proto_version: String(server.protocolVersion),
      publication_names: this.config.publicationName,
    };
    if (server.supportsMessages) options.messages = "true";
    if (server.protocolVersion >= 2 && this.config.streamInProgress) options.streaming = "on";
    const { done } = await replication.startReplication(this.config.slotName, 0n, options, {
      onData: async ({ payload }) => this.handle(this.decoder.decode(payload)),
      onKeepalive: (walEnd) => this.advanceWhenIdle(walEnd),
    });
    if (this.ackedLsn > 0n) replication.confirmFlush(this.ackedLsn);
    this.streamDone = done.finally(() => this.shutdown());
    this.streamDone.catch(() => {});
    if (this.config.heartbeatIntervalMs > 0) {
      this.heartbeatTimer = setInterval(() => {
        this.sql?.query("select pg_logical_emit_message(false, $1, '')", [HEARTBEAT_PREFIX]).catch(() => {});
      }, this.config.heartbeatIntervalMs);
      this.heartbeatTimer.unref();
    }
  }

  private async handle(message: PgoutputMessage, replaying = false): Promise<void> {
    if (!replaying && STREAMABLE.has(message.tag) && "xid" in message && message.xid !== undefined) {
      // Inside a stream block: the change belongs to an uncommitted transaction; keep it on disk.
      await this.spill.append(this.streamTopXid, message);
      return;
    }
    switch (message.tag) {
      case "begin":
        this.beginTransaction(message.xid, message.finalLsn, message.commitTimeMs);
        return;
      case "commit":
        await this.commitTransaction(message.endLsn);
        return;
      case "stream_start":
        this.streamTopXid = message.xid;
        return;
      case "stream_stop":
        return;
      case "stream_abort":
        await this.spill.abort(message.xid, message.subXid);
        return;
      case "stream_commit": {
        this.beginTransaction(message.xid, message.commitLsn, message.commitTimeMs);
        for await (const spilled of this.spill.replay(message.xid)) await this.handle(spilled, true);
        await this.commitTransaction(message.endLsn);
        return;
      }
      case "relation": {
        const schemas = this.schemas;
        if (!schemas) return;
        const { change } = await schemas.apply(message);
        if (change && !this.skipping())
          await this.emit({
            kind: "schema_change",
            topic: tableTopic(this.config.topicPrefix, change.tableSchema),
            change,
          });
        return;
      }
      case "type":
      case "origin":
        return;
      case "message":
        await this.onLogicalMessage(message);
        return;
      case "insert":
      case "update":
      case "delete":
      case "truncate":
        if (!this.skipping()) await this.onChange(message);
        return;
    }
  }

  private streamTopXid = 0;

  /** A transaction the sink already made durable before a restart is decoded again but not re-emitted. */
  private skipping(): boolean {
    return this.transaction !== null && this.transaction.commitLsn < this.skipThroughLsn;
  }

  private beginTransaction(xid: number, commitLsn: Lsn, commitTimeMs: number): void {
    this.transaction = {
      xid,
      commitLsn,
      commitTimeMs,
      id: transactionId(xid, commitLsn),
      totalOrder: 0,
      perTable: new Map(),
      tables: new Map(),
    };
    if (this.config.provideTransactionMetadata && !this.skipping())
      this.pending.push({
        kind: "transaction",
        topic: `${this.config.topicPrefix}.transaction`,
        status: "BEGIN",
        id: this.transaction.id,
        eventCount: null,
        dataCollections: null,
        tsMs: commitTimeMs,
      });
  }

  private async commitTransaction(endLsn: Lsn): Promise<void> {
    const transaction = this.transaction;
    if (!transaction) return;
    const skipped = this.skipping();
    this.transaction = null;
    if (skipped) return;
    this.lastCommitLsn = endLsn;
    this.counters.transactionsEmitted++;
    if (this.config.provideTransactionMetadata && transaction.totalOrder > 0)
      this.pending.push({
        kind: "transaction",
        topic: `${this.config.topicPrefix}.transaction`,
        status: "END",
        id: transaction.id,
        eventCount: transaction.totalOrder,
        dataCollections: [...transaction.perTable].map(([collection, count]) => ({
          data_collection: collection,
          event_count: count,
        })),
        tsMs: transaction.commitTimeMs,
      });
    // A transaction that touched none of the published tables is just BEGIN: drop it.
    if (transaction.totalOrder === 0)
      this.pending = this.pending.filter(
        (event) => !(event.kind === "transaction" && event.id === transaction.id),
      );
    if (this.pending.length > 0) await this.flush();
    else this.advanceWhenIdle(endLsn);
  }

  private async onChange(
    message: Extract<PgoutputMessage, { tag: "insert" | "update" | "delete" | "truncate" }>,
  ): Promise<void> {
    const schemas = this.schemas;
    if (!schemas) return;
    if (message.tag === "truncate") {
      for (const oid of message.relationOids) {
        const table = schemas.get(oid);
        if (table) await this.emitChange(table, "t", null, null, []);
      }
      return;
    }
    const table = schemas.get(message.relationOid);
    if (!table)
      throw new CaptureError(
        "PROTOCOL_ERROR",
        `pgoutput sent a change for relation ${message.relationOid} before its Relation message`,
      );
    if (message.tag === "insert") {
      const { row, unchanged } = decodeTuple(table, message.newTuple);
      await this.emitChange(table, "c", null, row, unchanged);
      return;
    }
    if (message.tag === "delete") {
      const before = decodeTuple(table, message.oldTuple).row;
      // With REPLICA IDENTITY DEFAULT/INDEX the old tuple holds only key columns; the others arrive as null.
      await this.emitChange(table, "d", before, null, []);
      if (this.config.tombstonesOnDelete)
        await this.emit({
          kind: "tombstone",
          topic: tableTopic(this.config.topicPrefix, table),
          table,
          key: keyOf(table, before),
        });
      return;
    }
    const before = message.oldTuple ? decodeTuple(table, message.oldTuple).row : null;
    const { row: after, unchanged } = decodeTuple(
      table,
      message.newTuple,
      message.oldKind === "full" ? before : null,
    );
    const oldKey = keyOf(table, before);
    const newKey = keyOf(table, after);
    if (oldKey && newKey && !sameKey(oldKey, newKey)) {
      // A primary key change is a delete of the old key and a create of the new one, as Debezium emits it.
      // Both carry the keys (keyChange) when the old key is known (the old tuple has every key column;
      // not so under REPLICA IDENTITY USING INDEX of other columns). A TOASTed column the update left
      // unchanged is not in the new tuple: its value is the old row's, so the create carries the old key
      // in `before` and the sink takes those columns from the row it stores under that key.
      const complete = Object.values(oldKey).every((value) => value !== null);
      const keyChange = complete ? { oldKey, newKey } : undefined;
      await this.emitChange(table, "d", before, null, [], keyChange);
      if (this.config.tombstonesOnDelete)
        await this.emit({
          kind: "tombstone",
          topic: tableTopic(this.config.topicPrefix, table),
          table,
          key: oldKey,
        });
      await this.emitChange(
        table,
        "c",
        complete && unchanged.length > 0 ? oldKey : null,
        after,
        unchanged,
        keyChange,
      );
      return;
    }
    await this.emitChange(table, "u", before, after, unchanged);
  }

  private async emitChange(
    table: TableSchema,
    op: "c" | "u" | "d" | "t",
    before: Row | null,
    after: Row | null,
    unchanged: string[],
    keyChange?: ChangeEvent["keyChange"],
  ): Promise<void> {
    const transaction = this.transaction;
    const collection = qualifiedName(table);
    let block = null;
    if (transaction) {
      transaction.totalOrder++;
      const order = (transaction.perTable.get(collection) ?? 0) + 1;
      transaction.perTable.set(collection, order);
      if (this.config.provideTransactionMetadata)
        block = { id: transaction.id, total_order: transaction.totalOrder, data_collection_order: order };
    }
    let shared = transaction?.tables.get(table);
    if (!shared) {
      shared = {
        source: this.source(table, {
          tsMs: transaction?.commitTimeMs ?? Date.now(),
          snapshot: "false",
          txId: transaction?.xid ?? null,
          lsn: transaction?.commitLsn ?? null,
        }),
        topic: tableTopic(this.config.topicPrefix, table),
      };
      transaction?.tables.set(table, shared);
    }
    await this.emit({
      kind: "change",
      topic: shared.topic,
      table,
      key: keyOf(table, after ?? before),
      value: {
        before,
        after,
        source: shared.source,
        op,
        ts_ms: Date.now(),
        transaction: block,
      },
      unchangedColumns: unchanged,
      ...(keyChange ? { keyChange } : {}),
    });
  }

  private async onLogicalMessage(message: Extract<PgoutputMessage, { tag: "message" }>): Promise<void> {
    if (!message.transactional && message.prefix === HEARTBEAT_PREFIX) {
      this.advanceWhenIdle(message.lsn);
      return;
    }
    if (this.skipping()) return;
    const tsMs = this.transaction?.commitTimeMs ?? Date.now();
    await this.emit({
      kind: "message",
      topic: `${this.config.topicPrefix}.message`,
      prefix: message.prefix,
      content: message.content,
      transactional: message.transactional,
      tsMs,
      source: {
        ...this.source(
          { schema: "", table: "" },
          { tsMs, snapshot: "false", txId: this.transaction?.xid ?? null, lsn: message.lsn },
        ),
      },
    });
    if (!this.transaction) await this.flush();
  }

  private source(
    table: { schema: string; table: string },
    at: { tsMs: number; snapshot: SourceInfo["snapshot"]; txId: number | null; lsn: Lsn | null },
  ): SourceInfo {
    return {
      version: CONNECTOR_VERSION,
      connector: "postgresql",
      name: this.config.topicPrefix,
      ts_ms: at.tsMs,
      snapshot: at.snapshot,
      db: this.dbName,
      sequence: JSON.stringify([String(this.lastCommitLsn), at.lsn === null ? null : String(at.lsn)]),
      schema: table.schema,
      table: table.table,
      txId: at.txId,
      lsn: at.lsn,
      xmin: null,
    };
  }

  private async emit(event: CaptureEvent): Promise<void> {
    this.pending.push(event);
    this.counters.eventsEmitted++;
    if (this.pending.length >= this.config.maxBatchSize) await this.flush();
  }

  private async flush(): Promise<void> {
    const events = this.pending;
    this.pending = [];
    await this.writeBatch(events, null);
  }

  private async writeBatch(events: CaptureEvent[], snapshot: SnapshotProgress | null): Promise<void> {
    this.sequence++;
    await this.sink.write({
      events,
      position: { sequence: this.sequence, lsn: formatLsn(this.lastCommitLsn), snapshot },
    });
  }

  /** Confirms `lsn` when nothing emitted is waiting for durability and no transaction is open. */
  private advanceWhenIdle(lsn: Lsn): void {
    if (
      this.transaction ||
      this.pending.length > 0 ||
      this.ackedSequence < this.sequence ||
      !this.snapshotCompleted
    )
      return;
    if (lsn <= this.ackedLsn) return;
    this.ackedLsn = lsn;
    this.lastCommitLsn = lsn > this.lastCommitLsn ? lsn : this.lastCommitLsn;
    this.persist(null);
    this.replication?.confirmFlush(lsn);
  }

  private onDurable(position: SourcePosition): void {
    if (position.sequence <= this.ackedSequence) return;
    this.ackedSequence = position.sequence;
    const lsn = parseLsn(position.lsn);
    if (lsn > this.ackedLsn) this.ackedLsn = lsn;
    this.persist(position.snapshot);
  }

  private persist(snapshot: SnapshotProgress | null): void {
    const offset: CaptureOffset = {
      slotName: this.config.slotName,
      lsn: formatLsn(this.ackedLsn),
      snapshot,
      snapshotCompleted:
        snapshot === null && (this.snapshotCompleted || this.ackedSequence === this.sequence),
    };
    // One save at a time, and only the newest offset waits: a store slower than the acknowledgements
    // (a Kafka round trip per save) then skips intermediate offsets instead of queueing all of them,
    // which would make the slot fall further and further behind.
    this.nextOffset = { offset, lsn: this.ackedLsn };
    if (!this.savingOffsets) {
      this.savingOffsets = true;
      this.saving = this.saveOffsets();
    }
  }

  /** Saves offsets in order; the slot moves only after the offset that covers it is stored. */
  private async saveOffsets(): Promise<void> {
    try {
      for (let next = this.nextOffset; next; next = this.nextOffset) {
        this.nextOffset = null;
        try {
          await this.offsets.save(next.offset);
        } catch {
          continue; // not stored, so not confirmed; a later acknowledgement saves again
        }
        if (this.snapshotCompleted) this.replication?.confirmFlush(next.lsn);
      }
    } finally {
      this.savingOffsets = false;
    }
  }

  metrics(): CaptureMetrics {
    return {
      ...this.counters,
      lastCommitLsn: formatLsn(this.lastCommitLsn),
      confirmedFlushLsn: formatLsn(this.replication?.flushedLsn ?? 0n),
    };
  }

  /** Bytes of WAL between the server's current position and the slot's confirmed flush LSN. */
  async slotLagBytes(): Promise<number | null> {
    if (!this.sql) return null;
    return slotLagBytes(this.sql, this.config.slotName);
  }

  /**
   * Stops streaming: no more WAL is handed to the sink, the sink flushes (when it can), the offset of
   * the last durable batch is saved and the slot confirmed up to it. The slot stays where the last
   * durable acknowledgement put it.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    // At a transaction boundary, so a clean stop leaves no half transaction downstream.
    await this.replication?.halt(() => this.transaction === null);
    // A failed sink has already failed the stream (done rejected); stopping must not throw it again.
    await this.sink.flush?.().catch(() => {});
    await this.saving;
    await this.replication?.close();
    await this.shutdown();
  }

  private async shutdown(): Promise<void> {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    await this.spill.close();
    const sql = this.sql;
    this.sql = null;
    await sql?.end().catch(() => {});
    void this.stopped;
  }
}
