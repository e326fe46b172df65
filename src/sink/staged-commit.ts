/**
 * Landing commit rounds: one table's round through `catalog.commitTable`, several tables' rounds as
 * one `catalog.commitTransaction` — all tables or none, so a reader never sees one table of a source
 * transaction ahead of another. A {@link StagedCommit} is a writer's round ready to land: `prepare`
 * writes its snapshot (manifests) against a given table version and returns requirements + updates;
 * `complete` does the writer's bookkeeping once the commit is in.
 *
 * Conflicts: COMMIT_FAILED (another writer moved a table first, e.g. compaction) reloads every table
 * and prepares again, with backoff, up to the tables' `commit.retry.num-retries`; the files of a lost
 * attempt are deleted. COMMIT_STATE_UNKNOWN is thrown as is: nothing is deleted, the commit may be in.
 */
import type { Catalog, LoadedTable, TableIdentifier } from "../catalog/catalog.ts";
import { CatalogError } from "../catalog/errors.ts";
import { commitWithRetry, type PreparedChange, retryOptions } from "../iceberg/operations/commit.ts";
import type { Snapshot } from "../iceberg/snapshot.ts";
import { SinkError } from "./errors.ts";

export interface CommitResult {
  table: LoadedTable;
  /** Undefined when the round had nothing to commit. */
  snapshotId: bigint | undefined;
  sourcePosition: string | undefined;
  attempts: number;
}

export interface StagedCommit {
  identifier: TableIdentifier;
  /** The table version the round was prepared against: the first attempt's base. */
  table: LoadedTable;
  /** The round's snapshot against `table` (re-validated when it is not the base). */
  prepare(table: LoadedTable): Promise<PreparedChange<Snapshot>>;
  /** Runs once the commit landed: `table` holds `snapshot` (it may be newer). */
  complete(table: LoadedTable, snapshot: Snapshot): Promise<CommitResult>;
}

/** Lands every staged round atomically; results in the same order. */
export async function commitStaged(
  catalog: Catalog,
  staged: readonly StagedCommit[],
): Promise<CommitResult[]> {
  if (staged.length === 0) return [];
  if (staged.length === 1) {
    const only = staged[0]!;
    const outcome = await commitWithRetry(catalog, only.table, (table) => only.prepare(table));
    return [await only.complete(outcome.table, outcome.result)];
  }
  const names = new Set(staged.map((s) => `${s.identifier.namespace.join(".")}.${s.identifier.name}`));
  if (names.size !== staged.length) {
    throw new SinkError("CHANGE_INVALID", `one commit round staged a table twice: ${[...names].join(", ")}`);
  }
  const { retries, minWaitMs, maxWaitMs } = retryOptions(staged[0]!.table, {});
  let tables = staged.map((s) => s.table);
  for (let attempt = 1; ; attempt++) {
    const prepared: PreparedChange<Snapshot>[] = [];
    try {
      for (const [i, s] of staged.entries()) prepared.push(await s.prepare(tables[i]!));
    } catch (error) {
      await deleteWritten(tables, prepared);
      throw error;
    }
    let committed: LoadedTable[];
    try {
      committed = await catalog.commitTransaction(
        staged.map((s, i) => ({
          identifier: s.identifier,
          requirements: prepared[i]!.requirements,
          updates: prepared[i]!.updates,
        })),
      );
    } catch (error) {
      if (error instanceof CatalogError && error.code === "COMMIT_STATE_UNKNOWN") throw error;
      await deleteWritten(tables, prepared);
      if (!(error instanceof CatalogError && error.code === "COMMIT_FAILED") || attempt > retries)
        throw error;
      const wait = Math.min(maxWaitMs, minWaitMs * 2 ** (attempt - 1));
      await new Promise((resolve) => setTimeout(resolve, wait * (0.5 + Math.random() / 2)));
      tables = await Promise.all(staged.map((s) => catalog.loadTable(s.identifier)));
      continue;
    }
    const results: CommitResult[] = [];
    for (const [i, s] of staged.entries()) results.push(await s.complete(committed[i]!, prepared[i]!.result));
    return results;
  }
}

async function deleteWritten(tables: LoadedTable[], prepared: PreparedChange<Snapshot>[]): Promise<void> {
  await Promise.all(prepared.map((p, i) => tables[i]!.io.deleteMany(p.writtenFiles).catch(() => {})));
}
