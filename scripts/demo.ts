/**
 * `npm run demo`: Floe's main job on embedded defaults. An embedded PostgreSQL with a small shop schema
 * and a live workload of inserts, updates and deletes → `floe serve` on a local table bucket →
 * `floe replicate` (capture + sink, exactly once) → a `floe dump` of a table with DuckDB → `floe verify`
 * of every table (PostgreSQL and Iceberg compared at one consistent point, src/verify) → a short report
 * (rows replicated, freshness, the verify result) and how to read the tables with DuckDB or pyiceberg.
 * Ctrl-C stops the workload early and still shuts down cleanly.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { parseLsn } from "../src/capture/index.ts";
import type { Catalog } from "../src/catalog/catalog.ts";
import { openRestCatalog } from "../src/cli/dump.ts";
import { dumpTable } from "../src/dump/dump.ts";
import { describeError } from "../src/errors.ts";
import { NamespaceOffsetStore } from "../src/replicate/direct.ts";
import { startReplication } from "../src/replicate/run.ts";
import { startServer } from "../src/server/server.ts";
import { formatReport, type VerifyReport, verdict, verifyTable } from "../src/verify/index.ts";
import { repoRoot } from "./services/common.ts";
import { servicesUp } from "./services/index.ts";

const workloadSeconds = Number(process.env.FLOE_DEMO_SECONDS ?? 10);
const database = "floe_demo";
const slot = "floe_demo";
const publication = "floe_demo";

type Op = "insert" | "update" | "delete";
type TableName = "customers" | "orders";
type Counts = Record<TableName, Record<Op, number>>;
const tables: TableName[] = ["customers", "orders"];
const ops: Op[] = ["insert", "update", "delete"];

const emptyCounts = (): Counts => ({
  customers: { insert: 0, update: 0, delete: 0 },
  orders: { insert: 0, update: 0, delete: 0 },
});

async function resetDatabase(adminUrl: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(
      "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1",
      [slot],
    );
    await admin.query(`drop database if exists ${database} with (force)`);
    await admin.query(`create database ${database}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function createSchema(sql: pg.Client) {
  await sql.query(`
    create table customers (
      id serial primary key,
      name text not null,
      email text not null unique,
      created_at timestamptz not null default now()
    );
    create table orders (
      id bigserial primary key,
      customer_id int not null references customers(id),
      status text not null,
      total numeric(12,2) not null,
      updated_at timestamptz not null default now()
    );
  `);
}

/** Random small transactions for `seconds`; returns the changes it committed, by table and op. */
async function runWorkload(sql: pg.Client, seconds: number, stop: () => boolean) {
  const committed = emptyCounts();
  let transactions = 0;
  const deadline = Date.now() + seconds * 1000;
  const statuses = ["new", "paid", "shipped", "delivered"];
  let customerSeq = 0;
  while (Date.now() < deadline && !stop()) {
    const pending = emptyCounts();
    await sql.query("begin");
    const roll = Math.random();
    if (roll < 0.3 || customerSeq < 5) {
      customerSeq++;
      await sql.query("insert into customers (name, email) values ($1, $2)", [
        `customer ${customerSeq}`,
        `c${customerSeq}@example.com`,
      ]);
      pending.customers.insert++;
    }
    const inserts = 1 + Math.floor(Math.random() * 3);
    for (let i = 0; i < inserts; i++) {
      await sql.query(
        "insert into orders (customer_id, status, total) select id, 'new', $1 from customers order by random() limit 1",
        [(Math.random() * 500).toFixed(2)],
      );
      pending.orders.insert++;
    }
    const updated = await sql.query(
      "update orders set status = $1, updated_at = now() where id in (select id from orders order by random() limit 2)",
      [statuses[Math.floor(Math.random() * statuses.length)]],
    );
    pending.orders.update += updated.rowCount ?? 0;
    if (Math.random() < 0.3) {
      const deleted = await sql.query(
        "delete from orders where id in (select id from orders where status = 'delivered' order by id limit 1)",
      );
      pending.orders.delete += deleted.rowCount ?? 0;
    }
    await sql.query("commit");
    transactions++;
    for (const table of tables) for (const op of ops) committed[table][op] += pending[table][op];
    await new Promise((r) => setTimeout(r, 20));
  }
  return { committed, transactions };
}

