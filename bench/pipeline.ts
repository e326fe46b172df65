/**
 * The pipeline benchmark (issue #6): PostgreSQL → Iceberg end to end, beside pg_recvlogical's raw drain
 * of the same WAL, in one run.
 *
 * 1. Throughput. One own database; a table (bigint pk, text, numeric, timestamptz, jsonb) gets `--rows`
 *    row changes (70 % inserts, 20 % updates, 10 % deletes, 1000-change transactions) written AFTER one
 *    slot per side and repetition was created, so every side drains the same WAL range. Per repetition:
 *    - raw: `pg_recvlogical --start --endpos <end> -o proto_version=1` to /dev/null (as bench/capture.ts);
 *    - direct: `startReplication` (what `floe replicate` runs) into a local warehouse (in-memory
 *      StoreCatalog, LocalFileIO), until a committed snapshot's `floe.source.lsn` covers the last
 *      transaction;
 *    - kafka: `KafkaCapture` (what `floe capture` runs) → a 3-partition topic → `startKafkaSink` (one
 *      worker, default 1 s commit interval), until the Iceberg table holds every row.
 *    Floe's clock starts when its pipeline starts reading (the Kafka sink has already joined its group,
 *    a long-running service) and stops when the catalog commit that completes the table returns. Each
 *    run ends with a check that the Iceberg table's row count and sum(id) equal PostgreSQL's.
 * 2. Freshness. A steady `--rate` rows/s (transactions of 8 inserts + 2 updates from two connections)
 *    for `--seconds` into a second table whose `seq` column numbers the writing transaction; the
 *    generator records the clock time each COMMIT returned. Every catalog commit of the table is
 *    timestamped when it returns; the rows its new data files hold (read by `seq`) became visible then.
 *    Latency per row version = visible − commit; p50/p99 over the steady state (the first `--warmup` s
 *    excluded).
 * 3. Peak RSS: every Floe run is its own child process (`process.resourceUsage().maxRSS`).
 *
 *   npm run bench:pipeline -- [--rows 200000] [--reps 3] [--rate 5000] [--seconds 20] [--warmup 2]
 *                             [--only throughput|freshness]     PG_BIN=… picks pg_recvlogical
 *
 * Targets (#6): direct ≥ 0.5× raw, Kafka ≥ 0.35× raw, freshness p99 ≤ 2 s, peak RSS ≤ 512 MB.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Admin } from "@platformatic/kafka";
import pg from "pg";
import { servicesUp } from "../scripts/services/index.ts";
import { parseCaptureConfig, parseLsn } from "../src/capture/index.ts";
import type { CommitTableRequest, LoadedTable } from "../src/catalog/catalog.ts";
import { InMemoryCatalogStore } from "../src/catalog/catalog-store.ts";
import { StoreCatalog } from "../src/catalog/store-catalog.ts";
import { DataFileContent, ManifestEntryStatus } from "../src/iceberg/data-file.ts";
import { sqlString, withDuckDb } from "../src/iceberg/duckdb.ts";
import { decodeManifest } from "../src/iceberg/manifest.ts";
import { decodeManifestList, ManifestContent } from "../src/iceberg/manifest-list.ts";
import { createScanView } from "../src/iceberg/reader.ts";
import { planScan } from "../src/iceberg/scan.ts";
import type { Snapshot } from "../src/iceberg/snapshot.ts";
import { currentSnapshot, snapshotById } from "../src/iceberg/table-metadata.ts";
import { LocalFileIO, localLocationOf, localPathOf } from "../src/io/index.ts";
import { parseKafkaCaptureConfig } from "../src/kafka/config.ts";
import { KafkaCapture } from "../src/kafka/kafka-capture.ts";
import { startReplication, tableIncludeList } from "../src/replicate/run.ts";
import { parsePosition } from "../src/sink/change.ts";
import { createDebeziumDecoder } from "../src/sink/kafka/decode.ts";
import { startKafkaSink } from "../src/sink/kafka/sink.ts";
import { committedPosition } from "../src/sink/position.ts";
import type { BenchmarkResult } from "./harness.ts";

// ---------------------------------------------------------------------------------------------------------
// Shared helpers.

const MSG = "@@"; // child → parent protocol lines on stdout

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const tool = (name: string) => (process.env.PG_BIN ? join(process.env.PG_BIN, name) : name);

type Mode = "direct" | "kafka";

/** What a child process is asked to run. */
interface ChildSpec {
  mode: Mode;
  kind: "throughput" | "freshness";
  pgUrl: string;
  brokers: string[];
  table: string;
  slot: string;
  publication: string;
  /** Throughput: known up front; freshness: sent on stdin when the load ended. */
  end?: EndSpec;
  timeoutMs: number;
}

