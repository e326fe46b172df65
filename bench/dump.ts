/**
 * Dump throughput: a table of ROWS (10M by default) rows × 6 columns in 10 data files, dumped by Floe to
 * one Parquet file (plan through Floe's manifests, DuckDB scan view with field-id mapping, `COPY … TO`,
 * move into place) against DuckDB alone reading the same data files straight to Parquet:
 * `COPY (SELECT * FROM read_parquet([...data files])) TO … (FORMAT parquet, COMPRESSION zstd)`.
 *
 *   npm run bench:dump            (ROWS=1000000 RUNS=3 npm run bench:dump for a quick run)
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InMemoryCatalogStore } from "../src/catalog/catalog-store.ts";
import { StoreCatalog } from "../src/catalog/store-catalog.ts";
import { dumpTable } from "../src/dump/dump.ts";
import { sqlString, withDuckDb } from "../src/iceberg/duckdb.ts";
import { FastAppend } from "../src/iceberg/operations/append.ts";
import { type Row, writeDataFiles } from "../src/iceberg/parquet-writer.ts";
import { planScan } from "../src/iceberg/scan.ts";
import { Schema } from "../src/iceberg/schema.ts";
import { currentSchema, defaultSpec } from "../src/iceberg/table-metadata.ts";
import { LocalFileIO, localLocationOf, localPathOf } from "../src/io/index.ts";
import { runBenchmark } from "./harness.ts";

const rowCount = Number(process.env.ROWS ?? 10_000_000);
const runs = Number(process.env.RUNS ?? 3);
const files = 10;

const schema = new Schema(0, [
  { id: 1, name: "id", required: true, type: { kind: "long" } },
  { id: 2, name: "qty", required: false, type: { kind: "int" } },
  { id: 3, name: "name", required: false, type: { kind: "string" } },
  { id: 4, name: "price", required: false, type: { kind: "double" } },
  { id: 5, name: "updated_at", required: false, type: { kind: "timestamptz" } },
  { id: 6, name: "day", required: false, type: { kind: "date" } },
]);

function makeRows(from: number, count: number): Row[] {
  const rows: Row[] = new Array(count);
  for (let j = 0; j < count; j++) {
    const i = from + j;
    rows[j] = {
      id: BigInt(i),
      qty: i % 1000,
      name: i % 5 === 0 ? null : `customer-${i % 50_000}`,
      price: (i % 10_000) * 0.25,
      updated_at: 1_700_000_000_000_000n + BigInt(i) * 1000n,
      day: 19_000 + (i % 365),
    };
  }
  return rows;
}

const root = await mkdtemp(join(tmpdir(), "floe-bench-dump-"));
try {
  const io = new LocalFileIO();
  const catalog = new StoreCatalog({
    name: "bench",
    store: new InMemoryCatalogStore(),
    io,
    warehouse: localLocationOf(join(root, "warehouse")),
  });
  await catalog.createNamespace(["bench"]);
  let table = await catalog.createTable({ namespace: ["bench"], name: "events" }, { schema });
  const setupStart = performance.now();
  const perFile = Math.ceil(rowCount / files);
  const append = new FastAppend(catalog, table);
  for (let from = 0; from < rowCount; from += perFile) {
    const written = await writeDataFiles({
      schema: currentSchema(table.metadata),
      spec: defaultSpec(table.metadata),
      rows: makeRows(from, Math.min(perFile, rowCount - from)),
      io,
      location: `${table.metadata.location}/data`,
    });
    for (const f of written) append.appendFile(f);
  }
  table = (await append.commit()).table;
  const dataPaths = (await planScan(table)).tasks.map((task) => localPathOf(task.dataFile.filePath));
  console.error(
    `setup: ${rowCount} rows in ${dataPaths.length} data files, ${Math.round(performance.now() - setupStart)} ms`,
  );

  const floeOut = join(root, "floe.parquet");
  const baselineOut = join(root, "baseline.parquet");
  await runBenchmark({
    name: `dump ${rowCount} rows × 6 columns to Parquet (zstd)`,
    items: rowCount,
    unit: "rows/s",
    runs,
    floe: async () => {
      const result = await dumpTable(table, { out: floeOut, overwrite: true });
      if (result.rows !== rowCount) throw new Error(`Floe dumped ${result.rows} rows, expected ${rowCount}`);
    },
    baseline: async () => {
      await rm(baselineOut, { force: true });
      await withDuckDb((c) =>
        c.run(
          `COPY (SELECT * FROM read_parquet([${dataPaths.map(sqlString).join(", ")}])) TO ${sqlString(baselineOut)} (FORMAT parquet, COMPRESSION zstd)`,
        ),
      );
    },
  });
} finally {
  await rm(root, { recursive: true, force: true });
}
