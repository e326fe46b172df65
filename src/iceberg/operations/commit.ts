/**
 * Optimistic concurrency for every table operation: prepare a change against the table as loaded,
 * commit it as requirements + updates, and on COMMIT_FAILED reload, re-validate (the operation's own
 * check against what other writers committed meanwhile) and prepare again, up to
 * `commit.retry.num-retries` times with exponential backoff. Files written by a lost attempt are
 * deleted; after COMMIT_STATE_UNKNOWN nothing is deleted, since they may be live.
 */
import type { Catalog, LoadedTable, TableIdentifier } from "../../catalog/catalog.ts";
import { CatalogError } from "../../catalog/errors.ts";
import type { TableRequirement, TableUpdate } from "../table-update.ts";

export interface PreparedChange<T = void> {
  requirements: TableRequirement[];
  updates: TableUpdate[];
  /** Files written for this attempt (manifests, manifest lists); unreferenced if the attempt loses. */
  writtenFiles: string[];
  result: T;
}

export interface CommitOutcome<T> {
  table: LoadedTable;
  result: T;
  attempts: number;
}

export interface RetryOptions {
  retries?: number;
  minWaitMs?: number;
  maxWaitMs?: number;
}

export function retryOptions(table: LoadedTable, options: RetryOptions) {
  const p = table.metadata.properties;
  return {
    retries: options.retries ?? Number(p["commit.retry.num-retries"] ?? 4),
    minWaitMs: options.minWaitMs ?? Number(p["commit.retry.min-wait-ms"] ?? 100),
    maxWaitMs: options.maxWaitMs ?? Number(p["commit.retry.max-wait-ms"] ?? 60_000),
  };
}

/**
 * Commits `prepare(table)` to `identifier`. `prepare` is called again with the reloaded table after a
 * conflict; it must re-validate and throw (e.g. IcebergError VALIDATION_FAILED) when the change no longer
 * makes sense.
 */
export async function commitWithRetry<T>(
  catalog: Catalog,
  start: LoadedTable,
  prepare: (table: LoadedTable, attempt: number) => Promise<PreparedChange<T>>,
  options: RetryOptions = {},
): Promise<CommitOutcome<T>> {
  const { retries, minWaitMs, maxWaitMs } = retryOptions(start, options);
  const identifier: TableIdentifier = start.identifier;
  let table = start;
  for (let attempt = 1; ; attempt++) {
    const prepared = await prepare(table, attempt);
    try {
      const committed = await catalog.commitTable({
        identifier,
        requirements: prepared.requirements,
        updates: prepared.updates,
      });
      return { table: committed, result: prepared.result, attempts: attempt };
    } catch (error) {
      if (error instanceof CatalogError && error.code === "COMMIT_STATE_UNKNOWN") throw error;
      await table.io.deleteMany(prepared.writtenFiles).catch(() => {});
      if (!(error instanceof CatalogError && error.code === "COMMIT_FAILED") || attempt > retries)
        throw error;
      const wait = Math.min(maxWaitMs, minWaitMs * 2 ** (attempt - 1));
      await new Promise((r) => setTimeout(r, wait * (0.5 + Math.random() / 2)));
      table = await catalog.loadTable(identifier);
    }
  }
}
