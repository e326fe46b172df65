/**
 * Fast append (Iceberg `AppendFiles`): adds data files in one new manifest without touching existing
 * ones. Never conflicts with other writers: on retry it simply re-applies on the new head.
 */
import type { DataFile } from "../data-file.ts";
import { DataFileContent } from "../data-file.ts";
import { IcebergError } from "../errors.ts";
import type { SnapshotOperation } from "../snapshot.ts";
import { SnapshotUpdate } from "./snapshot-update.ts";

export class FastAppend extends SnapshotUpdate<FastAppend> {
  protected operation(): SnapshotOperation {
    return "append";
  }

  protected override mergesManifests(): boolean {
    return false;
  }

  appendFile(file: DataFile, specId?: number): this {
    if (file.content !== DataFileContent.DATA) {
      throw new IcebergError("DATA_INVALID", `cannot append delete file ${file.filePath}; use a row delta`);
    }
    this.stageFile(file, specId);
    return this;
  }
}
