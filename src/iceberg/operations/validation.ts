/**
 * What other writers committed on a branch since an operation started: the snapshots, and the files
 * they removed or added. Operations use it on retry to decide whether their change still holds (a row
 * delta whose target files were compacted away does not; an append always does).
 */
import type { LoadedTable } from "../../catalog/catalog.ts";
import { type DataFile, DataFileContent, ManifestEntryStatus } from "../data-file.ts";
import { positionDeleteFilePathBounds } from "../delete-bounds.ts";
import { IcebergError } from "../errors.ts";
import type { Snapshot } from "../snapshot.ts";
import { readManifestEntries, readManifestList } from "../snapshot-producer.ts";
import { snapshotById, snapshotForRef } from "../table-metadata.ts";

/** Snapshots on `branch` after `startSnapshotId` (exclusive), newest first. */
export function snapshotsSince(
  table: LoadedTable,
  startSnapshotId: bigint | undefined,
  branch: string,
): Snapshot[] {
  const since: Snapshot[] = [];
  let current = snapshotForRef(table.metadata, branch);
  while (current && current.snapshotId !== startSnapshotId) {
    since.push(current);
    if (current.parentSnapshotId === undefined) break;
    current = snapshotById(table.metadata, current.parentSnapshotId);
  }
  if (startSnapshotId !== undefined && current?.snapshotId !== startSnapshotId) {
    throw new IcebergError(
      "VALIDATION_FAILED",
      `snapshot ${startSnapshotId} is no longer an ancestor of branch ${branch} of ${table.metadata.location}; the operation must start over`,
    );
  }
  return since;
}

export interface ConcurrentChanges {
  removedPaths: Set<string>;
  addedDataFiles: DataFile[];
  addedDeleteFiles: DataFile[];
}

/** Files the given snapshots added or removed, from the manifests those snapshots wrote. */
export async function changesIn(
  table: LoadedTable,
  snapshots: readonly Snapshot[],
): Promise<ConcurrentChanges> {
  const changes: ConcurrentChanges = { removedPaths: new Set(), addedDataFiles: [], addedDeleteFiles: [] };
  for (const snapshot of snapshots) {
    for (const manifest of await readManifestList(table, snapshot)) {
      if (manifest.addedSnapshotId !== snapshot.snapshotId) continue;
      if (manifest.addedFilesCount === 0 && manifest.deletedFilesCount === 0) continue;
      for (const entry of await readManifestEntries(table, manifest)) {
        if (entry.snapshotId !== snapshot.snapshotId) continue;
        if (entry.status === ManifestEntryStatus.DELETED) changes.removedPaths.add(entry.dataFile.filePath);
        else if (entry.status === ManifestEntryStatus.ADDED) {
          if (entry.dataFile.content === DataFileContent.DATA) changes.addedDataFiles.push(entry.dataFile);
          else changes.addedDeleteFiles.push(entry.dataFile);
        }
      }
    }
  }
  return changes;
}

/**
 * Whether a position delete file may hold deletes for `dataFilePath`: its referenced data file, or
 * else the lower/upper bounds of its `file_path` column; without either, conservatively yes.
 */
export function positionDeletesMayTarget(deleteFile: DataFile, dataFilePath: string): boolean {
  if (deleteFile.content !== DataFileContent.POSITION_DELETES) return false;
  if (deleteFile.referencedDataFile !== undefined) return deleteFile.referencedDataFile === dataFilePath;
  const bounds = positionDeleteFilePathBounds(deleteFile);
  if (!bounds) return true;
  return bounds.lower <= dataFilePath && dataFilePath <= bounds.upper;
}
