/**
 * Capture benchmarks against the development PostgreSQL, each Floe beside its baseline in one run:
 *
 * - decode: Floe's Capture (pgoutput decoded into Debezium events, handed to a sink that discards and
 *   acknowledges at once — the decode limit, no Kafka) beside `pg_recvlogical` draining the same WAL
 *   (pgoutput proto 1, raw bytes to /dev/null). Every run reads `ROWS` row changes through its own
 *   slot, all created before the data was written. Target ratio ≥ 0.6.
 * - snapshot: the initial snapshot of a `SNAPSHOT_ROWS`-row table (Capture with snapshot.mode
 *   initial_only, a fresh slot per run, discarding sink) beside `psql -c "COPY … TO STDOUT"` of the same
 *   table to /dev/null. Target ratio ≥ 0.5.
 *
 * Both sides share the machine's cores with the server, so other load moves Floe's side more than the
 * baseline's (psql barely uses the CPU, Floe decodes every row): the 1-minute load average is printed
 * before and after, to quote with the ratio.
 *
 *   npm run bench:capture            (ROWS=500000 SNAPSHOT_ROWS=500000 RUNS=5)
 *   PG_BIN=/usr/lib/postgresql/15/bin picks pg_recvlogical/psql (default: PATH)
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { openSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { servicesUp } from "../scripts/services/index.ts";
import {
  Capture,
  type ChangeBatch,
  type ChangeSink,
  MemoryOffsetStore,
  type SourcePosition,
} from "../src/capture/capture.ts";
import { parseCaptureConfig } from "../src/capture/config.ts";
import { runBenchmark } from "./harness.ts";

const rows = Number(process.env.ROWS ?? 500_000);
const snapshotRows = Number(process.env.SNAPSHOT_ROWS ?? 500_000);
const runs = Number(process.env.RUNS ?? 5);
const only = process.env.ONLY; // "decode" | "snapshot"
const tool = (name: string) => (process.env.PG_BIN ? join(process.env.PG_BIN, name) : name);

/** Acknowledges every batch at once; `done` resolves once `changes` change events have arrived. */
class DiscardingSink implements ChangeSink {
  private listener: ((position: SourcePosition) => void) | null = null;
  events = 0;
  private changesSeen = 0;
  private reached: () => void = () => {};
  readonly done = new Promise<void>((resolve) => {
    this.reached = resolve;
  });
  constructor(private readonly changes = Number.POSITIVE_INFINITY) {}
  async write(batch: ChangeBatch): Promise<void> {
    this.events += batch.events.length;
    for (const event of batch.events) if (event.kind === "change") this.changesSeen++;
    this.listener?.(batch.position);
    if (this.changesSeen >= this.changes) this.reached();
  }
  onDurable(listener: (position: SourcePosition) => void): void {
    this.listener = listener;
  }
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const devNull = openSync("/dev/null", "w");
    const child = spawn(command, args, { stdio: ["ignore", devNull, "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} exited ${code}: ${stderr.trim()}`)),
    );
  });
}

const ddl = (table: string) =>
  `create table ${table} (id bigint primary key, customer int not null, name text not null,
     amount numeric(12,2), created_at timestamptz not null, active boolean)`;
const rowsOf = (table: string, from: number, to: number) =>
  `insert into ${table} select g, g % 1000, 'customer ' || g, (g % 100000) / 100.0,
     timestamptz '2026-01-01' + g * interval '1 second', g % 2 = 0 from generate_series(${from}, ${to}) g`;

