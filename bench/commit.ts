/**
 * Commit latency by snapshot count (issue #7: a CDC table gets a commit a second, so its metadata holds
 * thousands of snapshots). For each N in `SNAPSHOTS`, a table is given N snapshots of CDC-sized
 * summaries, then timed: `COMMITS` row-delta commits (one data file, one position-delete file) through
 * the embedded StoreCatalog — writing the manifest, the manifest list and the N-snapshot metadata file.
 *
 * - **Floe**: `RowDelta.commit()` — load, produce the snapshot, check requirements, apply updates,
 *   serialize, write the metadata file (if-not-exists, fsync), swap the pointer.
 * - **Baseline** (the floor of a whole-file metadata format): serializing the same metadata once with
 *   the engine's `JSON.stringify` (indented, ids as plain numbers) and writing it through the same FileIO.
 *
 * Each N prints the harness line (commits/s, ratio = baseline ms / Floe ms, so 1 = at the floor), then a
 * line with ms per commit, the metadata size, and with `CACHE_OFF=1` (default on) Floe again with the
 * catalog's metadata cache off (every load and commit reads and parses the file, as before #7).
 *
 *   npm run bench:commit        (SNAPSHOTS=100,1000,3600 COMMITS=10 RUNS=5 by default)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Catalog, LoadedTable, TableIdentifier } from "../src/catalog/catalog.ts";
import { InMemoryCatalogStore } from "../src/catalog/catalog-store.ts";
import { TableMetadataCache } from "../src/catalog/metadata-cache.ts";
import { StoreCatalog } from "../src/catalog/store-catalog.ts";
import { type DataFile, DataFileContent } from "../src/iceberg/data-file.ts";
import { RowDelta } from "../src/iceberg/operations/row-delta.ts";
import { Schema } from "../src/iceberg/schema.ts";
import type { Snapshot } from "../src/iceberg/snapshot.ts";
import { currentSnapshot, type TableMetadata, tableMetadataToJson } from "../src/iceberg/table-metadata.ts";
import type { TableUpdate } from "../src/iceberg/table-update.ts";
import { LocalFileIO, localLocationOf } from "../src/io/index.ts";
import { runBenchmark } from "./harness.ts";

const levels = (process.env.SNAPSHOTS ?? "100,1000,3600").split(",").map(Number);
const commitsPerRun = Number(process.env.COMMITS ?? 10);
const runs = Number(process.env.RUNS ?? 5);
const cacheOff = process.env.CACHE_OFF !== "0";

const schema = new Schema(
  0,
  [
    { id: 1, name: "id", required: true, type: { kind: "long" } },
    { id: 2, name: "note", required: false, type: { kind: "string" } },
  ],
  [1],
);
const bucket = { kind: "bucket", numBuckets: 4 } as const;

let fileCounter = 0;
function file(location: string, content: DataFileContent): DataFile {
  fileCounter++;
  return {
    content,
    filePath: `${location}/data/${content === DataFileContent.DATA ? "d" : "pd"}${fileCounter}.parquet`,
    fileFormat: "parquet",
    partition: { id_bucket: fileCounter % 4 },
    recordCount: 3,
    fileSizeInBytes: 1200,
    ...(content === DataFileContent.POSITION_DELETES
      ? { referencedDataFile: `${location}/data/d${fileCounter - 1}.parquet` }
      : {}),
  };
}

/** One CDC-shaped commit: a data file and a position-delete file, with the sink's summary keys. */
async function cdcCommit(catalog: Catalog, table: LoadedTable, n: number): Promise<LoadedTable> {
  const location = table.metadata.location;
  return (
    await new RowDelta(catalog, table)
      .addRows(file(location, DataFileContent.DATA))
      .addDeletes(file(location, DataFileContent.POSITION_DELETES))
      .set("floe.source.position", `1/${(n * 256).toString(16)}#5`)
      .set("floe.source.lsn", `1/${(n * 256).toString(16).toUpperCase()}`)
      .commit()
  ).table;
}

/**
 * Gives the table `count` more snapshots at once: copies of its current one (same manifest list, the
 * sink's summary keys), chained parent to child, committed as one metadata change.
 */
