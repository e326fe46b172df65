/**
 * Overwrite (Iceberg `OverwriteFiles`, operation "overwrite"): removes data files and adds others in
 * one snapshot — given explicitly, or by a row filter. With `overwriteWhere(filter)` every live row
 * matching the filter is removed copy-on-write: files whose rows all match are dropped, files that
 * partly match are rewritten without those rows (their position deletes applied, the rewritten file's
 * own position-delete files dropped). The filter is re-evaluated on the new head after a conflict, so
 * rows committed meanwhile are judged too. An explicitly removed file that a concurrent commit already
 * removed fails the operation (VALIDATION_FAILED): its rows may have changed meanwhile.
 */
import type { LoadedTable } from "../../catalog/catalog.ts";
import { type DataFile, DataFileContent } from "../data-file.ts";
import { IcebergError } from "../errors.ts";
import type { Expression } from "../expressions.ts";
import { writeDataFiles } from "../parquet-writer.ts";
import { readPlan } from "../reader.ts";
import { planScan } from "../scan.ts";
import type { SnapshotOperation } from "../snapshot.ts";
import type { AddedFile } from "../snapshot-producer.ts";
import { type DerivedChanges, SnapshotUpdate } from "./snapshot-update.ts";

export class OverwriteFiles extends SnapshotUpdate<OverwriteFiles> {
  #filter: Expression | undefined;

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

  /** Removes every row matching `filter` (column names of the current schema), copy-on-write. */
  overwriteWhere(filter: Expression): this {
    this.#filter = filter;
    return this;
  }

  protected override async deriveChanges(table: LoadedTable): Promise<DerivedChanges> {
    const derived: DerivedChanges = { added: [], removedPaths: [], writtenFiles: [] };
    if (!this.#filter) return derived;
    const matching = await planScan(table, { filter: this.#filter, ref: this.branch });
    try {
      for (const task of matching.tasks) {
        const single = { ...matching, tasks: [task] };
        const matched = await readPlan(table, single);
        if (matched.length === 0) continue; // pruning could not exclude the file, but no live row matches
        const all = await readPlan(table, { ...single, filter: undefined });
        // Whether a row matches depends only on its values, so equal rows match alike.
        const matchedKeys = new Set(matched.map(rowKey));
        const keep = all.filter((row) => !matchedKeys.has(rowKey(row)));
        derived.removedPaths.push(task.dataFile.filePath);
        for (const deletes of task.deletes) {
          if (deletes.referencedDataFile === task.dataFile.filePath)
            derived.removedPaths.push(deletes.filePath);
        }
        if (keep.length === 0) continue;
        const files = await writeDataFiles({
          schema: matching.schema,
          spec: task.spec,
          rows: keep,
          io: table.io,
          location: `${table.metadata.location}/data`,
          properties: table.metadata.properties,
        });
        for (const file of files) {
          derived.writtenFiles.push(file.filePath);
          derived.added.push({ file, specId: task.spec.specId } satisfies AddedFile);
        }
      }
    } catch (error) {
      await table.io.deleteMany(derived.writtenFiles).catch(() => {});
      throw error;
    }
    return derived;
  }
}

function rowKey(row: Record<string, unknown>): string {
  return JSON.stringify(row, (_key, value: unknown) => {
    if (typeof value === "bigint") return `${value}n`;
    if (typeof value === "number" && !Number.isFinite(value)) return `${value}`;
    if (value instanceof Uint8Array) return Buffer.from(value).toString("hex");
    if (value instanceof Map) return [...value.entries()];
    return value;
  });
}
