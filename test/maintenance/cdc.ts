/**
 * A CDC-style writer for maintenance tests: upserts and deletes by `id` as RowDelta commits (equality
 * deletes, or position deletes found by reading the table), with a model of the rows the table must hold.
 */
import type { Catalog, LoadedTable } from "../../src/catalog/catalog.ts";
import { type DataFile, DataFileContent } from "../../src/iceberg/data-file.ts";
import { writeEqualityDeletes, writePositionDeletes } from "../../src/iceberg/delete-writer.ts";
import { RowDelta } from "../../src/iceberg/operations/row-delta.ts";
import { type Row, writeDataFiles } from "../../src/iceberg/parquet-writer.ts";
import { readPlan } from "../../src/iceberg/reader.ts";
import { planScan } from "../../src/iceberg/scan.ts";
import { currentSchema, defaultSpec } from "../../src/iceberg/table-metadata.ts";

export type DeleteMode = "equality" | "position";

/** The rows a table must hold, by id. */
export class Model {
  readonly rows = new Map<bigint, Row>();
  sorted(): Row[] {
    return [...this.rows.values()].sort((a, b) => ((a.id as bigint) < (b.id as bigint) ? -1 : 1));
  }
}

export function sortById(rows: Row[]): Row[] {
  return [...rows].sort((a, b) =>
    (a.id as bigint) < (b.id as bigint) ? -1 : (a.id as bigint) > (b.id as bigint) ? 1 : 0,
  );
}

/** Position deletes for the live rows with these ids: (file, position) read through Floe's scan. */
async function positionsOf(
  table: LoadedTable,
  ids: Set<bigint>,
): Promise<{ filePath: string; pos: number }[]> {
  const plan = await planScan(table);
  const found: { filePath: string; pos: number }[] = [];
  for (const task of plan.tasks) {
    // Read the file without deletes to know physical positions, then keep the rows still live.
    const raw = await readPlan(table, { ...plan, filter: undefined, tasks: [{ ...task, deletes: [] }] });
    const live = await readPlan(table, { ...plan, filter: undefined, tasks: [task] });
    const liveIds = new Set(live.map((r) => r.id as bigint));
    raw.forEach((row, pos) => {
      const id = row.id as bigint;
      if (ids.has(id) && liveIds.has(id)) found.push({ filePath: task.dataFile.filePath, pos });
    });
  }
  return found;
}

/**
 * One CDC commit: `upserts` replace rows by id (or insert them), `deletes` remove ids. Returns the
 * committed table. With position deletes, a VALIDATION_FAILED from a concurrent rewrite surfaces to the
 * caller (who recomputes, as the sink does).
 */
export async function cdcCommit(
  catalog: Catalog,
  table: LoadedTable,
  model: Model,
  change: { upserts: Row[]; deletes: (bigint | number)[] },
  mode: DeleteMode,
  hooks: { afterWrite?: () => Promise<void> } = {},
): Promise<LoadedTable> {
  const m = table.metadata;
  const schema = currentSchema(m);
  const spec = defaultSpec(m);
  const location = `${m.location}/data`;
  const deletedIds = change.deletes.map((id) => BigInt(id));
  const touched = new Set<bigint>([...change.upserts.map((r) => r.id as bigint), ...deletedIds]);
  const existing = new Set([...touched].filter((id) => model.rows.has(id)));
  const deleteFiles: DataFile[] = [];
  if (existing.size > 0) {
    if (mode === "equality") {
      deleteFiles.push(
        ...(await writeEqualityDeletes({
          schema,
          spec,
          io: table.io,
          location,
          equalityIds: [1],
          rows: [...existing].map((id) => model.rows.get(id)!),
        })),
      );
    } else {
      const positions = await positionsOf(table, existing);
      const byFile = new Map<string, { filePath: string; pos: number }[]>();
      for (const p of positions) byFile.set(p.filePath, [...(byFile.get(p.filePath) ?? []), p]);
      const plan = await planScan(table);
      for (const [filePath, deletes] of byFile) {
        const task = plan.tasks.find((t) => t.dataFile.filePath === filePath)!;
        deleteFiles.push(
          ...(await writePositionDeletes({
            schema,
            spec,
            io: table.io,
            location,
            partition: task.partition,
            deletes,
          })),
        );
      }
    }
  }
  const dataFiles =
    change.upserts.length === 0
      ? []
      : await writeDataFiles({
          schema,
          spec,
          rows: change.upserts,
          io: table.io,
          location,
          properties: m.properties,
        });
  await hooks.afterWrite?.();
  const delta = new RowDelta(catalog, table);
  for (const f of dataFiles) delta.addRows(f);
  for (const f of deleteFiles) delta.addDeletes(f);
  if (mode === "position") {
    delta.validateDataFilesExist(
      deleteFiles.map((f) => f.referencedDataFile).filter((p): p is string => p !== undefined),
    );
  }
  const committed = (await delta.commit()).table;
  for (const id of deletedIds) model.rows.delete(id);
  for (const row of change.upserts) model.rows.set(row.id as bigint, row);
  return committed;
}

export function isDelete(file: DataFile): boolean {
  return file.content !== DataFileContent.DATA;
}
