/**
 * The sink's table writers: one commit round of changes for one Iceberg table, committed as a single
 * row delta whose snapshot summary carries the source position it covers (DESIGN principle 3).
 * `UpsertTableWriter` mirrors the source table (last change per key wins; replaced and deleted rows
 * become position deletes located through the key index, or equality deletes on the key);
 * `ChangelogTableWriter` appends every change with its op, position and commit time. See map.md.
 */
import type { Catalog, LoadedTable, TableIdentifier } from "../catalog/catalog.ts";
import type { DataFile } from "../iceberg/data-file.ts";
import { type PositionDelete, writeEqualityDeletes, writePositionDeletes } from "../iceberg/delete-writer.ts";
import { IcebergError } from "../iceberg/errors.ts";
import { RowDelta } from "../iceberg/operations/row-delta.ts";
import { changesIn } from "../iceberg/operations/validation.ts";
import { writeDataFiles } from "../iceberg/parquet-writer.ts";
import {
  isUnpartitioned,
  type PartitionSpec,
  type PartitionValues,
  partitionKey,
} from "../iceberg/partitioning.ts";
import type { Schema } from "../iceberg/schema.ts";
import type { Snapshot } from "../iceberg/snapshot.ts";
import {
  ancestorsOf,
  currentSchema,
  defaultSpec,
  snapshotById,
  snapshotForRef,
} from "../iceberg/table-metadata.ts";
import type { NestedField } from "../iceberg/types.ts";
import { type EventSchema, type EvolveSchemaOptions, evolveSchema } from "./auto-create.ts";
import {
  CHANGELOG_COMMIT_TIME_COLUMN,
  CHANGELOG_OP_COLUMN,
  CHANGELOG_POSITION_COLUMN,
  type Change,
  comparePositions,
  type Row,
} from "./change.ts";
import { SinkError } from "./errors.ts";
import { encodeKey, KeyIndex, type KeyIndexOptions, type RowLocation } from "./key-index.ts";
import { committedPosition, positionSummary } from "./position.ts";
import { type CommitResult, commitStaged, type StagedCommit } from "./staged-commit.ts";
import { fileKeys, forEachLiveKeyBatch, locationKey, readRowsAt } from "./table-files.ts";

export type DeleteMode = "position" | "equality";

export interface TableWriterOptions {
  catalog: Catalog;
  identifier: TableIdentifier;
  /** Changes (distinct keys, for upsert) held in memory before they are written to data files. */
  bufferRows?: number;
  /** Attempts after VALIDATION_FAILED (compaction removed a file the deletes target). */
  validationRetries?: number;
  /**
   * False when the source's positions do not order changes (Kafka mode: a worker reads several
   * partitions; exactly-once comes from the consumed offsets committed with the published files):
   * no replay skipping, no order check, no position in the summary. Default true.
   */
  trackPositions?: boolean;
}

export interface UpsertTableWriterOptions extends TableWriterOptions {
  /** `position` (default): readers apply deletes cheaply; `equality`: no key index is kept. */
  deleteMode?: DeleteMode;
  keyIndex?: KeyIndexOptions;
  /**
   * Kafka mode: commits whose summary has `floe.sink.id` = this value hold other workers' keys (a source
   * partition's keys belong to one worker at a time), so the key index does not rebuild over them.
   */
  sharedWithSink?: string;
}

/** Snapshot-summary property naming the Kafka sink that committed a snapshot. */
export const SINK_ID_PROPERTY = "floe.sink.id";

/** What a round's row delta adds: the RowDelta-shaped change, before it is committed. */
export interface PreparedCommit {
  dataFiles: DataFile[];
  deleteFiles: { file: DataFile; specId: number }[];
  /** Committed data files the position deletes point at: they must still be live at commit. */
  referencedDataFiles: string[];
  /**
   * With `prepareCommit({ equalityFallback: true })`: the same deletes of committed rows as equality
   * deletes on the key, per target file's partition — what a committer that cannot recompute position
   * deletes uses when compaction removed a target file first (this round's own rows stay: a delete
   * only applies to data files of earlier sequence numbers).
   */
  equalityFallback?: { file: DataFile; specId: number }[];
}

export interface StageOptions {
  /** The position the commit records (default: the round's last change's). */
  sourcePosition?: string;
  /** More snapshot-summary properties (e.g. what a Kafka commit round covers). */
  summary?: Record<string, string>;
}

const DEFAULT_BUFFER_ROWS = 50_000;
const DEFAULT_VALIDATION_RETRIES = 5;
/** A key deleted in this round (no row in this round's files). */
const TOMBSTONE: RowLocation = { filePath: "", pos: -1 };

/** Deletes (or equality rows) of one target spec + partition. */
interface PartitionGroup<T> {
  spec: PartitionSpec;
  values: PartitionValues;
  items: T[];
}

/** What every delete file of a round is written with. */
interface DeleteFileBase {
  schema: Schema;
  io: LoadedTable["io"];
  location: string;
  properties: Record<string, string>;
}

