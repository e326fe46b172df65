/**
 * Snapshot expiry (S3 Tables `icebergSnapshotManagement`): keeps at least `minSnapshotsToKeep` snapshots
 * of every branch and every snapshot younger than `maxSnapshotAgeHours`, and expires the rest through
 * ExpireSnapshots (which also deletes the files only expired snapshots reached). A branch's own
 * `min-snapshots-to-keep` / `max-snapshot-age-ms` win over the configuration; branch heads and tagged
 * snapshots are never expired (a tag past its own max-ref-age-ms is dropped with its snapshot, as
 * ExpireSnapshots does). Snapshots no branch or tag reaches any more are expired, as in the reference
 * implementation: nothing can read them by ref.
 *
 * The set to expire is computed here against the loaded metadata and handed to ExpireSnapshots as
 * explicit ids (with no age cut of its own); on a concurrent commit the table is reloaded and the set
 * recomputed, so a ref that moved meanwhile is always honoured.
 */
import type { Catalog, LoadedTable } from "../catalog/catalog.ts";
import { CatalogError } from "../catalog/errors.ts";
import { ExpireSnapshots, type ExpireSnapshotsResult } from "../iceberg/operations/expire-snapshots.ts";
import type { Snapshot } from "../iceberg/snapshot.ts";
import { ancestorsOf, snapshotById, type TableMetadata } from "../iceberg/table-metadata.ts";

const HOUR_MS = 60 * 60 * 1000;

export interface SnapshotExpiryOptions {
  minSnapshotsToKeep: number;
  maxSnapshotAgeHours: number;
  /** The clock (ms since the epoch); Date.now by default. */
  nowMs?: () => number;
  /** Commit attempts when other writers commit meanwhile; 4 by default. */
  attempts?: number;
}

export interface SnapshotExpiryResult extends ExpireSnapshotsResult {
  table: LoadedTable;
  attempts: number;
}

/** The snapshots the configuration lets go, against `metadata` at time `nowMs`. */
export function snapshotsToExpire(
  metadata: TableMetadata,
  options: Pick<SnapshotExpiryOptions, "minSnapshotsToKeep" | "maxSnapshotAgeHours">,
  nowMs: number,
): Snapshot[] {
  const defaultMaxAgeMs = options.maxSnapshotAgeHours * HOUR_MS;
  const retained = new Set<bigint>();
  for (const ref of Object.values(metadata.refs)) {
    const head = snapshotById(metadata, ref.snapshotId);
    if (!head) continue;
    retained.add(head.snapshotId);
    if (ref.type === "tag") continue;
    const minKeep = Math.max(1, ref.minSnapshotsToKeep ?? options.minSnapshotsToKeep);
    const cutoff = nowMs - (ref.maxSnapshotAgeMs ?? defaultMaxAgeMs);
    ancestorsOf(metadata, head).forEach((snapshot, index) => {
      if (index < minKeep || snapshot.timestampMs >= cutoff) retained.add(snapshot.snapshotId);
    });
  }
  return metadata.snapshots.filter((s) => !retained.has(s.snapshotId));
}

/** Expires what the configuration lets go and deletes the files only those snapshots referenced. */
export async function expireTableSnapshots(
  catalog: Catalog,
  table: LoadedTable,
  options: SnapshotExpiryOptions,
): Promise<SnapshotExpiryResult> {
  const nowMs = options.nowMs ?? Date.now;
  const attempts = options.attempts ?? 4;
  let current = table;
  for (let attempt = 1; ; attempt++) {
    const expire = snapshotsToExpire(current.metadata, options, nowMs());
    const empty: SnapshotExpiryResult = {
      expiredSnapshotIds: [],
      removedRefs: [],
      deletedManifestLists: 0,
      deletedManifests: 0,
      deletedDataFiles: 0,
      deletedDeleteFiles: 0,
      table: current,
      attempts: attempt,
    };
    if (expire.length === 0) return empty;
    // expireOlderThan(0): ExpireSnapshots keeps every branch ancestor itself; only the explicit ids go.
    const operation = new ExpireSnapshots(catalog, current).withClock(nowMs).expireOlderThan(0);
    for (const snapshot of expire) operation.expireSnapshotId(snapshot.snapshotId);
    try {
      const result = await operation.commit({ retries: 0 });
      return { ...result, table: await catalog.loadTable(table.identifier), attempts: attempt };
    } catch (error) {
      if (!(error instanceof CatalogError && error.code === "COMMIT_FAILED") || attempt >= attempts)
        throw error;
      current = await catalog.loadTable(table.identifier);
    }
  }
}
