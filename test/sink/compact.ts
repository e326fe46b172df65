/** Test helper: rewrites every live file of a table into fresh files with deletes applied (a full compaction). */
import type { Catalog, LoadedTable } from "../../src/catalog/catalog.ts";
import type { DataFile } from "../../src/iceberg/data-file.ts";
import { RewriteFiles } from "../../src/iceberg/operations/rewrite.ts";
import { writeDataFiles } from "../../src/iceberg/parquet-writer.ts";
import { readTable } from "../../src/iceberg/reader.ts";
import { planScan } from "../../src/iceberg/scan.ts";
import { currentSchema, defaultSpec } from "../../src/iceberg/table-metadata.ts";

export async function compactEverything(catalog: Catalog, table: LoadedTable): Promise<void> {
  const plan = await planScan(table);
  const removed = new Map<string, DataFile>();
  for (const task of plan.tasks) {
    removed.set(task.dataFile.filePath, task.dataFile);
    for (const d of task.deletes) removed.set(d.filePath, d);
  }
  const added = await writeDataFiles({
    schema: currentSchema(table.metadata),
    spec: defaultSpec(table.metadata),
    rows: await readTable(table),
    io: table.io,
    location: `${table.metadata.location}/data`,
  });
  await new RewriteFiles(catalog, table).rewriteFiles(removed.values(), added).commit();
}
