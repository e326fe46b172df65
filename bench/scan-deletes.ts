/**
 * Scan SQL cost against the number of data files carrying position deletes: the sink's upsert writer
 * commits COMMITS times (5 changes each) into one unpartitioned table — one data file and, for most
 * commits, one position-delete file naming a single data file — then reads the table RUNS times with
 * Floe's reader and prints the median read time. This is the read compaction does on a partition
 * (issue #7: the read grew with the square of the data files while every file's deletes had their
 * own UNION ALL branch).
 *
 *   node --import tsx bench/scan-deletes.ts        (COMMITS=1200 RUNS=3 by default)
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InMemoryCatalogStore } from "../src/catalog/catalog-store.ts";
import { StoreCatalog } from "../src/catalog/store-catalog.ts";
import { readTable } from "../src/iceberg/reader.ts";
import { planScan } from "../src/iceberg/scan.ts";
import { Schema } from "../src/iceberg/schema.ts";
import { LocalFileIO, localLocationOf } from "../src/io/index.ts";
import type { Row } from "../src/sink/change.ts";
import { UpsertTableWriter } from "../src/sink/table-writer.ts";

const commits = Number(process.env.COMMITS ?? 1200);
const runs = Number(process.env.RUNS ?? 3);

const schema = new Schema(
  0,
  [
    { id: 1, name: "id", required: true, type: { kind: "long" } },
    { id: 2, name: "note", required: false, type: { kind: "string" } },
  ],
  [1],
);

const dir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "floe-scan-deletes-"));
try {
  const catalog = new StoreCatalog({
    name: "bench",
    store: new InMemoryCatalogStore(),
    io: new LocalFileIO(),
    warehouse: localLocationOf(dir),
  });
  const id = { namespace: ["b"], name: "t" };
  await catalog.createNamespace(["b"]);
  await catalog.createTable(id, { schema });
  const writer = await UpsertTableWriter.open({ catalog, identifier: id });
  const live = new Set<bigint>();
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  for (let commit = 1; commit <= commits; commit++) {
    for (let n = 1; n <= 5; n++) {
      const key = BigInt(1 + Math.floor(random() * 2000));
      const position = `0/${(commit * 16 + n).toString(16).toUpperCase()}`;
      if (live.has(key) && random() < 0.35) {
        await writer.write({
          op: "d",
          key: { id: key },
          before: { id: key },
          position,
          commitTimeMs: commit,
        });
        live.delete(key);
      } else {
        const after: Row = { id: key, note: `note ${commit}.${n}` };
        await writer.write({
          op: live.has(key) ? "u" : "c",
          key: { id: key },
          after,
          position,
          commitTimeMs: commit,
        });
        live.add(key);
      }
    }
    await writer.commit();
  }
  await writer.close();
  const table = await catalog.loadTable(id);
  const plan = await planScan(table);
  const deleteFiles = new Set(plan.tasks.flatMap((t) => t.deletes.map((d) => d.filePath))).size;
  const times: number[] = [];
  let rows = 0;
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    rows = (await readTable(table)).length;
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  if (rows !== live.size) throw new Error(`read ${rows} rows, expected ${live.size}`);
  console.log(
    `${plan.tasks.length} data files, ${deleteFiles} delete files, ${rows} rows: read median ${(times[Math.floor(runs / 2)]! / 1000).toFixed(2)} s (runs: ${times.map((t) => (t / 1000).toFixed(2)).join(", ")})`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