interface BufferedRow {
  /** The final image so far; null when the key's last change deletes it. */
  row: Row | null;
  /** Columns still to take from the stored row (TOAST-unchanged, not in the buffer). */
  pending?: Set<string>;
  /** The key whose stored row has the pending columns, when not this one (a primary-key change). */
  pendingFrom?: string;
  /**
   * Deletions: the buffered image the delete replaced (undefined: the stored row), for a primary-key
   * change whose create follows the delete of the old key and left TOASTed columns unchanged.
   */
  replaced?: BufferedRow;
}

/** Shared by both writers: the table, the position bookkeeping, the retrying commit. */
abstract class TableWriterBase {
  protected readonly catalog: Catalog;
  protected readonly identifier: TableIdentifier;
  protected readonly bufferRows: number;
  protected readonly validationRetries: number;
  protected readonly trackPositions: boolean;
  protected table: LoadedTable;
  /** The position of the last commit of this table (read back from it at open). */
  committedPosition: string | undefined;
  /** The position of the last change handed to `write` in this round. */
  protected roundPosition: string | undefined;

  protected constructor(options: TableWriterOptions, table: LoadedTable) {
    this.catalog = options.catalog;
    this.identifier = options.identifier;
    this.bufferRows = Math.max(1, options.bufferRows ?? DEFAULT_BUFFER_ROWS);
    this.validationRetries = options.validationRetries ?? DEFAULT_VALIDATION_RETRIES;
    this.trackPositions = options.trackPositions ?? true;
    this.table = table;
    this.committedPosition = committedPosition(table);
  }

  protected get schema(): Schema {
    return currentSchema(this.table.metadata);
  }

  protected get spec(): PartitionSpec {
    return defaultSpec(this.table.metadata);
  }

  /** The partition spec the writer's data files are written with. */
  get specId(): number {
    return this.spec.specId;
  }

  protected get headSnapshotId(): bigint | undefined {
    return snapshotForRef(this.table.metadata)?.snapshotId;
  }

  /**
   * False when the change is at or before the committed position (already in the table: a replay after
   * restart), true when it was taken into the round.
   */
  async write(change: Change): Promise<boolean> {
    if (!this.trackPositions) {
      await this.accept(change);
      return true;
    }
    if (
      this.committedPosition !== undefined &&
      comparePositions(change.position, this.committedPosition) <= 0
    )
      return false;
    // Positions must be unique: a restart skips everything at or before the committed one.
    if (this.roundPosition !== undefined && comparePositions(change.position, this.roundPosition) <= 0) {
      throw new SinkError(
        "POSITION_OUT_OF_ORDER",
        `change at ${change.position} arrived after ${this.roundPosition} for ${this.identifier.name}; the source must deliver changes with unique, increasing positions`,
      );
    }
    await this.accept(change);
    this.roundPosition = change.position;
    return true;
  }

  protected abstract accept(change: Change): Promise<void>;

  /** The position a commit records: `requested`, or the round's last; never before the round's last. */
  protected commitPosition(requested: string | undefined): string | undefined {
    if (!this.trackPositions) return undefined;
    if (
      requested !== undefined &&
      this.roundPosition !== undefined &&
      comparePositions(requested, this.roundPosition) < 0
    ) {
      throw new SinkError(
        "POSITION_OUT_OF_ORDER",
        `commit position ${requested} is before the round's last change (${this.roundPosition}); a restart would apply those changes twice`,
      );
    }
    return requested ?? this.roundPosition;
  }

  /** Writes buffered changes to data files of this round. */
  abstract flush(): Promise<void>;

  /**
   * Follows source DDL: writes what is buffered with the old schema, then evolves the table to `event`
   * (see auto-create.ts). Changes of the new shape may follow in the same round.
   */
  async applySourceSchema(event: EventSchema, options: EvolveSchemaOptions = {}): Promise<void> {
    await this.flush();
    this.table = await evolveSchema(
      this.catalog,
      await this.catalog.loadTable(this.identifier),
      event,
      options,
    );
  }

  protected async writeRows(rows: Row[]): Promise<DataFile[]> {
    const m = this.table.metadata;
    return writeDataFiles({
      schema: this.schema,
      spec: this.spec,
      rows,
      io: this.table.io,
      location: `${m.location}/data`,
      properties: m.properties,
    });
  }