async function decodeBenchmark(url: string, sql: pg.Client): Promise<void> {
  await sql.query(ddl("events"));
  await sql.query(
    "create publication bench_decode for table events with (publish_via_partition_root = true)",
  );
  // One slot per run and side, all before the data: each drains the same WAL from the same start.
  const slots = { floe: [] as string[], baseline: [] as string[] };
  for (let index = 0; index < runs; index++)
    for (const side of ["floe", "baseline"] as const) {
      const slot = `bench_${side}_${index}`;
      await sql.query("select pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
      slots[side].push(slot);
    }
  const perTransaction = 1000;
  for (let from = 1; from <= rows; from += perTransaction)
    await sql.query(rowsOf("events", from, Math.min(from + perTransaction - 1, rows)));
  const { rows: wal } = await sql.query<{ lsn: string }>("select pg_current_wal_lsn()::text as lsn");
  const endLsn = wal[0]?.lsn ?? "0/0";
  await runBenchmark({
    name: `capture decode: ${rows} row changes (${rows / perTransaction} transactions) vs pg_recvlogical`,
    items: rows,
    unit: "changes/s",
    runs,
    baseline: async () => {
      const slot = slots.baseline.shift() ?? "";
      await run(tool("pg_recvlogical"), [
        "-d",
        url,
        "--slot",
        slot,
        "--start",
        "--no-loop",
        "-o",
        "proto_version=1",
        "-o",
        "publication_names=bench_decode",
        "--endpos",
        endLsn,
        "-f",
        "-",
      ]);
    },
    floe: async () => {
      const slot = slots.floe.shift() ?? "";
      const sink = new DiscardingSink(rows);
      const capture = new Capture(
        parseCaptureConfig({
          url,
          "slot.name": slot,
          "publication.name": "bench_decode",
          "publication.autocreate.mode": "disabled",
          "table.include.list": "public.events",
          "snapshot.mode": "never",
        }),
        sink,
        new MemoryOffsetStore(),
      );
      await capture.start();
      await sink.done;
      await capture.stop();
    },
  });
  for (const side of ["floe", "baseline"])
    for (let index = 0; index < runs; index++)
      await sql.query(
        "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1",
        [`bench_${side}_${index}`],
      );
}

async function snapshotBenchmark(url: string, sql: pg.Client): Promise<void> {
  await sql.query(ddl("snap"));
  const perStatement = 100_000;
  for (let from = 1; from <= snapshotRows; from += perStatement)
    await sql.query(rowsOf("snap", from, Math.min(from + perStatement - 1, snapshotRows)));
  await sql.query("vacuum analyze snap");
  await sql.query("create publication bench_snap for table snap with (publish_via_partition_root = true)");
  let slotIndex = 0;
  await runBenchmark({
    name: `capture snapshot: ${snapshotRows} rows vs COPY snap TO STDOUT (psql)`,
    items: snapshotRows,
    unit: "rows/s",
    runs,
    baseline: async () => {
      await run(tool("psql"), ["-X", "-q", "-d", url, "-c", "COPY snap TO STDOUT"]);
    },
    floe: async () => {
      const sink = new DiscardingSink();
      const slot = `bench_snap_${slotIndex++}`;
      const capture = new Capture(
        parseCaptureConfig({
          url,
          "slot.name": slot,
          "publication.name": "bench_snap",
          "publication.autocreate.mode": "disabled",
          "table.include.list": "public.snap",
          "snapshot.mode": "initial_only",
        }),
        sink,
        new MemoryOffsetStore(),
      );
      await capture.start();
      await capture.stop();
      await sql.query("select pg_drop_replication_slot($1)", [slot]);
      if (sink.events !== snapshotRows)
        throw new Error(`snapshot emitted ${sink.events} rows, expected ${snapshotRows}`);
    },
  });
}

async function main(): Promise<void> {
  const env = await servicesUp(["postgres"]);
  if (!env.postgres) throw new Error("postgres did not come up");
  const adminUrl = env.postgres.url;
  const database = `floe_bench_capture_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${database}`);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const sql = new pg.Client({ connectionString: url.toString() });
  await sql.connect();
  const load = () => (loadavg()[0] ?? 0).toFixed(2);
  try {
    console.error(`load average (1 min) before: ${load()}`);
    if (only !== "snapshot") await decodeBenchmark(url.toString(), sql);
    if (only !== "decode") await snapshotBenchmark(url.toString(), sql);
    console.error(`load average (1 min) after: ${load()}`);
  } finally {
    await sql.end();
    await admin.query(
      "select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = $1 and not active",
      [database],
    );
    await admin.query(`drop database ${database} with (force)`);
    await admin.end();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