interface EndSpec {
  /** An LSN inside the last transaction: a committed position at or past it covers every change. */
  markLsn: string;
  /** Change events the source produced (the Kafka sink has consumed all of them when its count reaches this). */
  changes: number;
  /** PostgreSQL's count(*) and sum(id) of the rows the Iceberg table must hold. */
  rows: number;
  idSum: string;
}

interface ChildResult {
  mode: Mode;
  kind: string;
  /** Pipeline start → the catalog commit that completed the table. */
  ms: number;
  /** Kafka: pipeline start → the capture slot confirmed past the last change (everything in Kafka). */
  captureMs?: number;
  maxRssMb: number;
  commits: number;
  icebergRows: number;
  icebergIdSum: string;
  /** Files the table references that no longer exist after the pipeline stopped. */
  missingAfterStop: number;
}

/** Every catalog commit reported, with the time it returned (the moment a reader can see it). */
class WatchedCatalog extends StoreCatalog {
  listener: (at: number, tables: LoadedTable[]) => void = () => {};
  override async commitTable(request: CommitTableRequest): Promise<LoadedTable> {
    const table = await super.commitTable(request);
    this.listener(Date.now(), [table]);
    return table;
  }
  override async commitTransaction(requests: readonly CommitTableRequest[]): Promise<LoadedTable[]> {
    const tables = await super.commitTransaction(requests);
    this.listener(Date.now(), tables);
    return tables;
  }
}

/** count(*) and sum(id) of one snapshot of the table, through Floe's scan (deletes applied). */
async function countRows(table: LoadedTable, snapshotId: bigint): Promise<{ rows: number; idSum: string }> {
  return withDuckDb(async (connection) => {
    const view = await createScanView(connection, table, "bench_count", { snapshotId, columns: ["id"] });
    try {
      const result = await connection.runAndReadAll(
        "select count(*)::bigint, coalesce(sum(id), 0)::hugeint::varchar from bench_count",
      );
      const [count, sum] = result.getRows()[0] ?? [0n, "0"];
      return { rows: Number(count), idSum: String(sum) };
    } finally {
      await view.release();
    }
  });
}

/** count(*) and sum(id), or an error saying which files the snapshot references that are missing. */
async function checkedCount(table: LoadedTable, snapshotId: bigint, what: string) {
  try {
    return await countRows(table, snapshotId);
  } catch (error) {
    const plan = await planScan(table, { snapshotId });
    const files = plan.tasks.flatMap((t) => [t.dataFile, ...t.deletes]);
    const missing = [...new Set(files.map((f) => f.filePath))].filter((p) => !existsSync(localPathOf(p)));
    const snapshot = snapshotById(table.metadata, snapshotId);
    throw new Error(
      `${what}: counting snapshot ${snapshotId} failed (${(error as Error).message.split("\n")[0]}); ` +
        `${missing.length} of ${files.length} referenced files missing: ${missing.join(", ")}; ` +
        `summary ${JSON.stringify(snapshot?.summary)}; snapshots ${table.metadata.snapshots.length}`,
    );
  }
}

/** Paths of the data files a snapshot added. */
async function addedDataFiles(table: LoadedTable, snapshot: Snapshot): Promise<string[]> {
  const list = decodeManifestList(await table.io.read(snapshot.manifestList));
  const paths: string[] = [];
  for (const manifest of list.manifests) {
    if (manifest.addedSnapshotId !== snapshot.snapshotId || manifest.content !== ManifestContent.DATA)
      continue;
    if (manifest.addedFilesCount === 0) continue;
    const decoded = decodeManifest(await table.io.read(manifest.manifestPath), { inherit: manifest });
    for (const entry of decoded.entries)
      if (entry.status === ManifestEntryStatus.ADDED && entry.dataFile.content === DataFileContent.DATA)
        paths.push(entry.dataFile.filePath);
  }
  return paths;
}

// ---------------------------------------------------------------------------------------------------------
// Child: one Floe pipeline (direct or Kafka) in its own process.

function send(message: Record<string, unknown>): void {
  process.stdout.write(`${MSG}${JSON.stringify(message)}\n`);
}