  /**
   * The round as a {@link StagedCommit}: a row delta of `prepared` with the source position in the
   * snapshot summary, prepared against whatever table version the committer hands it. When a data file
   * the position deletes target was removed meanwhile (VALIDATION_FAILED: compaction rewrote it),
   * `recompute` is asked for new deletes against that table, up to `validationRetries` times; this
   * round's data files stay valid. `complete` runs once the commit landed.
   */
  protected stageRound(
    prepared: PreparedCommit,
    sourcePosition: string | undefined,
    summary: Record<string, string>,
    recompute: (table: LoadedTable) => Promise<PreparedCommit>,
    complete: (table: LoadedTable, snapshot: Snapshot, attempts: number) => Promise<CommitResult>,
  ): StagedCommit {
    let current = prepared;
    /** The table `current`'s deletes were computed against (a row delta validates against it). */
    let base = this.table;
    let validationFailures = 0;
    let attempts = 0;
    const delta = (table: LoadedTable) => {
      const rowDelta = new RowDelta(this.catalog, table);
      for (const file of current.dataFiles) rowDelta.addRows(file);
      for (const { file, specId } of current.deleteFiles) rowDelta.addDeletes(file, specId);
      rowDelta.validateDataFilesExist(current.referencedDataFiles);
      if (sourcePosition !== undefined) {
        for (const [key, value] of Object.entries(positionSummary(sourcePosition))) rowDelta.set(key, value);
      }
      for (const [key, value] of Object.entries(summary)) rowDelta.set(key, value);
      return rowDelta;
    };
    return {
      identifier: this.identifier,
      table: this.table,
      prepare: async (table) => {
        attempts++;
        for (;;) {
          try {
            return await delta(base).prepare(table);
          } catch (error) {
            if (!(error instanceof IcebergError && error.code === "VALIDATION_FAILED")) throw error;
            // The deletes against committed files are stale; this round's data files stay valid.
            await this.table.io.deleteMany(current.deleteFiles.map((d) => d.file.filePath)).catch(() => {});
            if (++validationFailures > this.validationRetries) {
              throw new SinkError(
                "COMMIT_RETRIES_EXHAUSTED",
                `${this.identifier.name}: files kept being rewritten under the round's deletes (${validationFailures} attempts); pause compaction or retry`,
                { cause: error },
              );
            }
            this.table = table;
            current = await recompute(table);
            base = table;
          }
        }
      },
      complete: (table, snapshot) => complete(table, snapshot, attempts),
    };
  }

