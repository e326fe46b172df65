/**
 * One maintenance pass over one table: runs the enabled jobs — compaction, then snapshot expiry (which
 * can then drop the files compaction replaced), then unreferenced-file removal — and returns each job's
 * status and metrics plus the unreferenced-file state to persist. A job's failure is recorded in its
 * status and does not stop the next job. No scheduling and no HTTP: `floe serve` and `floe maintain`
 * call this.
 */
import type { Catalog, LoadedTable, TableIdentifier } from "../catalog/catalog.ts";
import { describeError } from "../errors.ts";
import {
  type CompactionOptions,
  type CompactionResult,
  compactTable,
  targetFileSizeBytesOf,
} from "./compaction.ts";
import type { EffectiveMaintenanceConfiguration, MaintenanceType } from "./config.ts";
import { expireTableSnapshots, type SnapshotExpiryResult } from "./expiry.ts";
import {
  disabled,
  failed,
  type MaintenanceJobMetrics,
  type MaintenanceJobStatus,
  notYetRun,
  succeeded,
  type TableMaintenanceJobStatus,
} from "./job-status.ts";
import {
  emptyUnreferencedFileState,
  removeUnreferencedFiles,
  type UnreferencedFileRemovalResult,
  type UnreferencedFileState,
} from "./unreferenced-files.ts";

export interface MaintainTableOptions {
  catalog: Catalog;
  identifier: TableIdentifier;
  configuration: EffectiveMaintenanceConfiguration;
  /** The statuses of the previous pass (kept for disabled jobs); all Not_Yet_Run by default. */
  previousStatus?: TableMaintenanceJobStatus;
  unreferencedFileState?: UnreferencedFileState;
  nowMs?: () => number;
  /** Planner thresholds beyond the S3 Tables settings (tests, benchmarks). */
  compaction?: Omit<CompactionOptions, "targetFileSizeBytes" | "strategy">;
  /** Run only these types (e.g. a `floe maintain --only` flag); all enabled types by default. */
  only?: readonly MaintenanceType[];
}

export interface MaintainTableResult {
  status: TableMaintenanceJobStatus;
  unreferencedFileState: UnreferencedFileState;
  compaction?: CompactionResult;
  expiry?: SnapshotExpiryResult;
  unreferencedFiles?: UnreferencedFileRemovalResult;
  table: LoadedTable;
}

async function runJob<T>(
  nowMs: () => number,
  job: () => Promise<T>,
  metricsOf: (result: T) => Omit<MaintenanceJobMetrics, "durationMs">,
): Promise<{ status: MaintenanceJobStatus; result?: T }> {
  const start = performance.now();
  try {
    const result = await job();
    const metrics = { durationMs: Math.round(performance.now() - start), ...metricsOf(result) };
    return { status: succeeded(nowMs(), metrics), result };
  } catch (error) {
    return {
      status: failed(nowMs(), describeError(error), { durationMs: Math.round(performance.now() - start) }),
    };
  }
}

/** Runs the enabled maintenance jobs on one table. */
export async function maintainTable(options: MaintainTableOptions): Promise<MaintainTableResult> {
  const { catalog, identifier, configuration } = options;
  const nowMs = options.nowMs ?? Date.now;
  const previous = options.previousStatus ?? notYetRun();
  const status: TableMaintenanceJobStatus = { ...previous };
  const wanted = (type: MaintenanceType) =>
    configuration[type].status === "enabled" && (options.only === undefined || options.only.includes(type));
  const out: MaintainTableResult = {
    status,
    unreferencedFileState: options.unreferencedFileState ?? emptyUnreferencedFileState(),
    table: await catalog.loadTable(identifier),
  };

  if (configuration.icebergCompaction.status === "disabled")
    status.icebergCompaction = disabled(previous.icebergCompaction);
  else if (wanted("icebergCompaction")) {
    const settings = configuration.icebergCompaction;
    const run = await runJob(
      nowMs,
      () =>
        compactTable(catalog, out.table, {
          ...options.compaction,
          targetFileSizeBytes: targetFileSizeBytesOf(settings.targetFileSizeMB),
          strategy: settings.strategy,
        }),
      (r) => ({
        rewrittenDataFiles: r.rewrittenDataFiles,
        rewrittenDeleteFiles: r.rewrittenDeleteFiles,
        addedDataFiles: r.addedDataFiles,
        rewrittenBytes: r.rewrittenBytes,
        addedBytes: r.addedBytes,
        fileGroups: r.fileGroups,
        retries: r.retries,
      }),
    );
    status.icebergCompaction = run.status;
    if (run.result) {
      out.compaction = run.result;
      out.table = run.result.table;
    }
  }

  if (configuration.icebergSnapshotManagement.status === "disabled")
    status.icebergSnapshotManagement = disabled(previous.icebergSnapshotManagement);
  else if (wanted("icebergSnapshotManagement")) {
    const settings = configuration.icebergSnapshotManagement;
    const run = await runJob(
      nowMs,
      async () =>
        expireTableSnapshots(catalog, await catalog.loadTable(identifier), {
          minSnapshotsToKeep: settings.minSnapshotsToKeep,
          maxSnapshotAgeHours: settings.maxSnapshotAgeHours,
          nowMs,
        }),
      (r) => ({
        expiredSnapshots: r.expiredSnapshotIds.length,
        deletedFiles: r.deletedDataFiles + r.deletedDeleteFiles + r.deletedManifests + r.deletedManifestLists,
      }),
    );
    status.icebergSnapshotManagement = run.status;
    if (run.result) {
      out.expiry = run.result;
      out.table = run.result.table;
    }
  }

  if (configuration.icebergUnreferencedFileRemoval.status === "disabled")
    status.icebergUnreferencedFileRemoval = disabled(previous.icebergUnreferencedFileRemoval);
  else if (wanted("icebergUnreferencedFileRemoval")) {
    const settings = configuration.icebergUnreferencedFileRemoval;
    const run = await runJob(
      nowMs,
      async () =>
        removeUnreferencedFiles(catalog, await catalog.loadTable(identifier), {
          unreferencedDays: settings.unreferencedDays,
          nonCurrentDays: settings.nonCurrentDays,
          state: out.unreferencedFileState,
          nowMs,
        }),
      (r) => ({
        deletedFiles: r.deletedFiles.length,
        markedFiles: r.markedFiles.length,
        pendingFiles: r.pendingFiles,
      }),
    );
    status.icebergUnreferencedFileRemoval = run.status;
    if (run.result) {
      out.unreferencedFiles = run.result;
      out.unreferencedFileState = run.result.state;
    }
  }
  return out;
}