async function growTo(catalog: Catalog, table: LoadedTable, count: number): Promise<LoadedTable> {
  const head = currentSnapshot(table.metadata)!;
  const updates: TableUpdate[] = [];
  let parent = head.snapshotId;
  let sequenceNumber = table.metadata.lastSequenceNumber;
  for (let i = 0; i < count; i++) {
    sequenceNumber++;
    const snapshot: Snapshot = {
      ...head,
      snapshotId: 1_000_000_000_000_000_000n + BigInt(fileCounter++),
      parentSnapshotId: parent,
      sequenceNumber,
      timestampMs: head.timestampMs + i,
      summary: { ...head.summary, "floe.source.position": `1/${i.toString(16)}#5` },
    };
    updates.push({ action: "add-snapshot", snapshot });
    parent = snapshot.snapshotId;
  }
  updates.push({ action: "set-snapshot-ref", refName: "main", type: "branch", snapshotId: parent });
  return catalog.commitTable({ identifier: table.identifier, requirements: [], updates });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main() {
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), "floe-bench-commit-"));
  const io = new LocalFileIO();
  const store = new InMemoryCatalogStore();
  const open = (cache?: TableMetadataCache) =>
    new StoreCatalog({
      name: "bench",
      store,
      io,
      warehouse: localLocationOf(dir),
      ...(cache ? { metadataCache: cache } : {}),
    });
  const catalog = open();
  const uncached = open(new TableMetadataCache(0));
  await catalog.createNamespace(["b"]);
  const summary: string[] = [];
  try {
    for (const level of levels) {
      const id: TableIdentifier = { namespace: ["b"], name: `t${level}` };
      let table = await catalog.createTable(id, {
        schema,
        spec: { specId: 0, fields: [{ sourceId: 1, fieldId: 1000, name: "id_bucket", transform: bucket }] },
      });
      table = await cdcCommit(catalog, table, 0);
      table = await growTo(catalog, table, level - 1);
      let commits = 1;
      let baselineFiles = 0;
      const commitAll = async (via: Catalog) => {
        let current = await via.loadTable(id);
        for (let i = 0; i < commitsPerRun; i++) current = await cdcCommit(via, current, ++commits);
      };
      const serializeAndWrite = async () => {
        const metadata: TableMetadata = (await catalog.loadTable(id)).metadata;
        for (let i = 0; i < commitsPerRun; i++) {
          const text = JSON.stringify(
            tableMetadataToJson(metadata),
            (_key, value: unknown) => (typeof value === "bigint" ? Number(value) : value),
            2,
          );
          await io.write(
            `${metadata.location}/baseline/${baselineFiles++}.metadata.json`,
            new TextEncoder().encode(text),
            { ifNotExists: true },
          );
        }
      };
      const result = await runBenchmark({
        name: `commit at ${level} snapshots, ${commitsPerRun} row-delta commits per run (StoreCatalog, local disk)`,
        items: commitsPerRun,
        unit: "commits/s",
        runs,
        floe: () => commitAll(catalog),
        baseline: serializeAndWrite,
      });
      const bytes = (await io.stat((await catalog.loadTable(id)).metadataLocation)).size;
      let uncachedMs: number | undefined;
      if (cacheOff) {
        const times: number[] = [];
        for (let run = 0; run < runs; run++) {
          const start = performance.now();
          await commitAll(uncached);
          times.push(performance.now() - start);
        }
        uncachedMs = median(times) / commitsPerRun;
      }
      const line = {
        snapshots: level,
        metadataBytes: bytes,
        floeMsPerCommit: Number((result.median.floeMs / commitsPerRun).toFixed(1)),
        baselineMsPerWrite: Number((result.median.baselineMs / commitsPerRun).toFixed(1)),
        ...(uncachedMs !== undefined ? { cacheOffMsPerCommit: Number(uncachedMs.toFixed(1)) } : {}),
      };
      console.log(JSON.stringify(line));
      summary.push(
        `${level}: ${line.floeMsPerCommit} ms/commit (floor ${line.baselineMsPerWrite}${uncachedMs !== undefined ? `, cache off ${line.cacheOffMsPerCommit}` : ""})`,
      );
    }
    console.log(`commit latency by snapshot count — ${summary.join("; ")}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
