/**
 * Row delta (Iceberg `RowDelta`): data files and delete files in one snapshot — how upserts and deletes
 * land. On retry it checks that no concurrent commit removed a data file its position deletes point
 * at (e.g. compaction rewrote it): those deletes would then silently miss their rows, so the operation
 * fails with VALIDATION_FAILED instead and the writer must recompute them.
 */
import type { LoadedTable } from "../../catalog/catalog.ts";
import { type DataFile, DataFileContent } from "../data-file.ts";
import { IcebergError } from "../errors.ts";
import type { SnapshotOperation } from "../snapshot.ts";
import { SnapshotUpdate } from "./snapshot-update.ts";
import { changesIn, snapshotsSince } from "./validation.ts";

export class RowDelta extends SnapshotUpdate<RowDelta> {
  readonly #referencedDataFiles = new Set<string>();
  #hasDeletes = false;

  protected operation(): SnapshotOperation {
    return this.#hasDeletes ? "overwrite" : "append";
  }

  addRows(file: DataFile, specId?: number): this {
    if (file.content !== DataFileContent.DATA)
      throw new IcebergError("DATA_INVALID", `${file.filePath} is not a data file`);
    this.stageFile(file, specId);
    return this;
  }

  addDeletes(file: DataFile, specId?: number): this {
    if (file.content === DataFileContent.DATA)
      throw new IcebergError("DATA_INVALID", `${file.filePath} is not a delete file`);
    this.#hasDeletes = true;
    if (file.referencedDataFile !== undefined) this.#referencedDataFiles.add(file.referencedDataFile);
    this.stageFile(file, specId);
    return this;
  }

  /** Data files this delta's position deletes point at; they must still be live when it commits. */
  validateDataFilesExist(paths: Iterable<string>): this {
    for (const path of paths) this.#referencedDataFiles.add(path);
    return this;
  }

  protected override async validate(table: LoadedTable): Promise<void> {
    if (this.#referencedDataFiles.size === 0) return;
    const concurrent = await changesIn(table, snapshotsSince(table, this.startSnapshotId, this.branch));
    for (const path of this.#referencedDataFiles) {
      if (concurrent.removedPaths.has(path)) {
        throw new IcebergError(
          "VALIDATION_FAILED",
          `row delta on ${table.metadata.location}: data file ${path} was removed by a concurrent commit; ` +
            "recompute the position deletes against the new files",
        );
      }
    }
  }
}