/**
 * Freshness end to end: waits until floe replicate has acknowledged everything PostgreSQL wrote up to
 * now (its offset, stored with the catalog, passes the current WAL position) and returns how long that
 * took; undefined after 60 s. Capture's heartbeat message lets an idle replicate confirm that position.
 */
async function waitForLake(sql: pg.Client, catalog: Catalog): Promise<number | undefined> {
  const started = Date.now();
  const { rows } = await sql.query<{ lsn: string }>("select pg_current_wal_lsn()::text as lsn");
  const target = parseLsn(rows[0]!.lsn);
  const offsets = new NamespaceOffsetStore(catalog, ["shop"], slot);
  while (Date.now() - started < 60_000) {
    const offset = await offsets.load();
    if (offset?.snapshotCompleted && parseLsn(offset.lsn) >= target) return Date.now() - started;
    await sql.query("select pg_logical_emit_message(false, 'floe.heartbeat', '')");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return undefined;
}

/** Drops the demo's replication slot and publication; returns a warning when that failed. */
async function dropReplication(sql: pg.Client): Promise<string | undefined> {
  try {
    await sql.query(
      "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1",
      [slot],
    );
    await sql.query(`drop publication if exists ${publication}`);
    return undefined;
  } catch (error) {
    return `could not drop replication slot ${slot}: ${describeError(error)}`;
  }
}

/** The middle value of a list of numbers (0 for none). */
function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<number> {
  let interrupted = false;
  process.on("SIGINT", () => {
    interrupted = true;
    console.error("\nstopping (Ctrl-C) ...");
  });
  const demoDir = join(repoRoot, ".floe", "demo");
  rmSync(demoDir, { recursive: true, force: true });

  console.log("Floe demo: starting the embedded PostgreSQL (first run initialises it) ...");
  const env = await servicesUp(["postgres"]);
  if (!env.postgres) throw new Error("PostgreSQL did not start");
  const url = await resetDatabase(env.postgres.url);
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  await createSchema(sql);
  console.log(`database ${database}: tables customers, orders`);

  const server = await startServer({
    dataDir: join(demoDir, "serve"),
    host: "127.0.0.1",
    port: 0,
    logger: false,
    maintenanceIntervalMs: 0,
    auth: { anonymous: true }, // a local demo on 127.0.0.1: the same as `floe serve --allow-anonymous`
  });
  await server.buckets.create("demo");
  const catalog = await openRestCatalog(server.url, "demo");
  console.log(`floe serve: ${server.url} (Iceberg REST catalog ${server.catalogUri}, bucket "demo")`);

  // The sink's commit-round lines carry the changes committed and the round's freshness (now − the
  // newest source commit in it): the demo's measure of rows replicated and of how fresh the lake is.
  let rounds = 0;
  let rowsReplicated = 0;
  const freshness: number[] = [];
  const replication = await startReplication({
    pgUrl: url,
    catalog,
    namespace: ["shop"],
    tables: ["customers", "orders"],
    slotName: slot,
    publicationName: publication,
    commitIntervalMs: 1000,
    log: (line) => {
      if (!line.startsWith("commit round")) return;
      rounds++;
      rowsReplicated += Number(/ rows=(\d+)/.exec(line)?.[1] ?? 0);
      const ms = /freshness=(\d+)ms/.exec(line)?.[1];
      if (ms !== undefined) freshness.push(Number(ms));
    },
  });
  replication.done.catch((error: unknown) => console.error(`replication failed: ${describeError(error)}`));
  console.log("floe replicate: capture → sink running (commit rounds every 1 s)");

  console.log(`running a live workload for ${workloadSeconds} s (inserts, updates, deletes) ...`);
  const { committed, transactions } = await runWorkload(sql, workloadSeconds, () => interrupted);
  const caughtUpMs = await waitForLake(sql, catalog);

  // The dump and verify run while floe replicate keeps running: verify waits for the lake to reach its
  // PostgreSQL snapshot (and rolls PostgreSQL forward to the lake's exact position if the lake is ahead).
  const dumpPath = join(demoDir, "orders.parquet");
  const dumped = await dumpTable(
    { catalog, identifier: { namespace: ["shop"], name: "orders" } },
    { out: dumpPath, format: "parquet", overwrite: true },
  );
  const reports: VerifyReport[] = [];
  let verifyFailure: string | undefined;
  try {
    for (const table of tables)
      reports.push(
        await verifyTable({
          pgUrl: url,
          catalog,
          identifier: { namespace: ["shop"], name: table },
          label: `demo.shop.${table}`,
          replicateSlot: slot,
        }),
      );
  } catch (error) {
    verifyFailure = describeError(error);
  }
  await replication.stop();
  const orders = await catalog.loadTable({ namespace: ["shop"], name: "orders" });
  // The replication slot would hold PostgreSQL's WAL until the next run; the next run starts afresh anyway.
  const cleanup = await dropReplication(sql);
  await sql.end();

  const equal = verifyFailure === undefined && reports.every((report) => report.equal);
  console.log("\n=== Floe demo report ===");
  console.log(
    `rows replicated: ${rowsReplicated} changes in ${rounds} commit rounds (${transactions} source transactions)`,
  );
  for (const table of tables) {
    const c = committed[table];
    const report = reports.find((r) => r.table === `demo.shop.${table}`);
    const rows = report
      ? `; rows now: PostgreSQL ${report.postgres.rows}, Iceberg ${report.iceberg.rows}`
      : "";
    console.log(
      `  ${table.padEnd(10)} source changes ins/upd/del ${c.insert}/${c.update}/${c.delete}${rows}`,
    );
  }
  console.log(
    caughtUpMs === undefined
      ? "freshness: the lake did not catch up within 60 s"
      : `freshness: the lake held the last source commit ${caughtUpMs} ms after it; commit rounds landed a median ${median(freshness)} ms (max ${Math.max(0, ...freshness)} ms) after their newest source commit`,
  );
  console.log(`dump: ${dumped.rows} rows of shop.orders (snapshot ${dumped.snapshotId}) → ${dumpPath}`);
  if (verifyFailure !== undefined) console.log(`verify: FAILED — ${verifyFailure}`);
  else {
    console.log(
      equal
        ? `verify: EQUAL — ${reports.map((r) => r.table).join(" and ")} equal PostgreSQL at one consistent point (floe verify)`
        : `verify: DIFFERENT — ${reports.map((r) => `${r.table} ${verdict(r)}`).join("; ")}`,
    );
    for (const report of reports) console.log(formatReport(report).trimEnd().replace(/^/gm, "  "));
  }
  console.log("\nRead it yourself:");
  console.log(`  duckdb -c "select status, count(*) from '${dumpPath}' group by all"`);
  console.log(
    `  duckdb -c "install iceberg; load iceberg; select count(*) from iceberg_scan('${orders.metadataLocation}')"`,
  );
  console.log(
    `  python -c "from pyiceberg.table import StaticTable; print(StaticTable.from_metadata('${orders.metadataLocation}').scan().to_arrow().num_rows)"`,
  );
  console.log(
    "  or run `npm run floe -- serve --data-dir .floe/demo/serve --allow-anonymous` and point any Iceberg REST client at",
  );
  console.log("  http://127.0.0.1:8181/iceberg with warehouse=demo.");
  console.log(cleanup ?? `replication slot ${slot} and its publication dropped.`);
  console.log("PostgreSQL keeps running for the next run; stop it with: npm run services -- down");
  await server.close();
  return equal ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`demo failed: ${describeError(error)}`);
    process.exit(1);
  },
);
