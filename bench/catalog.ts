/**
 * Catalog benchmark: loadTable latency (p50/p99) and commit throughput with concurrent clients through
 * `floe serve` (HTTP, RestCatalog), beside the same StoreCatalog called in-process on the same store
 * (the baseline: what the catalog costs without the server). `CATALOG_STORE=postgres://…` runs both on
 * the PostgreSQL store instead of SQLite. loadTable is measured twice: on new tables, and after the
 * commit phase has given every table a few hundred snapshots (where serializing metadata costs most);
 * `LOAD_TABLE_CACHE_BYTES=0` turns the server's serialized-metadata cache off for comparison.
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
import { buildApp } from "../src/server/app.ts";
import { startServer } from "../src/server/server.ts";
import { runBenchmark } from "./harness.ts";

const clients = Number(process.env.CLIENTS ?? 8);
const loads = Number(process.env.LOADS ?? 400);
const commitsPerClient = Number(process.env.COMMITS ?? 20);
const runs = Number(process.env.RUNS ?? 3);
const catalogStore = process.env.CATALOG_STORE;
const loadTableCacheBytes =
  process.env.LOAD_TABLE_CACHE_BYTES === undefined ? undefined : Number(process.env.LOAD_TABLE_CACHE_BYTES);
const storeName = catalogStore ? "PostgreSQL" : "SQLite";

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
    ...(loadTableCacheBytes !== undefined ? { loadTableCacheBytes } : {}),
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

    // Raw HTTP loads (the body read as text, not parsed): what the server alone sustains, since the
    // RestCatalog side above also spends its time parsing each response in this same process.
    const token = await fetch(`${server.catalogUri}/v1/oauth/tokens`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "grant_type=client_credentials&client_id=bench&client_secret=bench-secret",
    }).then(async (response) => ((await response.json()) as { access_token: string }).access_token);
    const rawLoad = async (id: TableIdentifier) => {
      const response = await fetch(
        `${server.catalogUri}/v1/${bucket.name}/namespaces/${id.namespace.join("%1F")}/tables/${id.name}`,
        { headers: { authorization: `Bearer ${token}` } },
      );
      if (response.status !== 200) throw new Error(`loadTable answered ${response.status}`);
      await response.text();
    };
    // The same server without the serialized-metadata cache, driven in-process (app.inject, no sockets,
    // one request at a time) alternately with the real one: an A/B of the cache alone.
    const uncached = await buildApp({
      buckets: server.buckets,
      auth: { keys: [{ accessKeyId: "bench", secretAccessKey: "bench-secret" }] },
      loadTableCacheBytes: 0,
    });
    const inject = (app: typeof uncached.app, id: TableIdentifier) =>
      app
        .inject({
          method: "GET",
          url: `/iceberg/v1/${bucket.name}/namespaces/${id.namespace.join("%1F")}/tables/${id.name}`,
          headers: { authorization: `Bearer ${token}` },
        })
        .then((response) => {
          if (response.statusCode !== 200) throw new Error(`loadTable answered ${response.statusCode}`);
        });
    const loadBenchmark = async (what: string) => {
      await runBenchmark({
        name: `server-side loadTable x${loads} (app.inject, 1 client), ${what}: serialized-metadata cache on (floe) vs off (baseline), ${storeName} store`,
        items: loads,
        unit: "loads/s",
        runs,
        floe: async () => {
          for (let i = 0; i < loads; i++) await inject(server.app, tables[i % tables.length]!);
        },
        baseline: async () => {
          for (let i = 0; i < loads; i++) await inject(uncached.app, tables[i % tables.length]!);
        },
      });
      const latency: Record<"floe" | "baseline", number[]> = { floe: [], baseline: [] };
      await runBenchmark({
        name: `loadTable x${loads}, ${clients} clients, ${what} (${storeName} store, cache ${loadTableCacheBytes === 0 ? "off" : "on"})`,
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
      const rawRuns: Array<{ ms: number; latencies: number[] }> = [];
      for (let run = 0; run < runs; run++) {
        const start = performance.now();
        const latencies = await concurrently(loads, (i) => rawLoad(tables[i % tables.length]!));
        rawRuns.push({ ms: performance.now() - start, latencies });
      }
      rawRuns.sort((a, b) => a.ms - b.ms);
      const rawMedian = rawRuns[Math.floor(rawRuns.length / 2)]!;
      const { metadata } = await embedded.loadTable(tables[0]!);
      console.log(
        JSON.stringify({
          benchmark: `loadTable latency (last run), ${what}`,
          snapshots: metadata.snapshots.length,
          floe: { p50Ms: percentile(latency.floe, 50), p99Ms: percentile(latency.floe, 99) },
          baseline: { p50Ms: percentile(latency.baseline, 50), p99Ms: percentile(latency.baseline, 99) },
          rawHttp: {
            loadsPerSecond: Math.round((loads / rawMedian.ms) * 1000),
            p50Ms: percentile(rawMedian.latencies, 50),
            p99Ms: percentile(rawMedian.latencies, 99),
          },
        }),
      );
    };
    await loadBenchmark("new tables");

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
      name: `FastAppend commits, ${clients} clients on ${clients} tables (${storeName} store)`,
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
    await loadBenchmark("tables after the commits");
    (rest as RestCatalog).close();
    await uncached.app.close();
  } finally {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
