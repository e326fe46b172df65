/**
 * Overwrite files (Iceberg `OverwriteFiles`): removes the given data files and adds replacements in
 * one snapshot. A file that a concurrent commit already removed fails the operation (VALIDATION_FAILED):
 * its rows may have changed meanwhile.
 */
import { type DataFile, DataFileContent } from "../data-file.ts";
import { IcebergError } from "../errors.ts";
import type { SnapshotOperation } from "../snapshot.ts";
import { SnapshotUpdate } from "./snapshot-update.ts";

export class OverwriteFiles extends SnapshotUpdate<OverwriteFiles> {
  protected operation(): SnapshotOperation {
    return "overwrite";
  }

  deleteFile(file: DataFile | string): this {
    this.removedPaths.add(typeof file === "string" ? file : file.filePath);
    return this;
  }

  addFile(file: DataFile, specId?: number): this {
    if (file.content !== DataFileContent.DATA)
      throw new IcebergError("DATA_INVALID", `${file.filePath} is not a data file`);
    this.stageFile(file, specId);
    return this;
  }
}
