/**
 * Direct mode: capture and sink in one process, no Kafka. {@link DirectSink} is the capture's
 * {@link ChangeSink}: it routes each source table's change events to one table writer (upsert or
 * changelog) of `<namespace>.<table>`, creating tables from the first event's schema and following DDL,
 * and commits in rounds (every `commitIntervalMs`, or sooner when `maxBufferedChanges` is exceeded).
 *
 * Exactly-once (DESIGN principle 3): every table commit stores the position of its last change
 * (`<commit LSN>#<n>`, n = order in the transaction; snapshot rows `<consistent point>#<n>`). Only
 * after *every* table with changes committed does the sink report the newest batch position durable,
 * which is what lets capture save its offset and move the slot. A crash in between replays from the
 * slot; each writer skips what its table already holds.
 *
 * A round commits every table with changes in one `catalog.commitTransaction` (src/sink/staged-commit.ts):
 * all tables or none, so a source transaction that touched several tables never shows in one of them
 * without the others, and a crash mid-round leaves every table at the previous round.
 */
import type {
  CaptureEvent,
  CaptureOffset,
  ChangeBatch,
  ChangeEvent,
  ChangeSink,
  EventValue,
  OffsetStore,
  SourcePosition,
  TableSchema,
} from "../capture/index.ts";
import type { Catalog, Namespace, TableIdentifier } from "../catalog/catalog.ts";
import type { IcebergType } from "../iceberg/types.ts";
import {
  type Change,
  ChangelogTableWriter,
  commitStaged,
  createSinkTable,
  formatLsn,
  parsePosition,
  type StagedCommit,
  UpsertTableWriter,
} from "../sink/index.ts";
import { ReplicateError } from "./errors.ts";
import { eventSchema, sinkRow } from "./values.ts";

export type ReplicateMode = "upsert" | "changelog";

export interface DirectSinkOptions {
  catalog: Catalog;
  namespace: Namespace;
  mode?: ReplicateMode;
  /** A commit round every this many ms (default 1000). */
  commitIntervalMs?: number;
  /** A round starts as soon as this many changes are buffered over all tables (default 100 000). */
  maxBufferedChanges?: number;
  /** Per writer: changes held in memory before they go to data files (default: the writer's). */
  bufferRows?: number;
  /** One line per commit round. */
  log?: (line: string) => void;
}

export interface RoundReport {
  tables: Array<{ table: string; changes: number }>;
  changes: number;
  /** The capture position acknowledged after the round (commit end LSN). */
  lsn: string;
  /** now − the newest source commit time in the round, ms. */
  freshnessMs: number;
  durationMs: number;
}

interface Route {
  identifier: TableIdentifier;
  source: string;
  writer: UpsertTableWriter | ChangelogTableWriter;
  types: Map<string, IcebergType>;
  changes: number;
  newestCommitMs: number;
  /** Next sequence for snapshot rows of this table. */
  snapshotSequence: bigint;
  snapshotLsn: bigint | undefined;
}

export class DirectSink implements ChangeSink {
  readonly #catalog: Catalog;
  readonly #namespace: Namespace;
  readonly #mode: ReplicateMode;
  readonly #commitIntervalMs: number;
  readonly #maxBuffered: number;
  readonly #bufferRows: number | undefined;
  readonly #log: (line: string) => void;
  readonly #routes = new Map<string, Route>();
  #listener: ((position: SourcePosition) => void) | undefined;
  /** Serializes writes and rounds: the writers are not re-entrant. */
  #lock: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #namespaceReady = false;
  /** The newest batch taken into the writers and the newest one acknowledged. */
  #written: SourcePosition | undefined;
  #acked: SourcePosition | undefined;
  #buffered = 0;
  /** Stream positions: the current transaction's commit LSN and the order of its changes. */
  #txLsn: bigint | undefined;
  #txSequence = 0n;
  /**
   * The delete half of a primary-key change, held until its create (the next event) arrives; upsert
   * mode writes the two as one move, so the create's TOAST-unchanged columns come from the old row.
   * Never acknowledged while held: its transaction is not complete before the create.
   */
  #held: { route: Route; change: Change; oldKey: string } | undefined;
  #failure: unknown;
  #failed: Promise<never>;
  #fail!: (error: unknown) => void;
  #closed = false;

