/**
 * What every snapshot-producing operation shares: the branch it writes, summary properties, the
 * snapshot it started from (for validation on retry), and `commit()` through `commitWithRetry`.
 * Subclasses say which files they add and remove and what must still hold after a conflict.
 */
import type { Catalog, LoadedTable } from "../../catalog/catalog.ts";
import type { DataFile } from "../data-file.ts";
import { MAIN_BRANCH, type Snapshot, type SnapshotOperation } from "../snapshot.ts";
import { type AddedFile, produceSnapshot } from "../snapshot-producer.ts";
import { snapshotForRef } from "../table-metadata.ts";
import { type CommitOutcome, commitWithRetry, type PreparedChange, type RetryOptions } from "./commit.ts";

export interface DerivedChanges {
  added: AddedFile[];
  removedPaths: string[];
  writtenFiles: string[];
}

export abstract class SnapshotUpdate<Self extends SnapshotUpdate<Self>> {
  protected readonly catalog: Catalog;
  protected readonly table: LoadedTable;
  protected branch = MAIN_BRANCH;
  protected readonly summaryProperties: Record<string, string> = {};
  protected readonly added: AddedFile[] = [];
  protected readonly removedPaths = new Set<string>();
  /** The branch head the caller's view of the table was based on. */
  protected startSnapshotId: bigint | undefined;

  constructor(catalog: Catalog, table: LoadedTable) {
    this.catalog = catalog;
    this.table = table;
    this.startSnapshotId = snapshotForRef(table.metadata, MAIN_BRANCH)?.snapshotId;
  }

  protected abstract operation(): SnapshotOperation;

  /** Throws when the change no longer holds against `table` (reloaded after a conflict). */
  protected async validate(_table: LoadedTable): Promise<void> {}

  protected mergesManifests(): boolean {
    return true;
  }

  /**
   * Changes computed from the table itself at each attempt (e.g. files a row filter rewrites); files
   * it writes are listed in `writtenFiles` so a lost attempt deletes them.
   */
  protected async deriveChanges(_table: LoadedTable): Promise<DerivedChanges> {
    return { added: [], removedPaths: [], writtenFiles: [] };
  }

  private self(): Self {
    return this as unknown as Self;
  }

  /** Commit to another branch than main (it must exist or be created by this commit). */
  toBranch(branch: string): Self {
    this.startSnapshotId = snapshotForRef(this.table.metadata, branch)?.snapshotId;
    this.branch = branch;
    return this.self();
  }

  /** A property recorded in the snapshot summary, e.g. the source position this commit covers. */
  set(key: string, value: string): Self {
    this.summaryProperties[key] = value;
    return this.self();
  }

  protected stageFile(file: DataFile, specId?: number, dataSequenceNumber?: bigint): void {
    const entry: AddedFile = { file, specId: specId ?? this.table.metadata.defaultSpecId };
    if (dataSequenceNumber !== undefined) entry.dataSequenceNumber = dataSequenceNumber;
    this.added.push(entry);
  }

  /** Writes the snapshot's files against `table` and returns the change to commit (no retry). */
  async prepare(table: LoadedTable = this.table): Promise<PreparedChange<Snapshot>> {
    if (table !== this.table) await this.validate(table);
    const derived = await this.deriveChanges(table);
    try {
      const produced = await produceSnapshot(table, {
        operation: this.operation(),
        added: [...this.added, ...derived.added],
        removedPaths: new Set([...this.removedPaths, ...derived.removedPaths]),
        summaryProperties: this.summaryProperties,
        branch: this.branch,
        mergeManifests: this.mergesManifests(),
      });
      return {
        requirements: produced.requirements,
        updates: produced.updates,
        writtenFiles: [...produced.writtenFiles, ...derived.writtenFiles],
        result: produced.snapshot,
      };
    } catch (error) {
      await table.io.deleteMany(derived.writtenFiles).catch(() => {});
      throw error;
    }
  }

  async commit(options: RetryOptions = {}): Promise<CommitOutcome<Snapshot>> {
    return commitWithRetry(this.catalog, this.table, (table) => this.prepare(table), options);
  }
}