async function runChild(spec: ChildSpec): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "floe-bench-pipeline-"));
  const catalog = new WatchedCatalog({
    name: "bench",
    store: new InMemoryCatalogStore(),
    io: new LocalFileIO(),
    warehouse: localLocationOf(dir),
  });
  const namespace = ["bench"];
  const tag = randomBytes(4).toString("hex");
  const prefix = `floebench_${tag}`;
  const topic = `${prefix}.public.${spec.table}`;
  const controlTopic = `${prefix}.control`;
  const cleanups: Array<() => Promise<unknown>> = [];
  const deadline = Date.now() + spec.timeoutMs;
  // BENCH_LOG=<dir>: the pipeline's log lines, one file per child.
  const logFile = process.env.BENCH_LOG
    ? join(process.env.BENCH_LOG, `${spec.mode}-${spec.kind}-${tag}.log`)
    : undefined;
  const log = (line: string) => {
    if (logFile) appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`);
  };

  // Commits of the table, in order; processed off the commit path.
  const commits: Array<{ at: number; table: LoadedTable }> = [];
  let wake: () => void = () => {};
  catalog.listener = (at, tables) => {
    for (const table of tables)
      if (
        table.identifier.name === spec.table &&
        table.identifier.namespace.join(".") === namespace.join(".")
      ) {
        commits.push({ at, table });
        wake();
      }
  };
  const nextCommit = async (index: number) => {
    while (commits.length <= index) {
      if (Date.now() > deadline)
        throw new Error(`${spec.mode} ${spec.kind}: timed out after ${commits.length} commits`);
      await Promise.race([new Promise<void>((resolve) => (wake = resolve)), sleep(500)]);
    }
    return commits[index]!;
  };

  let start = 0;
  let changesConsumed = () => 0;
  let failed: Promise<never> = new Promise(() => {});
  let stop: () => Promise<void> = async () => {};
  let captureDoneAt: number | undefined;

  const captureSettings = {
    "snapshot.mode": "never",
    "publication.autocreate.mode": "disabled",
  };
  if (spec.mode === "direct") {
    start = Date.now();
    const replication = await startReplication({
      pgUrl: spec.pgUrl,
      catalog,
      namespace,
      tables: [spec.table],
      slotName: spec.slot,
      publicationName: spec.publication,
      capture: captureSettings,
      log,
    });
    failed = replication.done.then(() => {
      throw new Error("replication ended");
    });
    stop = () => replication.stop();
  } else {
    const admin = new Admin({ clientId: `floe-bench-${tag}`, bootstrapBrokers: spec.brokers });
    await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 });
    cleanups.push(async () => {
      for (const name of [topic, controlTopic, `${prefix}.offsets`, prefix])
        await admin.deleteTopics({ topics: [name] }).catch(() => {});
      await admin.close();
    });
    const sink = await startKafkaSink({
      sinkId: `floe-bench-${tag}`,
      brokers: spec.brokers,
      topics: [topic],
      controlTopic,
      catalog,
      namespace,
      decode: createDebeziumDecoder(),
      workerId: "w1",
      log,
    });
    changesConsumed = () => sink.worker.stats.changes;
    start = Date.now();
    const settings = {
      ...captureSettings,
      url: spec.pgUrl,
      slotName: spec.slot,
      publicationName: spec.publication,
      topicPrefix: prefix,
      tableIncludeList: tableIncludeList([spec.table]),
      brokers: spec.brokers,
      clientId: `floe-bench-capture-${tag}`,
      topicPartitions: 3,
      topicReplicationFactor: 1,
    };
    const capture = await KafkaCapture.open({
      capture: parseCaptureConfig(settings),
      kafka: parseKafkaCaptureConfig(settings),
    });
    await capture.start();
    failed = Promise.race([
      sink.failed,
      capture.done.then(() => {
        throw new Error("capture ended");
      }),
    ]);
    stop = async () => {
      await capture.stop();
      await sink.close();
    };
  }
  failed.catch(() => {});
  send({ ready: true });

  // Freshness: every new snapshot's added rows, by seq, with the time its commit returned.
  let watching = spec.kind === "freshness";
  let seenSnapshot: bigint | undefined;
  const observations: Array<Promise<void>> = [];
  const observe = async (at: number, table: LoadedTable) => {
    const fresh: Snapshot[] = [];
    for (let s = currentSnapshot(table.metadata); s && s.snapshotId !== seenSnapshot; ) {
      fresh.push(s);
      s = s.parentSnapshotId === undefined ? undefined : snapshotById(table.metadata, s.parentSnapshotId);
    }
    seenSnapshot = currentSnapshot(table.metadata)?.snapshotId;
    const paths: string[] = [];
    for (const snapshot of fresh) paths.push(...(await addedDataFiles(table, snapshot)));
    if (paths.length === 0) return;
    const list = paths.map((p) => sqlString(localPathOf(p))).join(", ");
    const rows = await withDuckDb(async (connection) =>
      (
        await connection.runAndReadAll(
          `select seq, count(*)::bigint from read_parquet([${list}]) group by seq`,
        )
      ).getRows(),
    );
    send({ seen: at, seqs: rows.map(([seq, count]) => [Number(seq), Number(count)]) });
  };

  // Freshness runs wait for the parent's end spec on stdin.
  let end = spec.end;
  if (!end) {
    const lines = createInterface({ input: process.stdin });
    end = await new Promise<EndSpec>((resolve) => lines.once("line", (line) => resolve(JSON.parse(line))));
    lines.close();
  }
  const markLsn = parseLsn(end.markLsn);

  // Kafka: when has capture put everything into Kafka? (the slot is confirmed after the broker's acks)
  let pollSlot: Promise<void> = Promise.resolve();
  if (spec.mode === "kafka") {
    const sql = new pg.Client({ connectionString: spec.pgUrl });
    await sql.connect();
    pollSlot = (async () => {
      while (captureDoneAt === undefined && Date.now() < deadline) {
        const { rows } = await sql.query<{ lsn: string | null }>(
          "select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = $1",
          [spec.slot],
        );
        const lsn = rows[0]?.lsn;
        if (lsn && parseLsn(lsn) >= markLsn) captureDoneAt = Date.now();
        else await sleep(100);
      }
      await sql.end();
    })();
  }

  // Walk the commits until the table is complete.
  let doneAt: number | undefined;
  let last: LoadedTable | undefined;
  let index = 0;
  for (; doneAt === undefined; index++) {
    const commit = await Promise.race([nextCommit(index), failed]);
    last = commit.table;
    if (watching) observations.push(observe(commit.at, commit.table));
    const snapshot = currentSnapshot(commit.table.metadata);
    if (!snapshot) continue;
    if (spec.mode === "direct") {
      const position = committedPosition(commit.table);
      if (position !== undefined && parsePosition(position).lsn >= markLsn) doneAt = commit.at;
    } else if (changesConsumed() >= end.changes) {
      const counted = await checkedCount(commit.table, snapshot.snapshotId, `commit ${index}`);
      if (counted.rows === end.rows) doneAt = commit.at;
      else if (counted.rows > end.rows)
        throw new Error(`kafka: the Iceberg table has ${counted.rows} rows, PostgreSQL ${end.rows}`);
    }
  }
  watching = false;
  await Promise.all(observations);
  await pollSlot;
  const ms = doneAt - start;
  // The row check on the snapshot that completed the table, while the pipeline still runs.
  const counted = await checkedCount(last!, currentSnapshot(last!.metadata)!.snapshotId, "complete");
  await stop();
  for (const cleanup of cleanups) await cleanup();
  // After a clean stop every file of the table must still exist.
  const final = await catalog.loadTable({ namespace, name: spec.table });
  const plan = await planScan(final);
  const referenced = [
    ...new Set(plan.tasks.flatMap((t) => [t.dataFile, ...t.deletes]).map((f) => f.filePath)),
  ];
  const missingAfterStop = referenced.filter((p) => !existsSync(localPathOf(p))).length;
  rmSync(dir, { recursive: true, force: true });
  const result: ChildResult = {
    mode: spec.mode,
    kind: spec.kind,
    ms,
    ...(captureDoneAt !== undefined ? { captureMs: captureDoneAt - start } : {}),
    maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    commits: index,
    icebergRows: counted.rows,
    icebergIdSum: counted.idSum,
    missingAfterStop,
  };
  send({ result });
}

// ---------------------------------------------------------------------------------------------------------
// Parent: data, slots, the raw baseline, children, the report.

interface ChildHandle {
  /** Resolves on `{ready}`. */
  ready: Promise<void>;
  result: Promise<ChildResult>;
  /** Sends the end spec (freshness). */
  end(spec: EndSpec): void;
  /** `{seen, seqs}` messages (freshness). */
  seen: Array<{ seen: number; seqs: Array<[number, number]> }>;
}

function startChild(spec: ChildSpec): ChildHandle {
  const child = spawn(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), "--child", JSON.stringify(spec)],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const seen: ChildHandle["seen"] = [];
  let onReady: () => void = () => {};
  let result: ChildResult | undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const lines = createInterface({ input: child.stdout });
  lines.on("line", (line) => {
    if (!line.startsWith(MSG)) return;
    const message = JSON.parse(line.slice(MSG.length));
    if (message.ready) onReady();
    else if (message.seen !== undefined) seen.push(message);
    else if (message.result) result = message.result;
  });
  const done = new Promise<ChildResult>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      if (code === 0 && result) resolve(result);
      else reject(new Error(`${spec.mode} ${spec.kind} child exited ${code}: ${stderr.trim()}`));
    });
  });
  done.catch(() => {});
  return {
    ready: Promise.race([ready, done.then(() => {})]),
    result: done,
    end: (end) => child.stdin.end(`${JSON.stringify(end)}\n`),
    seen,
  };
}

function runTool(command: string, args: string[]): Promise<void> {
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

interface Options {
  rows: number;
  reps: number;
  rate: number;
  seconds: number;
  warmup: number;
  only: string | undefined;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { rows: 200_000, reps: 3, rate: 5000, seconds: 20, warmup: 2, only: undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    i++;
    switch (flag) {
      case "--rows":
      case "--reps":
      case "--rate":
      case "--seconds":
      case "--warmup":
        options[flag.slice(2) as "rows" | "reps" | "rate" | "seconds" | "warmup"] = Number(value);
        break;
      case "--only":
        options.only = value;
        break;
      default:
        throw new Error(`unknown flag ${flag}`);
    }
  }
  return options;
}

async function createSlot(sql: pg.Client, slot: string): Promise<void> {
  await sql.query("select pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
}

async function tableTotals(sql: pg.Client, query: string): Promise<{ rows: number; idSum: string }> {
  const { rows } = await sql.query<{ rows: string; id_sum: string }>(query);
  return { rows: Number(rows[0]?.rows ?? 0), idSum: rows[0]?.id_sum ?? "0" };
}

/** The last transaction: one marker row, and an LSN taken inside it (before its commit record). */
async function markerTransaction(
  sql: pg.Client,
  insert: string,
): Promise<{ markLsn: string; endLsn: string }> {
  await sql.query("begin");
  await sql.query(insert);
  const { rows } = await sql.query<{ lsn: string }>("select pg_current_wal_insert_lsn()::text as lsn");
  await sql.query("commit");
  const end = await sql.query<{ lsn: string }>("select pg_current_wal_lsn()::text as lsn");
  return { markLsn: rows[0]!.lsn, endLsn: end.rows[0]!.lsn };
}

interface ThroughputReport {
  changes: number;
  raw: number[];
  direct: ChildResult[];
  kafka: ChildResult[];
  rows: number;
  problems: string[];
}

async function throughput(
  url: string,
  sql: pg.Client,
  brokers: string[],
  options: Options,
  tag: string,
): Promise<ThroughputReport> {
  await sql.query(`create table bench (id bigint primary key, note text not null, amount numeric(12,2),
      at timestamptz not null, doc jsonb)`);
  await sql.query("create publication bench_pub for table bench");
  const slots = { raw: [] as string[], direct: [] as string[], kafka: [] as string[] };
  for (let rep = 0; rep < options.reps; rep++)
    for (const side of ["raw", "direct", "kafka"] as const) {
      const slot = `floebench_${tag}_${side}_${rep}`;
      await createSlot(sql, slot);
      slots[side].push(slot);
    }
  // The changes: transactions of 700 inserts, 200 updates (of the previous transaction's rows) and
  // 100 deletes (of the previous transaction's last rows).
  let changes = 0;
  const generated = Date.now();
  for (let t = 0; changes < options.rows - 1; t++) {
    const base = t * 700;
    await sql.query("begin");
    const inserted = await sql.query(
      `insert into bench select g, 'note ' || g, (g % 100000) / 100.0, timestamptz '2026-01-01' + g * interval '1 second',
         jsonb_build_object('g', g, 'tag', 'v' || (g % 7), 'list', jsonb_build_array(g % 3, g % 5))
       from generate_series(${base + 1}, ${base + Math.min(700, options.rows - 1 - changes)}) g`,
    );
    changes += inserted.rowCount ?? 0;
    if (t > 0 && changes < options.rows - 1) {
      const previous = base - 700;
      const updated = await sql.query(
        `update bench set amount = amount + 1, note = note || '+', doc = doc || '{"u": 1}'
         where id between ${previous + 1} and ${previous + Math.min(200, options.rows - 1 - changes)}`,
      );
      changes += updated.rowCount ?? 0;
    }
    if (t > 0 && changes < options.rows - 1) {
      const previous = base - 700;
      const count = Math.min(100, options.rows - 1 - changes);
      const deleted = await sql.query(
        `delete from bench where id between ${previous + 701 - count} and ${previous + 700}`,
      );
      changes += deleted.rowCount ?? 0;
    }
    await sql.query("commit");
  }
  const { markLsn, endLsn } = await markerTransaction(
    sql,
    "insert into bench values (-1, 'marker', 0, now(), '{}')",
  );
  changes++;
  const totals = await tableTotals(sql, "select count(*) as rows, sum(id)::text as id_sum from bench");
  console.error(
    `throughput: ${changes} changes written in ${Date.now() - generated} ms (${totals.rows} rows remain), WAL up to ${endLsn}`,
  );
  const end: EndSpec = { markLsn, changes, rows: totals.rows, idSum: totals.idSum };
  const report: ThroughputReport = {
    changes,
    raw: [],
    direct: [],
    kafka: [],
    rows: totals.rows,
    problems: [],
  };
  const timeoutMs = 180_000 + changes * 2;
  for (let rep = 0; rep < options.reps; rep++) {
    const started = performance.now();
    await runTool(tool("pg_recvlogical"), [
      "-d",
      url,
      "--slot",
      slots.raw[rep]!,
      "--start",
      "--no-loop",
      "-o",
      "proto_version=1",
      "-o",
      "publication_names=bench_pub",
      "--endpos",
      endLsn,
      "-f",
      "-",
    ]);
    report.raw.push(performance.now() - started);
    for (const mode of ["direct", "kafka"] as const) {
      const child = startChild({
        mode,
        kind: "throughput",
        pgUrl: url,
        brokers,
        table: "bench",
        slot: slots[mode][rep]!,
        publication: "bench_pub",
        end,
        timeoutMs,
      });
      try {
        const result = await child.result;
        if (result.icebergRows !== totals.rows || result.icebergIdSum !== totals.idSum)
          report.problems.push(
            `${mode} rep ${rep + 1}: Iceberg has ${result.icebergRows} rows (sum(id) ${result.icebergIdSum}), PostgreSQL ${totals.rows} (${totals.idSum})`,
          );
        if (result.missingAfterStop > 0)
          report.problems.push(
            `${mode} rep ${rep + 1}: after a clean stop ${result.missingAfterStop} files the table references are gone`,
          );
        report[mode].push(result);
      } catch (error) {
        report.problems.push(`${mode} rep ${rep + 1}: ${(error as Error).message}`);
      }
    }
    const last = (mode: Mode) => report[mode][report[mode].length - 1];
    console.error(
      `rep ${rep + 1}: raw ${Math.round(report.raw[rep]!)} ms, direct ${last("direct")?.ms ?? "-"} ms, kafka ${last("kafka")?.ms ?? "-"} ms (capture → Kafka ${last("kafka")?.captureMs ?? "-"} ms)`,
    );
  }
  for (const side of ["raw", "direct", "kafka"] as const)
    for (const slot of slots[side]) await dropSlot(sql, slot);
  return report;
}

async function dropSlot(sql: pg.Client, slot: string): Promise<void> {
  // The walsender may hold the slot a moment after its client left.
  for (let attempt = 0; attempt < 50; attempt++) {
    const { rows } = await sql.query<{ active: boolean }>(
      "select active from pg_replication_slots where slot_name = $1",
      [slot],
    );
    if (rows.length === 0) return;
    if (!rows[0]!.active) {
      await sql.query("select pg_drop_replication_slot($1)", [slot]);
      return;
    }
    await sleep(200);
  }
}

interface FreshnessReport {
  mode: Mode;
  achievedRate: number;
  transactions: number;
  p50: number;
  p99: number;
  max: number;
  measuredRows: number;
  unseen: number;
  result?: ChildResult;
  problem?: string;
}

const ROWS_PER_TX = 10; // 8 inserts + 2 updates
const INSERTS_PER_TX = 8;

async function freshness(
  url: string,
  sql: pg.Client,
  brokers: string[],
  options: Options,
  tag: string,
  mode: Mode,
): Promise<FreshnessReport> {
  const table = `fresh_${mode}`;
  const txPerSecond = options.rate / ROWS_PER_TX;
  const expectedTx = Math.ceil(txPerSecond * options.seconds);
  // Updates touch rows G transactions old (about 10 s at the rate), before that the pre-filled rows
  // (negative ids, not captured), so no row changes twice within a few commit rounds.
  const gap = Math.max(100, Math.round(txPerSecond * 10));
  await sql.query(`create table ${table} (id bigint primary key, seq bigint not null, note text,
      amount numeric(12,2), written_at timestamptz not null, doc jsonb)`);
  await sql.query(
    `insert into ${table} select -g, -1, 'prefill', 0, now(), '{}' from generate_series(1, ${2 * gap}) g`,
  );
  await sql.query(`create publication ${table}_pub for table ${table}`);
  const slot = `floebench_${tag}_${table}`;
  await createSlot(sql, slot);
  const child = startChild({
    mode,
    kind: "freshness",
    pgUrl: url,
    brokers,
    table,
    slot,
    publication: `${table}_pub`,
    timeoutMs: 180_000 + options.seconds * 3000,
  });
  const report: FreshnessReport = {
    mode,
    achievedRate: 0,
    transactions: 0,
    p50: Number.NaN,
    p99: Number.NaN,
    max: Number.NaN,
    measuredRows: 0,
    unseen: 0,
  };
  try {
    await child.ready;
    // The load: two connections take the next transaction number when it is due.
    const committedAt = new Float64Array(expectedTx + 1);
    const clients = await Promise.all(
      [0, 1].map(async () => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        return client;
      }),
    );
    const started = Date.now();
    let next = 0;
    const worker = async (client: pg.Client) => {
      for (;;) {
        const k = next++;
        if (k >= expectedTx) return;
        const due = started + (k / txPerSecond) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
        const values: string[] = [];
        for (let i = 0; i < INSERTS_PER_TX; i++) {
          const id = k * INSERTS_PER_TX + i + 1;
          values.push(
            `(${id}, ${k}, 'row ${id}', ${(id % 100000) / 100}, clock_timestamp(), '{"k": ${k}, "i": ${i}}')`,
          );
        }
        const old = k - gap;
        const targets =
          old >= 0 ? [old * INSERTS_PER_TX + 1, old * INSERTS_PER_TX + 2] : [-(2 * k + 1), -(2 * k + 2)];
        await client.query(
          `begin; insert into ${table} values ${values.join(", ")};
           update ${table} set seq = ${k}, amount = amount + 1, written_at = clock_timestamp() where id in (${targets.join(", ")});
           commit`,
        );
        committedAt[k] = Date.now();
      }
    };
    await Promise.all(clients.map(worker));
    const elapsed = (Date.now() - started) / 1000;
    for (const client of clients) await client.end();
    report.transactions = expectedTx;
    report.achievedRate = Math.round((expectedTx * ROWS_PER_TX) / elapsed);
    const { markLsn } = await markerTransaction(
      sql,
      `insert into ${table} values (1000000000000, ${expectedTx}, 'marker', 0, now(), '{}')`,
    );
    const totals = await tableTotals(
      sql,
      `select count(*) as rows, sum(id)::text as id_sum from ${table} where seq >= 0`,
    );
    // Change events: every insert and update of the load, and the marker.
    child.end({ markLsn, changes: expectedTx * ROWS_PER_TX + 1, rows: totals.rows, idSum: totals.idSum });
    const result = await child.result;
    report.result = result;
    const problems: string[] = [];
    if (result.missingAfterStop > 0)
      problems.push(`after a clean stop ${result.missingAfterStop} files the table references are gone`);
    if (result.icebergRows !== totals.rows || result.icebergIdSum !== totals.idSum)
      problems.push(
        `Iceberg has ${result.icebergRows} rows (sum(id) ${result.icebergIdSum}), PostgreSQL ${totals.rows} (${totals.idSum})`,
      );
    if (problems.length > 0) report.problem = problems.join("; ");
    // Latency per row version: visible (its commit returned) − committed in PostgreSQL.
    const steadyFrom = started + options.warmup * 1000;
    const latencies: Array<[number, number]> = [];
    let seenRows = 0;
    for (const { seen, seqs } of child.seen)
      for (const [seq, count] of seqs) {
        if (seq < 0 || seq >= expectedTx) continue;
        seenRows += count;
        const committed = committedAt[seq]!;
        if (committed >= steadyFrom) latencies.push([seen - committed, count]);
      }
    report.unseen = expectedTx * ROWS_PER_TX - seenRows;
    latencies.sort((a, b) => a[0] - b[0]);
    const total = latencies.reduce((sum, [, count]) => sum + count, 0);
    const quantile = (q: number) => {
      let acc = 0;
      for (const [latency, count] of latencies) {
        acc += count;
        if (acc >= q * total) return latency;
      }
      return Number.NaN;
    };
    report.measuredRows = total;
    report.p50 = quantile(0.5);
    report.p99 = quantile(0.99);
    report.max = latencies[latencies.length - 1]?.[0] ?? Number.NaN;
  } catch (error) {
    report.problem = (error as Error).message;
  }
  await dropSlot(sql, slot);
  return report;
}

const fmt = (n: number) =>
  Number.isFinite(n) ? Math.round(n).toLocaleString("en-US").replaceAll(",", " ") : "-";
const verdict = (ok: boolean | undefined) => (ok === undefined ? "" : ok ? "ok" : "MISS");

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const env = await servicesUp(["postgres", "kafka"]);
  if (!env.postgres || !env.kafka) throw new Error("postgres and kafka must be up");
  const brokers = env.kafka.brokers.split(",");
  const adminUrl = env.postgres.url;
  const tag = randomBytes(4).toString("hex");
  const database = `floe_bench_pipeline_${tag}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${database}`);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const sql = new pg.Client({ connectionString: url.toString() });
  await sql.connect();
  const { rows: version } = await sql.query<{ v: string }>("select current_setting('server_version') as v");
  let tp: ThroughputReport | undefined;
  const fresh: FreshnessReport[] = [];
  try {
    if (options.only !== "freshness") tp = await throughput(url.toString(), sql, brokers, options, tag);
    if (options.only !== "throughput")
      for (const mode of ["direct", "kafka"] as const) {
        fresh.push(await freshness(url.toString(), sql, brokers, options, tag, mode));
        const f = fresh[fresh.length - 1]!;
        console.error(`freshness ${mode}: ${JSON.stringify({ ...f, result: undefined })}`);
      }
  } finally {
    await sql.end();
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        await admin.query(
          "select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = $1 and not active",
          [database],
        );
        await admin.query(`drop database ${database} with (force)`);
        break;
      } catch {
        await sleep(500);
      }
    }
    await admin.end();
  }

  // The report.
  const out: string[] = [];
  out.push(
    `Floe pipeline benchmark (#6) — ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GB, Node ${process.version}, PostgreSQL ${version[0]?.v}`,
  );
  const rss: Array<[string, number | undefined]> = [];
  if (tp) {
    const rawMs = median(tp.raw);
    const rate = (ms: number) => (tp.changes / ms) * 1000;
    const raw = rate(rawMs);
    out.push("");
    out.push(
      `throughput: ${tp.changes} row changes (70 % insert / 20 % update / 10 % delete, 1000 per transaction), ${tp.rows} rows at the end; median of ${options.reps}`,
    );
    out.push("  side                                     changes/s   × raw   target   median ms   runs ms");
    out.push(
      `  pg_recvlogical raw drain (pgoutput v1)   ${fmt(raw).padStart(9)}   1.000            ${fmt(rawMs).padStart(9)}   ${tp.raw.map(fmt).join(" / ")}`,
    );
    const jsonLines: BenchmarkResult[] = [];
    for (const [mode, label, target] of [
      ["direct", "direct (startReplication)", 0.5],
      ["kafka", "kafka (capture → Kafka → sink)", 0.35],
    ] as const) {
      const runs = tp[mode];
      if (runs.length === 0) {
        out.push(`  ${label.padEnd(39)}  failed`);
        continue;
      }
      const ms = median(runs.map((r) => r.ms));
      const ratio = rawMs / ms;
      out.push(
        `  ${label.padEnd(39)}  ${fmt(rate(ms)).padStart(9)}   ${ratio.toFixed(3)}   ≥ ${target.toFixed(2)} ${verdict(ratio >= target).padEnd(4)} ${fmt(ms).padStart(9)}   ${runs.map((r) => fmt(r.ms)).join(" / ")}`,
      );
      jsonLines.push({
        benchmark: `pipeline ${mode}: ${tp.changes} row changes vs pg_recvlogical`,
        floe: Math.round(rate(ms)),
        baseline: Math.round(raw),
        ratio: Number(ratio.toFixed(3)),
        unit: "changes/s",
        runs: runs.length,
        median: { floeMs: Math.round(ms), baselineMs: Math.round(rawMs) },
      });
      rss.push([`${mode} throughput`, Math.max(...runs.map((r) => r.maxRssMb))]);
    }
    const capture = tp.kafka.flatMap((r) => (r.captureMs === undefined ? [] : [r.captureMs]));
    if (capture.length > 0)
      out.push(
        `  (kafka: capture → Kafka alone done after ${fmt(median(capture))} ms median = ${fmt(rate(median(capture)))} changes/s)`,
      );
    for (const line of jsonLines) out.push(JSON.stringify(line));
  }
  if (fresh.length > 0) {
    out.push("");
    out.push(
      `freshness: ${options.rate} rows/s asked (transactions of 8 inserts + 2 updates, 2 connections) for ${options.seconds} s; PostgreSQL commit → catalog commit visible, per row version, first ${options.warmup} s excluded`,
    );
    out.push(
      "  mode     achieved rows/s   p50 ms   p99 ms   max ms   target p99 ≤ 2000   rows measured   not seen",
    );
    for (const f of fresh) {
      out.push(
        `  ${f.mode.padEnd(8)} ${fmt(f.achievedRate).padStart(15)}   ${fmt(f.p50).padStart(6)}   ${fmt(f.p99).padStart(6)}   ${fmt(f.max).padStart(6)}   ${verdict(Number.isFinite(f.p99) ? f.p99 <= 2000 : undefined).padEnd(17)}   ${fmt(f.measuredRows).padStart(13)}   ${fmt(f.unseen).padStart(8)}`,
      );
      rss.push([`${f.mode} freshness`, f.result?.maxRssMb]);
    }
  }
  if (rss.length > 0) {
    out.push("");
    out.push(
      `peak RSS (maxRSS of each mode's own process, max over runs; target ≤ 512 MB): ${rss
        .map(([label, mb]) => `${label} ${mb === undefined ? "-" : `${mb} MB ${verdict(mb <= 512)}`}`)
        .join(", ")}`,
    );
  }
  const problems = [
    ...(tp?.problems ?? []),
    ...fresh.flatMap((f) => (f.problem ? [`freshness ${f.mode}: ${f.problem}`] : [])),
  ];
  out.push("");
  out.push(
    problems.length === 0
      ? "row check: every run's Iceberg table equals PostgreSQL in count(*) and sum(id)"
      : `PROBLEMS:\n${problems.map((p) => `  ${p}`).join("\n")}`,
  );
  console.log(out.join("\n"));
  if (problems.length > 0) process.exitCode = 1;
}

const childIndex = process.argv.indexOf("--child");
if (childIndex >= 0) {
  runChild(JSON.parse(process.argv[childIndex + 1]!) as ChildSpec).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