  /** Commits a staged round of this table alone (several tables at once: {@link commitStaged}). */
  protected async commitStagedRound(staged: StagedCommit): Promise<CommitResult> {
    const [result] = await commitStaged(this.catalog, [staged]);
    return result!;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Upsert.

export class UpsertTableWriter extends TableWriterBase {
  readonly deleteMode: DeleteMode;
  #keyFields: NestedField[];
  /** Committed live rows (position mode only). */
  readonly #index: KeyIndex;
  /** Keys changed this round → their row in this round's files, or TOMBSTONE. */
  readonly #roundIndex: KeyIndex;
  /** Spec and partition of each data file deletes may target (committed and this round's). */
  readonly #fileInfo = new Map<string, { spec: PartitionSpec; partition: PartitionValues }>();
  #buffer = new Map<string, BufferedRow>();
  #roundFiles: DataFile[] = [];
  /** Position deletes against this round's own files (a key written, then changed again). */
  #roundDeletes: RowLocation[] = [];
  #prepared: PreparedCommit | undefined;
  readonly #sharedWithSink: string | undefined;
  /** A TRUNCATE in this round: every committed row is deleted at commit. */
  #truncated = false;

  private constructor(options: UpsertTableWriterOptions, table: LoadedTable, keyFields: NestedField[]) {
    super(options, table);
    this.deleteMode = options.deleteMode ?? "position";
    this.#sharedWithSink = options.sharedWithSink;
    this.#keyFields = keyFields;
    this.#index = new KeyIndex(options.keyIndex);
    this.#roundIndex = new KeyIndex(options.keyIndex);
  }

  /** Loads the table, reads the committed position back and builds the key index. */
  static async open(options: UpsertTableWriterOptions): Promise<UpsertTableWriter> {
    const table = await options.catalog.loadTable(options.identifier);
    const schema = currentSchema(table.metadata);
    const keyFields = schema.identifierFieldIds.map((id) => schema.findField(id)!);
    if (keyFields.length === 0) {
      throw new SinkError(
        "TABLE_INVALID",
        `${options.identifier.name} has no identifier fields; upsert needs the primary key as identifier fields (or use changelog mode)`,
      );
    }
    if (options.deleteMode === "equality") {
      const spec = defaultSpec(table.metadata);
      const keyIds = new Set(keyFields.map((f) => f.id));
      if (spec.fields.some((f) => !keyIds.has(f.sourceId))) {
        throw new SinkError(
          "FEATURE_UNSUPPORTED",
          `${options.identifier.name}: equality deletes need every partition source column in the primary key; use position deletes`,
        );
      }
    }
    const writer = new UpsertTableWriter(options, table, keyFields);
    if (writer.deleteMode === "position") await writer.rebuildIndex();
    return writer;
  }

  override async applySourceSchema(event: EventSchema, options: EvolveSchemaOptions = {}): Promise<void> {
    await super.applySourceSchema(event, options);
    // Key columns keep their field ids (a rename changes only the name the input rows use).
    const schema = this.schema;
    this.#keyFields = this.#keyFields.map((f) => schema.findField(f.id) ?? f);
  }

  /** Live keys in the committed index (position mode). */
  get indexedKeys(): number {
    return this.#index.size;
  }

  /** How the committed index was kept current: full rebuilds and incremental catch-ups over compactions. */
  readonly indexStats = { rebuilds: 0, catchUps: 0 };

  /**
   * Brings the committed index from its snapshot to `target` (an ancestor of the head, or the head).
   * When only rewrites ("replace": compaction, same rows in new files) happened in between, it drops the
   * replaced files' entries and reads the keys of the new files; anything else rebuilds from the head.
   */
  async #catchUpIndex(target: Snapshot | undefined): Promise<void> {
    if (this.#index.snapshotId === target?.snapshotId) return;
    const chain = ancestorsOf(this.table.metadata, target);
    const start = chain.findIndex((s) => s.snapshotId === this.#index.snapshotId);
    const between = start < 0 ? [] : chain.slice(0, start);
    const othersKeys = (s: Snapshot) =>
      this.#sharedWithSink !== undefined && s.summary[SINK_ID_PROPERTY] === this.#sharedWithSink;
    if (
      this.#index.snapshotId === undefined ||
      start < 0 ||
      between.some((s) => s.summary.operation !== "replace" && !othersKeys(s))
    ) {
      await this.rebuildIndex();
      return;
    }
    const changes = await changesIn(
      this.table,
      between.filter((s) => s.summary.operation === "replace"),
    );
    await this.#index.removeFiles(changes.removedPaths);
    for (const path of changes.removedPaths) this.#fileInfo.delete(path);
    const added = new Set(changes.addedDataFiles.map((f) => f.filePath));
    await this.#indexLiveKeys(added);
    this.#index.snapshotId = target?.snapshotId;
    this.indexStats.catchUps++;
  }

  async #indexLiveKeys(onlyDataFiles?: ReadonlySet<string>): Promise<void> {
    if (onlyDataFiles?.size === 0) return;
    await forEachLiveKeyBatch(
      this.table,
      this.#keyFields,
      async (batch) => {
        this.#fileInfo.set(batch.filePath, { spec: batch.spec, partition: batch.partition });
        await this.#index.setMany(
          batch.rows.map(({ key, pos }) => [
            encodeKey(this.#keyFields, key),
            { filePath: batch.filePath, pos },
          ]),
        );
      },
      onlyDataFiles,
    );
  }

  /**
   * Re-reads every live key of the table's current snapshot (after restart, or files rewritten).
   * `reload` loads the table first: a Kafka worker re-reading keys after a rebalance must see the
   * commits made since it last loaded it — the partitions' previous owner's rounds — because catching up
   * later skips its own sink's commits as other workers' keys.
   */
  async rebuildIndex(options: { reload?: boolean } = {}): Promise<void> {
    if (options.reload) this.table = await this.catalog.loadTable(this.identifier);
    this.indexStats.rebuilds++;
    await this.#index.clear();
    for (const path of [...this.#fileInfo.keys()]) {
      if (!this.#roundFiles.some((f) => f.filePath === path)) this.#fileInfo.delete(path);
    }
    await this.#indexLiveKeys();
    this.#index.snapshotId = this.headSnapshotId;
  }

  protected async accept(change: Change): Promise<void> {
    if (this.#prepared) {
      // More changes after prepareCommit: its delete files are stale.
      const stale = this.#prepared.deleteFiles.map((d) => d.file.filePath);
      this.#prepared = undefined;
      await this.table.io.deleteMany(stale).catch(() => {});
    }
    switch (change.op) {
      case "d":
        this.#delete(encodeKey(this.#keyFields, change.before ?? change.key));
        break;
      case "c":
      case "r":
      case "u": {
        if (!change.after) {
          throw new SinkError(
            "CHANGE_INVALID",
            `a '${change.op}' change at ${change.position} has no 'after' row`,
          );
        }
        const key = encodeKey(this.#keyFields, change.after);
        // Where TOAST-unchanged columns come from: this key's image, or, when the change moves the row
        // from another key (`before` holds the old key), the old key's image — the one before its delete
        // when the delete came first (capture sends a primary-key change as delete + create).
        let source = key;
        let previous = this.#buffer.get(key);
        if (change.before) {
          const oldKey = encodeKey(this.#keyFields, change.before);
          if (oldKey !== key) {
            const moved = this.#buffer.get(oldKey);
            if (
              change.unchangedColumns?.length &&
              this.#keyFields.every((f) => change.before?.[f.name] != null)
            ) {
              source = oldKey;
              previous = moved && moved.row === null ? moved.replaced : moved;
            }
            this.#delete(oldKey);
          }
        }
        const row: Row = { ...change.after };
        const entry: BufferedRow = { row };
        for (const name of change.unchangedColumns ?? []) {
          if (previous?.row && !previous.pending?.has(name)) row[name] = previous.row[name];
          else {
            entry.pending ??= new Set();
            entry.pending.add(name);
          }
        }
        if (entry.pending) {
          const from = (previous?.row ? previous.pendingFrom : undefined) ?? source;
          if (from !== key) entry.pendingFrom = from;
        }
        if (entry.pending && this.deleteMode === "equality") {
          throw new SinkError(
            "FEATURE_UNSUPPORTED",
            `${this.identifier.name}: unchanged TOAST columns (${[...entry.pending].join(", ")}) need the stored row; equality mode keeps no key index — use position mode or REPLICA IDENTITY FULL`,
          );
        }
        this.#buffer.set(key, entry);
        break;
      }
      case "t":
        await this.#truncate();
        break;
      default:
        throw new SinkError("CHANGE_INVALID", `unknown op '${String(change.op)}' at ${change.position}`);
    }
    if (this.#buffer.size >= this.bufferRows) await this.flush();
  }

  /** Buffers the deletion of `key`, keeping the image it replaces (see {@link BufferedRow.replaced}). */
  #delete(key: string): void {
    const previous = this.#buffer.get(key);
    const replaced = previous && previous.row === null ? previous.replaced : previous;
    this.#buffer.set(key, replaced ? { row: null, replaced } : { row: null });
  }

  /** Writes the buffered final images to data files of this round (bounded memory for big rounds). */
  async flush(): Promise<void> {
    if (this.#buffer.size === 0) return;
    const buffer = this.#buffer;
    this.#buffer = new Map();
    const previousInRound = await this.#roundIndex.getMany(buffer.keys());
    await this.#resolvePending(buffer, previousInRound);
    for (const location of previousInRound.values()) {
      if (location !== TOMBSTONE && location.filePath !== "") this.#roundDeletes.push(location);
    }
    // Group by partition: within one writeDataFiles call of one partition, a row's position is its order.
    const spec = this.spec;
    const groups = new Map<string, { values: PartitionValues; keys: string[]; rows: Row[] }>();
    const updates: [string, RowLocation][] = [];
    for (const [key, entry] of buffer) {
      if (entry.row === null) {
        updates.push([key, TOMBSTONE]);
        continue;
      }
      const values = isUnpartitioned(spec) ? [] : partitionKey(spec, this.schema, entry.row);
      const groupKey = JSON.stringify(values, (_, v) => (typeof v === "bigint" ? `${v}n` : v));
      let group = groups.get(groupKey);
      if (!group) {
        group = { values, keys: [], rows: [] };
        groups.set(groupKey, group);
      }
      group.keys.push(key);
      group.rows.push(entry.row);
    }
    for (const group of groups.values()) {
      const files = await this.writeRows(group.rows);
      let offset = 0;
      for (const file of files) {
        this.#roundFiles.push(file);
        this.#fileInfo.set(file.filePath, { spec, partition: group.values });
        if (files.length === 1) {
          for (let pos = 0; pos < file.recordCount; pos++) {
            updates.push([group.keys[pos]!, { filePath: file.filePath, pos }]);
          }
        } else {
          // Rolled over the target file size: which rows landed in which file is read back, not assumed.
          for (const { key, pos } of await fileKeys(
            this.table,
            this.schema,
            file.filePath,
            this.#keyFields,
          )) {
            updates.push([encodeKey(this.#keyFields, key), { filePath: file.filePath, pos }]);
          }
        }
        offset += file.recordCount;
      }
      if (offset !== group.rows.length) {
        throw new SinkError(
          "TABLE_INVALID",
          `wrote ${offset} rows of ${group.rows.length} for ${this.identifier.name}; row positions are unknown`,
        );
      }
    }
    await this.#roundIndex.setMany(updates);
  }

  /**
   * TRUNCATE: everything before it in the round is moot, and every committed row goes. The commit
   * deletes the committed rows by position (one row delta, so the position lands with it).
   */
  async #truncate(): Promise<void> {
    this.#buffer.clear();
    for await (const batch of this.#roundIndex.entries()) {
      for (const [, location] of batch) if (isRow(location)) this.#roundDeletes.push(location);
    }
    await this.#roundIndex.clear();
    if (this.deleteMode === "equality") {
      throw new SinkError(
        "FEATURE_UNSUPPORTED",
        `TRUNCATE of ${this.identifier.name} needs the key index; use position deletes for this table`,
      );
    }
    this.#truncated = true;
  }

  /**
   * Fills TOAST-unchanged columns from the row stored this round or in the table, under the entry's key
   * or, for a primary-key change, the old key (`pendingFrom`).
   */
  async #resolvePending(buffer: Map<string, BufferedRow>, inRound: Map<string, RowLocation>): Promise<void> {
    const pendingKeys = [...buffer].filter(([, e]) => e.pending).map(([k]) => k);
    if (pendingKeys.length === 0) return;
    const sourceOf = (key: string) => buffer.get(key)!.pendingFrom ?? key;
    const sources = [...new Set(pendingKeys.map(sourceOf))];
    // This buffer's keys were looked up by the caller; an old key of a move may not be in the buffer.
    const round = new Map(inRound);
    const elsewhere = sources.filter((k) => !buffer.has(k));
    if (elsewhere.length > 0) for (const [k, v] of await this.#roundIndex.getMany(elsewhere)) round.set(k, v);
    // After a TRUNCATE in this round the committed rows are gone; a key deleted earlier in the round
    // (a tombstone in the round index) has no image to take from.
    const committed = this.#truncated
      ? new Map<string, RowLocation>()
      : await this.#index.getMany(sources.filter((k) => round.get(k) === undefined));
    const locations = new Map<string, RowLocation>();
    for (const key of sources) {
      const inThisRound = round.get(key);
      const location = inThisRound !== undefined ? inThisRound : committed.get(key);
      if (isRow(location)) locations.set(key, location);
    }
    const stored = await readRowsAt(this.table, this.schema, [...locations.values()]);
    for (const key of pendingKeys) {
      const entry = buffer.get(key)!;
      const source = sourceOf(key);
      const location = locations.get(source);
      const old = location && stored.get(locationKey(location));
      if (!old) {
        const columns = [...entry.pending!].join(", ");
        throw new SinkError(
          "TOAST_ROW_MISSING",
          source === key
            ? `${this.identifier.name}: an update of key ${key} kept columns ${columns} unchanged (TOASTed values the source did not send), but no stored row has that key; set REPLICA IDENTITY FULL on the source table so every update carries the whole row`
            : `${this.identifier.name}: a primary-key change from ${source} to ${key} kept columns ${columns} unchanged (TOASTed values the source did not send), but no stored row has the old key ${source} to take them from; set REPLICA IDENTITY FULL on the source table so every update carries the whole row`,
        );
      }
      for (const name of entry.pending!) entry.row![name] = old[name];
      entry.pending = undefined;
      entry.pendingFrom = undefined;
    }
  }

  /** Flushes the buffer and writes the round's delete files; the change a commit would add. */
  async prepareCommit(options: { equalityFallback?: boolean } = {}): Promise<PreparedCommit> {
    if (this.#prepared) return this.#prepared;
    await this.flush();
    const head = await this.catalog.loadTable(this.identifier);
    this.table = head;
    if (this.deleteMode === "position") await this.#catchUpIndex(snapshotForRef(head.metadata));
    this.#prepared = await this.#deletesAgainst(options.equalityFallback ?? false);
    return this.#prepared;
  }

  /**
   * Kafka mode: the round's snapshot was committed by the coordinator (with other workers' files);
   * the key index takes the round's keys and the round is reset.
   */
  async completeExternal(table: LoadedTable, snapshotId: bigint): Promise<void> {
    const snapshot = snapshotById(table.metadata, snapshotId);
    if (!snapshot) {
      throw new SinkError(
        "TABLE_INVALID",
        `${this.identifier.name}: snapshot ${snapshotId} is not in the table`,
      );
    }
    await this.#committed(table, snapshot, undefined, 1);
  }

  /** Drops the round (buffer, files written for it): a rebalance hands its changes to another worker. */
  async discardRound(options: { deleteFiles?: boolean } = {}): Promise<void> {
    const files = [
      ...this.#roundFiles.map((f) => f.filePath),
      ...(this.#prepared?.deleteFiles ?? []).map((d) => d.file.filePath),
      ...(this.#prepared?.equalityFallback ?? []).map((d) => d.file.filePath),
    ];
    this.#buffer.clear();
    for (const path of this.#roundFiles.map((f) => f.filePath)) this.#fileInfo.delete(path);
    await this.#resetRound();
    if (options.deleteFiles ?? true) await this.table.io.deleteMany(files).catch(() => {});
  }

  async #deletesAgainst(equalityFallback = false): Promise<PreparedCommit> {
    const deleteFiles: { file: DataFile; specId: number }[] = [];
    const m = this.table.metadata;
    const base = {
      schema: this.schema,
      io: this.table.io,
      location: `${m.location}/data`,
      properties: m.properties,
    };
    // Deletes per target file's partition (spec id + values).
    const byPartition = new Map<string, PartitionGroup<PositionDelete>>();
    const addDelete = (target: RowLocation) => {
      this.#groupOf(byPartition, target.filePath).items.push(target);
    };
    for (const d of this.#roundDeletes) addDelete(d);
    const referenced = new Set<string>();
    const equalityRows: Row[] = [];
    const fallbackKeys: [string, RowLocation][] = [];
    if (this.#truncated) {
      for await (const batch of this.#index.entries()) {
        for (const [, location] of batch) {
          referenced.add(location.filePath);
          addDelete(location);
        }
      }
    }
    for await (const batch of this.#roundIndex.entries()) {
      if (this.#truncated) break;
      if (this.deleteMode === "equality") {
        for (const [key] of batch) {
          const parts = JSON.parse(key) as unknown[];
          const row: Row = {};
          this.#keyFields.forEach((f, i) => {
            row[f.name] = keyValue(f, parts[i]);
          });
          equalityRows.push(row);
        }
        continue;
      }
      const committed = await this.#index.getMany(batch.map(([key]) => key));
      for (const [key, location] of committed) {
        referenced.add(location.filePath);
        addDelete(location);
        if (equalityFallback) fallbackKeys.push([key, location]);
      }
    }
    deleteFiles.push(...(await this.#writePositionDeleteGroups(base, byPartition)));
    if (equalityRows.length > 0) {
      const files = await writeEqualityDeletes({
        ...base,
        spec: this.spec,
        equalityIds: this.#keyFields.map((f) => f.id),
        rows: equalityRows,
      });
      for (const file of files) deleteFiles.push({ file, specId: this.spec.specId });
    }
    const prepared: PreparedCommit = {
      dataFiles: [...this.#roundFiles],
      deleteFiles,
      referencedDataFiles: [...referenced],
    };
    if (equalityFallback && !this.#truncated && this.deleteMode === "position")
      prepared.equalityFallback = await this.#equalityFallback(base, fallbackKeys);
    return prepared;
  }

  /** The group of deletes for `filePath`'s spec + partition, created on first use. */
  #groupOf<T>(groups: Map<string, PartitionGroup<T>>, filePath: string): PartitionGroup<T> {
    const info = this.#fileInfo.get(filePath);
    if (!info) throw new SinkError("TABLE_INVALID", `no partition known for data file ${filePath}`);
    const key = `${info.spec.specId}:${JSON.stringify(info.partition, (_, v) => (typeof v === "bigint" ? `${v}n` : v))}`;
    let group = groups.get(key);
    if (!group) {
      group = { spec: info.spec, values: info.partition, items: [] };
      groups.set(key, group);
    }
    return group;
  }

  async #writePositionDeleteGroups(
    base: DeleteFileBase,
    groups: Map<string, PartitionGroup<PositionDelete>>,
  ): Promise<{ file: DataFile; specId: number }[]> {
    const out: { file: DataFile; specId: number }[] = [];
    for (const group of groups.values()) {
      const files = await writePositionDeletes({
        ...base,
        spec: group.spec,
        partition: isUnpartitioned(group.spec) ? undefined : group.values,
        deletes: group.items,
      });
      for (const file of files) out.push({ file, specId: group.spec.specId });
    }
    return out;
  }

  /** Equality deletes of `keys`, one group per target file's partition (see PreparedCommit). */
  async #equalityFallback(
    base: DeleteFileBase,
    keys: [string, RowLocation][],
  ): Promise<{ file: DataFile; specId: number }[]> {
    const groups = new Map<string, PartitionGroup<Row>>();
    for (const [key, location] of keys) {
      const group = this.#groupOf(groups, location.filePath);
      const parts = JSON.parse(key) as unknown[];
      const row: Row = {};
      this.#keyFields.forEach((f, i) => {
        row[f.name] = keyValue(f, parts[i]);
      });
      group.items.push(row);
    }
    const out: { file: DataFile; specId: number }[] = [];
    // Deletes of rows this round wrote and changed again point at this round's files, which compaction
    // cannot have touched: the fallback keeps them as position deletes, in files of their own.
    const ownGroups = new Map<string, PartitionGroup<PositionDelete>>();
    for (const target of this.#roundDeletes) this.#groupOf(ownGroups, target.filePath).items.push(target);
    out.push(...(await this.#writePositionDeleteGroups(base, ownGroups)));
    for (const group of groups.values()) {
      const files = await writeEqualityDeletes({
        ...base,
        spec: group.spec,
        equalityIds: this.#keyFields.map((f) => f.id),
        rows: group.items,
        partition: isUnpartitioned(group.spec) ? undefined : group.values,
      });
      for (const file of files) out.push({ file, specId: group.spec.specId });
    }
    return out;
  }

  /**
   * The round as one row delta with `floe.source.position` = `sourcePosition` (by default the last
   * change's), ready to commit alone ({@link commit}) or with other tables' rounds in one catalog
   * transaction ({@link commitStaged}). Undefined when there is nothing to commit (the round is reset).
   */
  async stage(options: StageOptions = {}): Promise<StagedCommit | undefined> {
    const sourcePosition = this.commitPosition(options.sourcePosition);
    const prepared = await this.prepareCommit();
    const positionAdvances =
      sourcePosition !== undefined &&
      (this.committedPosition === undefined || comparePositions(sourcePosition, this.committedPosition) > 0);
    if (prepared.dataFiles.length === 0 && prepared.deleteFiles.length === 0 && !positionAdvances) {
      await this.#resetRound();
      return undefined;
    }
    const recompute = async (reloaded: LoadedTable) => {
      this.table = reloaded;
      await this.#catchUpIndex(snapshotForRef(reloaded.metadata));
      return this.#deletesAgainst();
    };
    return this.stageRound(
      prepared,
      sourcePosition,
      options.summary ?? {},
      recompute,
      (table, snapshot, attempts) => this.#committed(table, snapshot, sourcePosition, attempts),
    );
  }

  /** Commits the round in one row delta (see {@link stage}). Acknowledge upstream only after this resolves. */
  async commit(options: StageOptions = {}): Promise<CommitResult> {
    const staged = await this.stage(options);
    if (!staged) {
      return {
        table: this.table,
        snapshotId: this.headSnapshotId,
        sourcePosition: this.committedPosition,
        attempts: 0,
      };
    }
    return this.commitStagedRound(staged);
  }

  /** After the round's snapshot landed: the committed index takes the round's keys. */
  async #committed(
    table: LoadedTable,
    snapshot: Snapshot,
    sourcePosition: string | undefined,
    attempts: number,
  ): Promise<CommitResult> {
    this.table = table;
    if (this.deleteMode === "position") {
      // Others' commits between the index's snapshot and ours first (compaction that did not touch
      // this round's targets); a full rebuild reads our commit too, and then the round is in already.
      if (snapshot.parentSnapshotId !== this.#index.snapshotId) {
        const parent =
          snapshot.parentSnapshotId === undefined
            ? undefined
            : snapshotById(table.metadata, snapshot.parentSnapshotId);
        await this.#catchUpIndex(parent);
      }
      if (this.#index.snapshotId !== snapshot.snapshotId) {
        if (this.#truncated) await this.#index.clear();
        for await (const batch of this.#roundIndex.entries()) {
          await this.#index.setMany(
            batch.map(([key, location]) => [key, isRow(location) ? location : undefined]),
          );
        }
        this.#index.snapshotId = snapshot.snapshotId;
      }
    }
    if (sourcePosition !== undefined) this.committedPosition = sourcePosition;
    await this.#resetRound();
    return { table, snapshotId: snapshot.snapshotId, sourcePosition, attempts };
  }

  async #resetRound(): Promise<void> {
    this.#truncated = false;
    this.#roundFiles = [];
    this.#roundDeletes = [];
    this.#prepared = undefined;
    this.roundPosition = undefined;
    await this.#roundIndex.clear();
  }

  async close(): Promise<void> {
    await this.#index.close();
    await this.#roundIndex.close();
  }
}

function isRow(location: RowLocation | undefined): location is RowLocation {
  return location !== undefined && location.filePath !== "";
}

/** A key part back from its canonical form (key-index.ts `keyPart`) in the writer's representation. */
function keyValue(field: NestedField, part: unknown): unknown {
  if (part === null) return null;
  switch (field.type.kind) {
    case "int":
    case "date":
      return Number(part);
    case "long":
    case "time":
    case "timestamp":
    case "timestamptz":
    case "timestamp_ns":
    case "timestamptz_ns":
      return BigInt(part as string);
    case "binary":
    case "fixed":
      return new Uint8Array(Buffer.from(part as string, "hex"));
    default:
      return part;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Changelog.

export class ChangelogTableWriter extends TableWriterBase {
  #rows: Row[] = [];
  #files: DataFile[] = [];

  static async open(options: TableWriterOptions): Promise<ChangelogTableWriter> {
    const table = await options.catalog.loadTable(options.identifier);
    const names = new Set(currentSchema(table.metadata).fields.map((f) => f.name));
    for (const name of [CHANGELOG_OP_COLUMN, CHANGELOG_POSITION_COLUMN, CHANGELOG_COMMIT_TIME_COLUMN]) {
      if (!names.has(name)) {
        throw new SinkError(
          "TABLE_INVALID",
          `${options.identifier.name} has no '${name}' column; create changelog tables with changelogSchema()`,
        );
      }
    }
    return new ChangelogTableWriter(options, table);
  }

  /**
   * Appends the change: the new row for c/u/r, the old row (or just the key) for d, the key for t.
   * TOAST-unchanged columns are null: a changelog records what the source sent.
   */
  protected async accept(change: Change): Promise<void> {
    const image = change.op === "d" || change.op === "t" ? (change.before ?? change.key) : change.after;
    if (!image)
      throw new SinkError("CHANGE_INVALID", `a '${change.op}' change at ${change.position} has no row`);
    const row: Row = { ...image };
    for (const name of change.unchangedColumns ?? []) row[name] = null;
    row[CHANGELOG_OP_COLUMN] = change.op;
    row[CHANGELOG_POSITION_COLUMN] = change.position;
    row[CHANGELOG_COMMIT_TIME_COLUMN] = BigInt(change.commitTimeMs) * 1000n;
    this.#rows.push(row);
    if (this.#rows.length >= this.bufferRows) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#rows.length === 0) return;
    const rows = this.#rows;
    this.#rows = [];
    this.#files.push(...(await this.writeRows(rows)));
  }

  async prepareCommit(_options: { equalityFallback?: boolean } = {}): Promise<PreparedCommit> {
    await this.flush();
    return { dataFiles: [...this.#files], deleteFiles: [], referencedDataFiles: [] };
  }

  /** Kafka mode: the coordinator committed the round's files. */
  async completeExternal(table: LoadedTable, _snapshotId: bigint): Promise<void> {
    this.table = table;
    this.#files = [];
    this.roundPosition = undefined;
  }

  /** Drops the round's rows and files (a rebalance hands its changes to another worker). */
  async discardRound(options: { deleteFiles?: boolean } = {}): Promise<void> {
    const files = this.#files.map((f) => f.filePath);
    this.#rows = [];
    this.#files = [];
    this.roundPosition = undefined;
    if (options.deleteFiles ?? true) await this.table.io.deleteMany(files).catch(() => {});
  }

  /** The round's appended files as a commit to land (see UpsertTableWriter.stage). */
  async stage(options: StageOptions = {}): Promise<StagedCommit | undefined> {
    const sourcePosition = this.commitPosition(options.sourcePosition);
    const prepared = await this.prepareCommit();
    const positionAdvances =
      sourcePosition !== undefined &&
      (this.committedPosition === undefined || comparePositions(sourcePosition, this.committedPosition) > 0);
    if (prepared.dataFiles.length === 0 && !positionAdvances) {
      this.roundPosition = undefined;
      return undefined;
    }
    this.table = await this.catalog.loadTable(this.identifier);
    return this.stageRound(
      prepared,
      sourcePosition,
      options.summary ?? {},
      async () => prepared,
      async (table, snapshot, attempts) => {
        this.table = table;
        if (sourcePosition !== undefined) this.committedPosition = sourcePosition;
        this.#files = [];
        this.roundPosition = undefined;
        return { table, snapshotId: snapshot.snapshotId, sourcePosition, attempts };
      },
    );
  }

  async commit(options: StageOptions = {}): Promise<CommitResult> {
    const staged = await this.stage(options);
    if (!staged) {
      return {
        table: this.table,
        snapshotId: this.headSnapshotId,
        sourcePosition: this.committedPosition,
        attempts: 0,
      };
    }
    return this.commitStagedRound(staged);
  }

  async close(): Promise<void> {}
}