  constructor(options: DirectSinkOptions) {
    this.#catalog = options.catalog;
    this.#namespace = options.namespace;
    this.#mode = options.mode ?? "upsert";
    this.#commitIntervalMs = options.commitIntervalMs ?? 1000;
    this.#maxBuffered = options.maxBufferedChanges ?? 100_000;
    this.#bufferRows = options.bufferRows;
    this.#log = options.log ?? (() => {});
    this.#failed = new Promise<never>((_resolve, reject) => {
      this.#fail = reject;
    });
    this.#failed.catch(() => {});
  }

  /** Rejects when a background commit round fails (the runner stops capture then). */
  get failed(): Promise<never> {
    return this.#failed;
  }

  onDurable(listener: (position: SourcePosition) => void): void {
    this.#listener = listener;
  }

  /** The timer's round while it is queued or running. */
  #timerRound: Promise<unknown> | undefined;

  /** Starts the round timer. */
  start(): void {
    if (this.#timer || this.#commitIntervalMs <= 0) return;
    this.#timer = setInterval(() => {
      // One timer round at a time: when a round takes longer than the interval, queued rounds would
      // alternate one-for-one with capture's batches and commit a transaction each (lag without bound).
      if (this.#timerRound) return;
      this.#timerRound = this.commitRound()
        .catch(() => undefined) // recorded in #failure, surfaced through `failed`
        .finally(() => {
          this.#timerRound = undefined;
        });
    }, this.#commitIntervalMs);
  }

  async write(batch: ChangeBatch): Promise<void> {
    await this.#exclusive(async () => {
      for (const event of batch.events) await this.#route(event);
      this.#written = batch.position;
    });
    if (this.#buffered >= this.#maxBuffered) await this.commitRound();
  }

  /**
   * Commits every table with changes, then acknowledges the newest batch written before the round.
   * Resolves with the report (undefined when there was nothing new).
   */
  commitRound(): Promise<RoundReport | undefined> {
    return this.#exclusive(() => this.#round());
  }

  /** Runs a last round, stops the timer and closes the writers. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#closed) return;
    try {
      if (this.#failure === undefined) await this.commitRound();
    } finally {
      this.#closed = true;
      await this.#exclusive(async () => {
        for (const route of this.#routes.values()) await route.writer.close();
        this.#routes.clear();
      });
    }
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(() => {
      if (this.#failure !== undefined) throw this.#failure;
      return fn();
    });
    this.#lock = run.catch(() => {});
    return run;
  }

  async #round(): Promise<RoundReport | undefined> {
    const written = this.#written;
    if (written === undefined || (this.#acked !== undefined && written.sequence <= this.#acked.sequence))
      return undefined;
    const started = Date.now();
    const tables: RoundReport["tables"] = [];
    let newest = 0;
    try {
      // Every table with changes in one catalog transaction: all land or none (see the module comment).
      const staged: StagedCommit[] = [];
      const routes: Route[] = [];
      for (const route of this.#routes.values()) {
        if (route.changes === 0) continue;
        const stage = await route.writer.stage();
        if (stage) staged.push(stage);
        routes.push(route);
      }
      await commitStaged(this.#catalog, staged);
      for (const route of routes) {
        tables.push({ table: route.identifier.name, changes: route.changes });
        newest = Math.max(newest, route.newestCommitMs);
        route.changes = 0;
      }
    } catch (error) {
      this.#failure = new ReplicateError(
        "COMMIT_FAILED",
        `commit round failed; the slot stays at the last durable position ${this.#acked?.lsn ?? "(none)"} and a restart replays from there`,
        { cause: error },
      );
      this.#fail(this.#failure);
      throw this.#failure;
    }
    this.#buffered = 0;
    this.#acked = written;
    this.#listener?.(written);
    const changes = tables.reduce((sum, t) => sum + t.changes, 0);
    const report: RoundReport = {
      tables,
      changes,
      lsn: written.lsn,
      freshnessMs: newest > 0 ? Date.now() - newest : 0,
      durationMs: Date.now() - started,
    };
    if (changes > 0) {
      this.#log(
        `commit round: ${tables.map((t) => `${t.table}=${t.changes}`).join(" ")} rows=${changes} position=${written.lsn}${written.snapshot ? " (snapshot)" : ""} freshness=${report.freshnessMs}ms took=${report.durationMs}ms`,
      );
    }
    return report;
  }

  async #route(event: CaptureEvent): Promise<void> {
    const held = this.#held;
    if (held) {
      this.#held = undefined;
      if (
        event.kind === "change" &&
        event.value.op === "c" &&
        event.keyChange &&
        this.#routes.get(`${event.table.schema}.${event.table.table}`) === held.route &&
        keyText(event.keyChange.oldKey) === held.oldKey
      ) {
        await this.#move(held.route, held.change, event);
        return;
      }
      await this.#write(held.route, held.change);
    }
    if (event.kind === "schema_change") {
      const key = `${event.change.schema}.${event.change.table}`;
      const route = this.#routes.get(key);
      if (!route) return; // opened with the new schema at its next change
      const renames = new Map<string, string>();
      for (const change of event.change.changes)
        if (change.kind === "rename_column") renames.set(change.to, change.from);
      await route.writer.applySourceSchema(eventSchema(event.change.tableSchema, renames));
      route.types = columnTypes(event.change.tableSchema);
      return;
    }
    if (event.kind !== "change") return; // tombstones, transaction markers, logical messages
    const route = await this.#routeFor(event.table);
    const change = this.#change(route, event);
    if (!change) return;
    if (change.op === "d" && event.keyChange && this.#mode === "upsert") {
      this.#held = { route, change, oldKey: keyText(event.keyChange.oldKey) };
      return;
    }
    await this.#write(route, change);
  }

  async #write(route: Route, change: Change): Promise<void> {
    if (await route.writer.write(change)) {
      route.changes++;
      this.#buffered++;
      route.newestCommitMs = Math.max(route.newestCommitMs, change.commitTimeMs);
    }
  }

  /**
   * A primary-key change as one update of the new key whose `before` is the old key: the writer deletes
   * the old key and fills TOAST-unchanged columns from the old key's row (buffered or stored). The
   * delete's position is skipped; the move has the create's (both replay the same after a restart).
   */
  async #move(route: Route, deleted: Change, event: ChangeEvent): Promise<void> {
    const created = this.#change(route, event);
    if (!created) return;
    const oldKey = event.keyChange
      ? sinkRow(event.table, route.types, event.keyChange.oldKey)
      : (deleted.before ?? deleted.key);
    await this.#write(route, { ...created, op: "u", before: oldKey });
  }

  #change(route: Route, event: ChangeEvent): Change | undefined {
    const { value } = event;
    const lsn = value.source.lsn ?? 0n;
    let sequence: bigint;
    if (value.op === "r") {
      // Snapshot rows share the consistent point; continue after what this table already committed
      // there (a snapshot resumed after a crash reads the remaining chunks).
      if (route.snapshotLsn !== lsn) {
        route.snapshotLsn = lsn;
        const committed = route.writer.committedPosition;
        const parsed = committed === undefined ? undefined : parsePosition(committed);
        route.snapshotSequence = parsed !== undefined && parsed.lsn === lsn ? parsed.sequence : 0n;
      }
      sequence = ++route.snapshotSequence;
    } else {
      if (this.#txLsn !== lsn) {
        this.#txLsn = lsn;
        this.#txSequence = 0n;
      }
      sequence = ++this.#txSequence;
    }
    if (value.op === "t" && this.#mode === "changelog") {
      this.#log(`${route.source}: TRUNCATE at ${formatLsn(lsn)} is not recorded in changelog mode`);
      return undefined;
    }
    const table = event.table;
    const convert = (row: Record<string, EventValue>) => sinkRow(table, route.types, row);
    const change: Change = {
      op: value.op,
      key: event.key ? convert(event.key) : {},
      position: `${formatLsn(lsn)}#${sequence}`,
      commitTimeMs: value.source.ts_ms,
    };
    if (value.before) change.before = convert(value.before);
    if (value.after) change.after = convert(value.after);
    if (event.unchangedColumns.length > 0) change.unchangedColumns = [...event.unchangedColumns];
    return change;
  }

  async #routeFor(table: TableSchema): Promise<Route> {
    const source = `${table.schema}.${table.table}`;
    const existing = this.#routes.get(source);
    if (existing) return existing;
    const identifier: TableIdentifier = { namespace: this.#namespace, name: table.table };
    for (const route of this.#routes.values()) {
      if (route.identifier.name === identifier.name)
        throw new ReplicateError(
          "TABLE_CONFLICT",
          `${source} and ${route.source} both map to ${[...this.#namespace, table.table].join(".")}; replicate one schema per namespace (--tables / --namespace)`,
        );
    }
    if (!this.#namespaceReady) {
      if (!(await this.#catalog.namespaceExists(this.#namespace)))
        await this.#catalog.createNamespace(this.#namespace).catch(async (error: unknown) => {
          if (!(await this.#catalog.namespaceExists(this.#namespace))) throw error;
        });
      this.#namespaceReady = true;
    }
    const schema = eventSchema(table);
    const exists = await this.#catalog.tableExists(identifier);
    if (!exists) await createSinkTable(this.#catalog, identifier, schema, { mode: this.#mode });
    const options = {
      catalog: this.#catalog,
      identifier,
      ...(this.#bufferRows !== undefined ? { bufferRows: this.#bufferRows } : {}),
    };
    const writer =
      this.#mode === "upsert"
        ? await UpsertTableWriter.open(options)
        : await ChangelogTableWriter.open(options);
    // DDL while replication was down: bring the table to the source's current shape.
    if (exists) await writer.applySourceSchema(schema);
    const route: Route = {
      identifier,
      source,
      writer,
      types: columnTypes(table),
      changes: 0,
      newestCommitMs: 0,
      snapshotSequence: 0n,
      snapshotLsn: undefined,
    };
    this.#routes.set(source, route);
    return route;
  }
}

/** A key row as text, to match the two halves of a primary-key change. */
function keyText(key: Record<string, EventValue>): string {
  return JSON.stringify(key, (_name, value: unknown) => (typeof value === "bigint" ? `${value}n` : value));
}

/** Column name → Iceberg type, from the source schema (what the values are converted to). */
function columnTypes(table: TableSchema): Map<string, IcebergType> {
  return new Map(eventSchema(table).columns.map((c) => [c.name, c.type]));
}

/**
 * Capture's offset in the catalog, as a property of the namespace (`floe.replicate.<slot>.offset`):
 * saved only after the tables' commits (capture saves on `onDurable`), so nothing local to keep.
 */
export class NamespaceOffsetStore implements OffsetStore {
  readonly #key: string;
  constructor(
    private readonly catalog: Catalog,
    private readonly namespace: Namespace,
    slotName: string,
  ) {
    this.#key = `floe.replicate.${slotName}.offset`;
  }

  async load(): Promise<CaptureOffset | null> {
    if (!(await this.catalog.namespaceExists(this.namespace))) return null;
    const text = (await this.catalog.loadNamespaceProperties(this.namespace))[this.#key];
    return text === undefined ? null : (JSON.parse(text) as CaptureOffset);
  }

  async save(offset: CaptureOffset): Promise<void> {
    if (!(await this.catalog.namespaceExists(this.namespace)))
      await this.catalog.createNamespace(this.namespace).catch(() => {});
    await this.catalog.updateNamespaceProperties(this.namespace, { [this.#key]: JSON.stringify(offset) }, []);
  }
}
