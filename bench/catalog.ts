/**
 * Catalog benchmark: loadTable latency (p50/p99) and commit throughput with concurrent clients through
 * `floe serve` (HTTP, RestCatalog), beside the same StoreCatalog called in-process on the same store
 * (the baseline: what the catalog costs without the server). `CATALOG_STORE=postgres://…` runs both on
 * the PostgreSQL store instead of SQLite.
 *
 *   npm run bench:catalog            (CLIENTS=8 LOADS=400 COMMITS=20 RUNS=3)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Catalog, TableIdentifier } from "../src/catalog/catalog.ts";
import { RestCatalog } from "../src/catalog/rest-catalog.ts";
import { FastAppend } from "../src/iceberg/operations/append.ts";
import { Schema } from "../src/iceberg/schema.ts";
import { primitive } from "../src/iceberg/types.ts";
import { startServer } from "../src/server/server.ts";
import { runBenchmark } from "./harness.ts";

const clients = Number(process.env.CLIENTS ?? 8);
const loads = Number(process.env.LOADS ?? 400);
const commitsPerClient = Number(process.env.COMMITS ?? 20);
const runs = Number(process.env.RUNS ?? 3);
const catalogStore = process.env.CATALOG_STORE;

const schema = new Schema(0, [{ id: 1, name: "id", required: true, type: primitive("long") }], [1]);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** `total` calls of `fn` spread over `clients` concurrent workers; returns each call's latency in ms. */
async function concurrently(total: number, fn: (i: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < total) {
        const i = next++;
        const start = performance.now();
        await fn(i);
        latencies.push(performance.now() - start);
      }
    }),
  );
  return latencies.sort((a, b) => a - b);
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), "floe-bench-catalog-"));
  const server = await startServer({
    dataDir,
    host: "127.0.0.1",
    port: 0,
    logger: false,
    maintenanceIntervalMs: 0,
    ...(catalogStore ? { catalogStore } : {}),
    // Clients authenticate as in production: an OAuth2 token, verified on every request.
    auth: { keys: [{ accessKeyId: "bench", secretAccessKey: "bench-secret" }] },
  });
  try {
    const bucket = await server.buckets.create("bench");
    const embedded: Catalog = server.buckets.catalog(bucket);
    const rest: Catalog = new RestCatalog({
      uri: server.catalogUri,
      warehouse: bucket.name,
      credential: "bench:bench-secret",
    });
    await embedded.createNamespace(["b"]);
    const tables: TableIdentifier[] = [];
    for (let i = 0; i < clients; i++) {
      const id = { namespace: ["b"], name: `t${i}` };
      await embedded.createTable(id, { schema });
      tables.push(id);
    }

    const latency: Record<"floe" | "baseline", number[]> = { floe: [], baseline: [] };
    await runBenchmark({
      name: `loadTable x${loads}, ${clients} clients (${catalogStore ? "PostgreSQL" : "SQLite"} store)`,
      items: loads,
      unit: "loads/s",
      runs,
      floe: async () => {
        latency.floe = await concurrently(loads, async (i) => {
          await rest.loadTable(tables[i % tables.length]!);
        });
      },
      baseline: async () => {
        latency.baseline = await concurrently(loads, async (i) => {
          await embedded.loadTable(tables[i % tables.length]!);
        });
      },
    });
    console.log(
      JSON.stringify({
        benchmark: "loadTable latency (last run)",
        floe: { p50Ms: percentile(latency.floe, 50), p99Ms: percentile(latency.floe, 99) },
        baseline: { p50Ms: percentile(latency.baseline, 50), p99Ms: percentile(latency.baseline, 99) },
      }),
    );

    let fileNo = 0;
    const append = async (catalog: Catalog, id: TableIdentifier) => {
      const table = await catalog.loadTable(id);
      fileNo++;
      await new FastAppend(catalog, table)
        .appendFile({
          content: 0,
          filePath: `${table.metadata.location}/data/bench-${fileNo}.parquet`,
          fileFormat: "parquet",
          partition: {},
          recordCount: 1,
          fileSizeInBytes: 100,
        })
        .commit({ minWaitMs: 1 });
    };
    const commits = clients * commitsPerClient;
    // Each client commits to its own table: this measures commit throughput, not conflict retries.
    const perClient = (catalog: Catalog) =>
      Promise.all(
        tables.map(async (id) => {
          for (let n = 0; n < commitsPerClient; n++) await append(catalog, id);
        }),
      );
    await runBenchmark({
      name: `FastAppend commits, ${clients} clients on ${clients} tables (${catalogStore ? "PostgreSQL" : "SQLite"} store)`,
      items: commits,
      unit: "commits/s",
      runs,
      floe: async () => {
        await perClient(rest);
      },
      baseline: async () => {
        await perClient(embedded);
      },
    });
    (rest as RestCatalog).close();
  } finally {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
