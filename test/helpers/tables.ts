/**
 * Building blocks for table-library tests: a local warehouse in a temp dir with an in-memory catalog,
 * a small schema, and data/delete file descriptions (with real bytes on disk when a test needs files
 * to exist, e.g. to check what expiry deletes).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Catalog, LoadedTable, TableIdentifier } from "../../src/catalog/catalog.ts";
import { InMemoryCatalogStore } from "../../src/catalog/catalog-store.ts";
import { StoreCatalog } from "../../src/catalog/store-catalog.ts";
import { type DataFile, DataFileContent } from "../../src/iceberg/data-file.ts";
import { FastAppend } from "../../src/iceberg/operations/append.ts";
import { type Row, writeDataFiles } from "../../src/iceberg/parquet-writer.ts";
import { Schema } from "../../src/iceberg/schema.ts";
import { currentSchema, defaultSpec } from "../../src/iceberg/table-metadata.ts";
import { primitive } from "../../src/iceberg/types.ts";
import { LocalFileIO, localLocationOf } from "../../src/io/index.ts";

export const ordersSchema = new Schema(
  0,
  [
    { id: 1, name: "id", required: true, type: primitive("long") },
    { id: 2, name: "status", required: false, type: primitive("string") },
    { id: 3, name: "day", required: false, type: primitive("date") },
  ],
  [1],
);

export function localWarehouse(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), "floe-warehouse-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const io = new LocalFileIO();
  const warehouse = localLocationOf(dir);
  let clock = 1_700_000_000_000;
  const catalog = new StoreCatalog({
    name: "test",
    store: new InMemoryCatalogStore(),
    io,
    warehouse,
    now: () => clock,
  });
  return {
    dir,
    io,
    warehouse,
    catalog,
    advanceClock: (ms: number) => {
      clock += ms;
      return clock;
    },
  };
}

export const ordersId: TableIdentifier = { namespace: ["shop"], name: "orders" };

let counter = 0;

/** A data file description at `<location>/data/<name>.parquet` (no bytes are written). */
export function dataFile(location: string, records: number, extra: Partial<DataFile> = {}): DataFile {
  counter++;
  return {
    content: DataFileContent.DATA,
    filePath: `${location}/data/f${counter}.parquet`,
    fileFormat: "parquet",
    partition: {},
    recordCount: records,
    fileSizeInBytes: 100 * records,
    ...extra,
  };
}

export function positionDeleteFile(location: string, target: string, records: number): DataFile {
  counter++;
  return {
    content: DataFileContent.POSITION_DELETES,
    filePath: `${location}/data/pd${counter}.parquet`,
    fileFormat: "parquet",
    partition: {},
    recordCount: records,
    fileSizeInBytes: 50,
    referencedDataFile: target,
  };
}

export function equalityDeleteFile(location: string, records: number): DataFile {
  counter++;
  return {
    content: DataFileContent.EQUALITY_DELETES,
    filePath: `${location}/data/ed${counter}.parquet`,
    fileFormat: "parquet",
    partition: {},
    recordCount: records,
    fileSizeInBytes: 50,
    equalityIds: [1],
  };
}

/** Writes `rows` as Parquet through Floe's writer and commits them as one fast append. */
export async function appendRows(catalog: Catalog, table: LoadedTable, rows: Row[]): Promise<LoadedTable> {
  const m = table.metadata;
  const files = await writeDataFiles({
    schema: currentSchema(m),
    spec: defaultSpec(m),
    rows,
    io: table.io,
    location: `${m.location}/data`,
    properties: m.properties,
  });
  const op = new FastAppend(catalog, table);
  for (const f of files) op.appendFile(f);
  return (await op.commit()).table;
}
