/**
 * Maintenance job status per table and type, as GetTableMaintenanceJobStatus reports it
 * (`Not_Yet_Run | Successful | Failed | Disabled`, last run time, failure message), plus Floe's metrics
 * of the last run. The caller (the server's store) persists it; this module only computes it.
 */
import type { MaintenanceType } from "./config.ts";

export type MaintenanceJobState = "Not_Yet_Run" | "Successful" | "Failed" | "Disabled";

/** What a job did: every field is optional, a job fills what applies to it. */
export interface MaintenanceJobMetrics {
  durationMs: number;
  /** Compaction: data and delete files the rewrite removed, data files it added, bytes read and written. */
  rewrittenDataFiles?: number;
  rewrittenDeleteFiles?: number;
  addedDataFiles?: number;
  rewrittenBytes?: number;
  addedBytes?: number;
  /** Compaction: file groups rewritten, and commit attempts after a concurrent conflict. */
  fileGroups?: number;
  retries?: number;
  /** Expiry. */
  expiredSnapshots?: number;
  /** Expiry and unreferenced-file removal: files deleted. */
  deletedFiles?: number;
  /** Unreferenced-file removal: files newly marked non-current, and marked files still waiting. */
  markedFiles?: number;
  pendingFiles?: number;
}

export interface MaintenanceJobStatus {
  status: MaintenanceJobState;
  /** ISO 8601 time the last run ended; absent before the first run. */
  lastRunTimestamp?: string;
  failureMessage?: string;
  metrics?: MaintenanceJobMetrics;
}

export type TableMaintenanceJobStatus = Record<MaintenanceType, MaintenanceJobStatus>;

export function notYetRun(): TableMaintenanceJobStatus {
  return {
    icebergCompaction: { status: "Not_Yet_Run" },
    icebergSnapshotManagement: { status: "Not_Yet_Run" },
    icebergUnreferencedFileRemoval: { status: "Not_Yet_Run" },
  };
}

export function succeeded(nowMs: number, metrics: MaintenanceJobMetrics): MaintenanceJobStatus {
  return { status: "Successful", lastRunTimestamp: new Date(nowMs).toISOString(), metrics };
}

export function failed(
  nowMs: number,
  message: string,
  metrics?: MaintenanceJobMetrics,
): MaintenanceJobStatus {
  const status: MaintenanceJobStatus = {
    status: "Failed",
    lastRunTimestamp: new Date(nowMs).toISOString(),
    failureMessage: message,
  };
  if (metrics) status.metrics = metrics;
  return status;
}

/** A disabled job keeps the time of its last run, if any. */
export function disabled(previous?: MaintenanceJobStatus): MaintenanceJobStatus {
  const status: MaintenanceJobStatus = { status: "Disabled" };
  if (previous?.lastRunTimestamp) status.lastRunTimestamp = previous.lastRunTimestamp;
  return status;
}
