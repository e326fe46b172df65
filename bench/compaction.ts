/**
 * Compaction: full-table scan time of a CDC-style table (many one-commit files, equality and position
 * deletes) before and after one compaction pass, against the same rows bulk-loaded fresh into one table.
 * Prints the harness's JSON line for "after compaction vs fresh" (target ratio ≥ 0.83, i.e. within 1.2×)
 * and one line with the before/after/fresh medians and file counts.
 *
 *   npm run bench:compaction        (COMMITS=300 ROWS_PER_COMMIT=200 RUNS=5 by default)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InMemoryCatalogStore } from "../src/catalog/catalog-store.ts";
import { StoreCatalog } from "../src/catalog/store-catalog.ts";
import { writeEqualityDeletes } from "../src/iceberg/delete-writer.ts";
import { FastAppend } from "../src/iceberg/operations/append.ts";
import { RowDelta } from "../src/iceberg/operations/row-delta.ts";
import { type Row, writeDataFiles } from "../src/iceberg/parquet-writer.ts";
import { readTable } from "../src/iceberg/reader.ts";
import { planScan } from "../src/iceberg/scan.ts";
import { Schema } from "../src/iceberg/schema.ts";
import { currentSchema, defaultSpec } from "../src/iceberg/table-metadata.ts";
import { LocalFileIO, localLocationOf } from "../src/io/index.ts";
import { compactTable } from "../src/maintenance/compaction.ts";
import { runBenchmark } from "./harness.ts";

const commits = Number(process.env.COMMITS ?? 300);
const rowsPerCommit = Number(process.env.ROWS_PER_COMMIT ?? 200);
const runs = Number(process.env.RUNS ?? 5);

const schema = new Schema(
  0,
  [
    { id: 1, name: "id", required: true, type: { kind: "long" } },
    { id: 2, name: "name", required: false, type: { kind: "string" } },
    { id: 3, name: "amount", required: false, type: { kind: "double" } },
    { id: 4, name: "updated_at", required: false, type: { kind: "timestamptz" } },
  ],
  [1],
);

const keySpace = Math.max(1, Math.floor((commits * rowsPerCommit) / 2));
const rowFor = (id: number, version: number): Row => ({
  id: BigInt(id),
  name: `customer-${id}-v${version}`,
  amount: (id * 7 + version) / 4,
  updated_at: 1_700_000_000_000_000n + BigInt(version) * 1_000_000n,
});

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "floe-bench-compaction-"));
  try {
    const io = new LocalFileIO();
    const catalog = new StoreCatalog({
      name: "bench",
      store: new InMemoryCatalogStore(),
      io,
      warehouse: localLocationOf(dir),
    });
    await catalog.createNamespace(["bench"]);
    let cdc = await catalog.createTable({ namespace: ["bench"], name: "cdc" }, { schema });
    const model = new Map<number, Row>();
    let version = 0;
    for (let c = 0; c < commits; c++) {
      const rows: Row[] = [];
      const seen = new Set<number>();
      for (let r = 0; r < rowsPerCommit; r++) {
        const id = (c * 7919 + r * 104_729) % keySpace;
        if (seen.has(id)) continue;
        seen.add(id);
        rows.push(rowFor(id, ++version));
      }
      const m = cdc.metadata;
      const updated = rows.filter((r) => model.has(Number(r.id)));
      const location = `${m.location}/data`;
      const delta = new RowDelta(catalog, cdc);
      if (updated.length > 0) {
        for (const f of await writeEqualityDeletes({
          schema: currentSchema(m),
          spec: defaultSpec(m),
          io,
          location,
          equalityIds: [1],
          rows: updated,
        }))
          delta.addDeletes(f);
      }
      for (const f of await writeDataFiles({
        schema: currentSchema(m),
        spec: defaultSpec(m),
        rows,
        io,
        location,
      }))
        delta.addRows(f);
      cdc = (await delta.commit()).table;
      for (const r of rows) model.set(Number(r.id), r);
    }
    const liveRows = [...model.values()];

    let fresh = await catalog.createTable({ namespace: ["bench"], name: "fresh" }, { schema });
    const append = new FastAppend(catalog, fresh);
    for (const f of await writeDataFiles({
      schema,
      spec: defaultSpec(fresh.metadata),
      rows: liveRows,
      io,
      location: `${fresh.metadata.location}/data`,
    }))
      append.appendFile(f);
    fresh = (await append.commit()).table;

    const scan = async (table: typeof cdc) => {
      const rows = await readTable(table);
      if (rows.length !== liveRows.length)
        throw new Error(`scan returned ${rows.length} rows, expected ${liveRows.length}`);
    };
    const beforePlan = await planScan(cdc);
    const before = await runBenchmark({
      name: "compaction-before-vs-fresh",
      items: liveRows.length,
      unit: "rows/s",
      runs,
      floe: () => scan(cdc),
      baseline: () => scan(fresh),
    });
    const start = performance.now();
    const compaction = await compactTable(catalog, cdc, { targetFileSizeBytes: 512 * 1024 * 1024 });
    const compactionMs = Math.round(performance.now() - start);
    const compacted = compaction.table;
    const afterPlan = await planScan(compacted);
    const after = await runBenchmark({
      name: "compaction-after-vs-fresh",
      items: liveRows.length,
      unit: "rows/s",
      runs,
      floe: () => scan(compacted),
      baseline: () => scan(fresh),
    });
    console.log(
      JSON.stringify({
        benchmark: "compaction-summary",
        commits,
        liveRows: liveRows.length,
        before: {
          dataFiles: beforePlan.tasks.length,
          deleteFiles: beforePlan.metrics.deleteFiles,
          scanMs: before.median.floeMs,
        },
        after: {
          dataFiles: afterPlan.tasks.length,
          deleteFiles: afterPlan.metrics.deleteFiles,
          scanMs: after.median.floeMs,
        },
        freshScanMs: after.median.baselineMs,
        afterOverFresh: Number((after.median.floeMs / after.median.baselineMs).toFixed(3)),
        compactionMs,
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
