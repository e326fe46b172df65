/**
 * Rewrite files (Iceberg `RewriteFiles`, operation "replace"): compaction's commit. Replaces data and
 * delete files with new data files holding the same rows. The new files keep the data sequence number
 * of the snapshot the rewrite read (`dataSequenceNumber`), so equality deletes committed meanwhile
 * still apply to them. A concurrent position delete against a rewritten file cannot be carried over
 * and fails the rewrite (VALIDATION_FAILED): it must never resurrect a deleted row.
 */
import type { LoadedTable } from "../../catalog/catalog.ts";
import { type DataFile, DataFileContent } from "../data-file.ts";
import { IcebergError } from "../errors.ts";
import type { SnapshotOperation } from "../snapshot.ts";
import { snapshotForRef } from "../table-metadata.ts";
import { SnapshotUpdate } from "./snapshot-update.ts";
import { changesIn, positionDeletesMayTarget, snapshotsSince } from "./validation.ts";

export class RewriteFiles extends SnapshotUpdate<RewriteFiles> {
  readonly #rewrittenData = new Set<string>();
  #dataSequenceNumber: bigint | undefined;

  protected operation(): SnapshotOperation {
    return "replace";
  }

  /** The sequence number for the new files; defaults to that of the snapshot the rewrite started from. */
  dataSequenceNumber(sequenceNumber: bigint): this {
    this.#dataSequenceNumber = sequenceNumber;
    return this;
  }

  rewriteFiles(removed: Iterable<DataFile>, added: Iterable<DataFile>, specId?: number): this {
    for (const file of removed) {
      this.removedPaths.add(file.filePath);
      if (file.content === DataFileContent.DATA) this.#rewrittenData.add(file.filePath);
    }
    const sequenceNumber =
      this.#dataSequenceNumber ??
      snapshotForRef(this.table.metadata, this.branch)?.sequenceNumber ??
      undefined;
    for (const file of added) {
      if (file.content !== DataFileContent.DATA) {
        throw new IcebergError(
          "DATA_INVALID",
          `a rewrite adds data files only; ${file.filePath} is a delete file`,
        );
      }
      this.stageFile(file, specId, sequenceNumber);
    }
    return this;
  }

  protected override async validate(table: LoadedTable): Promise<void> {
    const concurrent = await changesIn(table, snapshotsSince(table, this.startSnapshotId, this.branch));
    for (const path of this.removedPaths) {
      if (concurrent.removedPaths.has(path)) {
        throw new IcebergError(
          "VALIDATION_FAILED",
          `rewrite: ${path} was already removed by a concurrent commit`,
        );
      }
    }
    for (const deleteFile of concurrent.addedDeleteFiles) {
      if (deleteFile.content !== DataFileContent.POSITION_DELETES) continue;
      for (const path of this.#rewrittenData) {
        if (positionDeletesMayTarget(deleteFile, path)) {
          throw new IcebergError(
            "VALIDATION_FAILED",
            `rewrite: concurrent position deletes ${deleteFile.filePath} may target rewritten file ${path}; ` +
              "the rewrite is abandoned so no deleted row comes back",
          );
        }
      }
    }
  }
}
