/**
 * Append throughput: 1M rows × 10 mixed columns through Floe's Parquet writer (validation, field ids,
 * RETURN_STATS → Iceberg metrics, upload through LocalFileIO) against DuckDB writing the same JS rows to
 * Parquet with no Iceberg work: the same data-chunk staging, then a plain `COPY … TO` (zstd).
 *
 *   npm run bench:append            (ROWS=200000 npm run bench:append for a quick run)
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DuckDBDataChunk,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBTimestampTZValue,
} from "@duckdb/node-api";
import { sqlString, withDuckDb } from "../src/iceberg/duckdb.ts";
import { type Row, writeDataFiles } from "../src/iceberg/parquet-writer.ts";
import { Schema } from "../src/iceberg/schema.ts";
import { LocalFileIO } from "../src/io/index.ts";
import { runBenchmark } from "./harness.ts";

const rowCount = Number(process.env.ROWS ?? 1_000_000);
const runs = Number(process.env.RUNS ?? 5);

const schema = new Schema(0, [
  { id: 1, name: "id", required: true, type: { kind: "long" } },
  { id: 2, name: "qty", required: false, type: { kind: "int" } },
  { id: 3, name: "name", required: false, type: { kind: "string" } },
  { id: 4, name: "price", required: false, type: { kind: "double" } },
  { id: 5, name: "amount", required: false, type: { kind: "decimal", precision: 12, scale: 2 } },
  { id: 6, name: "updated_at", required: false, type: { kind: "timestamptz" } },
  { id: 7, name: "day", required: false, type: { kind: "date" } },
  { id: 8, name: "active", required: false, type: { kind: "boolean" } },
  { id: 9, name: "uid", required: false, type: { kind: "uuid" } },
  { id: 10, name: "note", required: false, type: { kind: "string" } },
]);

function makeRows(count: number): Row[] {
  const rows: Row[] = new Array(count);
  const hex = (n: number) => (n >>> 0).toString(16).padStart(8, "0");
  for (let i = 0; i < count; i++) {
    rows[i] = {
      id: BigInt(i),
      qty: i % 1000,
      name: `customer-${i % 50_000}`,
      price: (i % 10_000) * 0.25,
      amount: BigInt((i * 7) % 100_000_000),
      updated_at: 1_700_000_000_000_000n + BigInt(i) * 1000n,
      day: 19_000 + (i % 365),
      active: i % 2 === 0,
      uid: `${hex(i * 2654435761)}-${hex(i).slice(0, 4)}-4000-8000-${hex(i)}${hex(i * 40503).slice(0, 4)}`,
      note: i % 3 === 0 ? null : `note ${i}`,
    };
  }
  return rows;
}

/** DuckDB alone: the same rows staged through data chunks (uuids as VARCHAR, cast in the COPY), then COPY. */
async function duckDbCopy(rows: Row[], path: string): Promise<void> {
  await withDuckDb(async (connection) => {
    await connection.run(
      "CREATE OR REPLACE TEMP TABLE bench_rows (id BIGINT, qty INTEGER, name VARCHAR, price DOUBLE, " +
        "amount DECIMAL(12,2), updated_at TIMESTAMPTZ, day DATE, active BOOLEAN, uid VARCHAR, note VARCHAR)",
    );
    const appender = await connection.createAppender("bench_rows", null, "temp");
    const types = Array.from({ length: appender.columnCount }, (_, i) => appender.columnType(i));
    for (let start = 0; start < rows.length; start += 2048) {
      const n = Math.min(2048, rows.length - start);
      const chunk = DuckDBDataChunk.create(types, n);
      const vectors = types.map((_, i) => chunk.getColumnVector(i));
      for (let j = 0; j < n; j++) {
        const row = rows[start + j]!;
        // Direct calls, no per-row closure: the baseline gets DuckDB's fastest path.
        vectors[0]!.setItem(j, row.id as never);
        vectors[1]!.setItem(j, row.qty as never);
        vectors[2]!.setItem(j, row.name as never);
        vectors[3]!.setItem(j, row.price as never);
        vectors[4]!.setItem(j, new DuckDBDecimalValue(row.amount as bigint, 12, 2) as never);
        vectors[5]!.setItem(j, new DuckDBTimestampTZValue(row.updated_at as bigint) as never);
        vectors[6]!.setItem(j, new DuckDBDateValue(row.day as number) as never);
        vectors[7]!.setItem(j, row.active as never);
        vectors[8]!.setItem(j, row.uid as never);
        vectors[9]!.setItem(j, row.note as never);
      }
      for (const vector of vectors) vector.flush();
      appender.appendDataChunk(chunk);
    }
    appender.closeSync();
    await connection.run(
      "COPY (SELECT * REPLACE (CAST(uid AS UUID) AS uid) FROM temp.bench_rows) " +
        `TO ${sqlString(path)} (FORMAT parquet, COMPRESSION zstd)`,
    );
    await connection.run("DROP TABLE temp.bench_rows");
  });
}

const root = await mkdtemp(join(tmpdir(), "floe-bench-append-"));
try {
  const rows = makeRows(rowCount);
  const io = new LocalFileIO();
  let run = 0;
  await runBenchmark({
    name: `append ${rowCount} rows x 10 columns to Parquet`,
    items: rowCount,
    unit: "rows/s",
    runs,
    floe: async () => {
      await writeDataFiles({
        schema,
        spec: { specId: 0, fields: [] },
        rows,
        io,
        location: `file://${root}/floe-${run++}/data`,
      });
    },
    baseline: async () => {
      await duckDbCopy(rows, join(root, `duckdb-${run}.parquet`));
    },
  });
} finally {
  await rm(root, { recursive: true, force: true });
}
