// Issue #7's acceptance through the real pipeline: PostgreSQL with a live workload of inserts, updates
// and deletes on two tables → `startReplication` (direct mode, position deletes) → an in-process
// `floe serve` whose own maintenance scheduler (the background loop `floe serve --maintenance-interval-ms`
// runs, with the default S3 Tables configuration) passes over both tables every few hundred ms while
// replication streams. `orders` is partitioned by identity(region) and updates move rows between
// partitions; `accounts` is unpartitioned.
//
// At four points the workload pauses; once the lake covers pg_current_wal_insert_lsn() (src/verify's
// waitForLake: the replicate offset / the table's recorded LSN, heartbeats while idle) every table
// equals PostgreSQL row by row — at the snapshot that point names and again after one more maintenance
// pass. Compaction must have rewritten files (and dropped the delete files applied to them) several
// times per table, read from the snapshot summaries and the scheduler's job status. At the end
// pyiceberg and DuckDB read exactly the PostgreSQL rows.
//
// It fails if compaction loses a row, resurrects a deleted one or resurrects an old version of an
// updated one: the workload deletes and updates rows that live in files compaction later rewrites (the
// test asserts compaction removed position-delete files), and every comparison is of whole tables.
// Checked by mutation: compaction rewriting groups without applying their deletes fails this test at
// the first checkpoint (507 rows in the lake, 300 in PostgreSQL), with the differing rows and their
// history per snapshot in the diagnostics.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import pg from "pg";
import { parseLsn } from "../../src/capture/lsn.ts";
import type { Catalog, LoadedTable, TableIdentifier } from "../../src/catalog/catalog.ts";
import { closeCatalog, openRestCatalog } from "../../src/cli/dump.ts";
import { readTable } from "../../src/iceberg/reader.ts";
import { planScan } from "../../src/iceberg/scan.ts";
import { identity } from "../../src/iceberg/transforms.ts";
import { primitive } from "../../src/iceberg/types.ts";
import { MAINTENANCE_TYPES, type MaintenanceJobStatus } from "../../src/maintenance/index.ts";
import { startReplication } from "../../src/replicate/run.ts";
import { tableArnOf } from "../../src/server/s3tables/arns.ts";
import { startServer } from "../../src/server/server.ts";
import { createSinkTable } from "../../src/sink/auto-create.ts";
import { waitForLake } from "../../src/verify/lake-position.ts";
import { runReader } from "../helpers/python.ts";
import { normaliseRows, type Row } from "../helpers/rows.ts";
import { createTestDatabase, defer, uniqueName } from "../helpers/services.ts";

const NAMESPACE = ["shop"];
const TABLES = {
  accounts: "select id::text as id, balance::text as balance, owner, note from accounts",
  orders: "select id::text as id, region, qty::text as qty, status from orders",
} as const;
type TableName = keyof typeof TABLES;
const NAMES = Object.keys(TABLES) as TableName[];
const identifierOf = (name: TableName): TableIdentifier => ({ namespace: NAMESPACE, name });

const SCHEMA = `
  create table accounts (id bigint primary key, balance bigint not null, owner text, note text);
  create table orders (id bigint primary key, region text not null, qty integer, status text);
  insert into accounts select i, i * 100, 'owner ' || (i % 17), case when i % 5 = 0 then null else 'n' || i end
    from generate_series(1, 300) i;
  insert into orders select i, (array['eu', 'us', 'ap', 'sa'])[1 + i % 4], i % 50, 'new'
    from generate_series(1, 400) i;
`;

/**
 * One source transaction over both tables: inserts, updates (some moving an order to another region's
 * partition), deletes — and now and then a delete and re-insert of the same key, or an update of a row
 * inserted in the same transaction.
 */
async function workloadStep(sql: pg.Client, step: number): Promise<void> {
  const newId = 100_000 + step;
  await sql.query("begin");
  try {
    await sql.query(
      `insert into orders values ($1::bigint, (array['eu', 'us', 'ap', 'sa'])[1 + $1::bigint % 4], $2::int, 'new'),
                                 ($1::bigint + 500000, 'eu', 1, 'new')`,
      [newId, step % 97],
    );
    await sql.query(
      `update orders set qty = qty + 1, status = 'paid ' || $1::int,
                         region = case when random() < 0.3 then (array['eu', 'us', 'ap', 'sa'])[1 + (random() * 3)::int] else region end
        where id in (select id from orders order by random() limit 3)`,
      [step],
    );
    await sql.query("delete from orders where id in (select id from orders order by random() limit 1)");
    await sql.query(
      "update accounts set balance = balance - 7, note = 'moved ' || $1::int where id in (select id from accounts order by random() limit 2)",
      [step],
    );
    await sql.query("insert into accounts values ($1::bigint, 0, 'new', null)", [newId]);
    await sql.query("delete from accounts where id in (select id from accounts order by random() limit 1)");
    if (step % 7 === 0) {
      // Delete and re-insert a key in one transaction; update a row inserted in this one.
      await sql.query(
        `with gone as (delete from accounts where id = (select min(id) from accounts) returning id)
         insert into accounts select id, 1, 'reborn', 'r' || $1::int from gone`,
        [step],
      );
      await sql.query("update orders set status = 'edited' where id = $1::bigint", [newId]);
    }
  } catch (error) {
    await sql.query("rollback");
    throw error;
  }
  await sql.query("commit");
}

async function postgresRows(sql: pg.Client, name: TableName): Promise<Row[]> {
  return normaliseRows((await sql.query(TABLES[name])).rows as Row[]);
}

/** The table's rows, as PostgreSQL's query above prints them. */
async function icebergRows(table: LoadedTable): Promise<Row[]> {
  return normaliseRows(await readTable(table));
}

/** Snapshots of the table committed by compaction, with their summaries. */
function compactionSnapshots(table: LoadedTable): Record<string, string>[] {
  return table.metadata.snapshots
    .map((snapshot) => snapshot.summary)
    .filter((summary) => summary["floe.maintenance"] === "compaction");
}

/** The differing ids, and for each snapshot of the table whether (and how) it holds them: where a row went wrong. */
async function explainDifference(table: LoadedTable, actual: Row[], expected: Row[]): Promise<string> {
  const byId = (rows: Row[]) => new Map(rows.map((row) => [String(row.id), JSON.stringify(row)]));
  const lake = byId(actual);
  const source = byId(expected);
  const ids = [...new Set([...lake.keys(), ...source.keys()])].filter(
    (id) => lake.get(id) !== source.get(id),
  );
  const lines = ids.slice(0, 10).map((id) => `id ${id}: lake ${lake.get(id)}, PostgreSQL ${source.get(id)}`);
  for (const snapshot of table.metadata.snapshots) {
    const rows = byId(normaliseRows(await readTable(table, { snapshotId: snapshot.snapshotId })));
    const summary = snapshot.summary;
    lines.push(
      `snapshot ${snapshot.sequenceNumber} ${summary.operation} ${summary["floe.maintenance"] ?? summary["floe.source.position"] ?? ""}: ${ids
        .slice(0, 10)
        .map((id) => rows.get(id) ?? "-")
        .join(" | ")}`,
    );
  }
  return lines.join("\n");
}

const sum = (summaries: Record<string, string>[], key: string) =>
  summaries.reduce((total, summary) => total + Number(summary[key] ?? 0), 0);

test("maintenance of floe serve runs repeatedly while floe replicate streams; every table always equals PostgreSQL", async (t) => {
  const started = Date.now();
  const dataDir = mkdtempSync(join(tmpdir(), "floe-maintenance-streaming-"));
  const server = await startServer({
    dataDir,
    host: "127.0.0.1",
    port: 0,
    logger: false,
    // The scheduler `floe serve` runs; default maintenance configuration (512 MiB target, every job).
    maintenanceIntervalMs: 300,
    auth: { anonymous: true },
  });
  defer(t, async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const bucket = await server.buckets.create("lake");
  const catalog: Catalog = await openRestCatalog(server.url, "lake");
  defer(t, () => closeCatalog(catalog));

  const pgUrl = await createTestDatabase(t);
  const sql = new pg.Client({ connectionString: pgUrl });
  await sql.connect();
  defer(t, () => sql.end());
  const slot = uniqueName("floe_repl");
  defer(t, async () => {
    await sql.query(
      "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1 and not active",
      [slot],
    );
  });
  await sql.query(SCHEMA);

  // orders, partitioned by region, created up front with the schema the sink would give it (the
  // replicate path creates unpartitioned tables; an existing table's spec is what the writer uses).
  await catalog.createNamespace(NAMESPACE);
  await createSinkTable(
    catalog,
    identifierOf("orders"),
    {
      columns: [
        { name: "id", type: primitive("long"), optional: false },
        { name: "region", type: primitive("string"), optional: false },
        { name: "qty", type: primitive("int") },
        { name: "status", type: primitive("string") },
      ],
      primaryKey: ["id"],
    },
    { partitionBy: [{ column: "region", transform: identity }] },
  );

  const replication = await startReplication({
    pgUrl,
    catalog,
    namespace: NAMESPACE,
    tables: [...NAMES],
    slotName: slot,
    publicationName: slot,
    // Rounds driven by volume (inside capture's write, so one after another), the timer only for the
    // tail: DirectSink's setInterval rounds queue up behind a round slower than the interval and then
    // alternate 1:1 with capture's batches, one source transaction per round (see the report of #7).
    maxBufferedChanges: 100,
    commitIntervalMs: 2_000,
  });
  let stopped = false;
  const stopReplication = async () => {
    if (stopped) return;
    stopped = true;
    await replication.stop();
  };
  defer(t, stopReplication);
  // A failure of the pipeline surfaces here rather than as a timeout.
  let pipelineError: unknown;
  replication.done.catch((error: unknown) => {
    pipelineError = error;
  });

  /** Waits until every table covers the source's current WAL position; returns each table at that point. */
  const caughtUp = async (): Promise<Map<TableName, LoadedTable>> => {
    // The insert position: with synchronous_commit = off (the dev services) pg_current_wal_lsn(), the
    // write position, can be before the last commit record.
    const { rows } = await sql.query<{ lsn: string }>("select pg_current_wal_insert_lsn()::text as lsn");
    const consistentPoint = parseLsn(rows[0]!.lsn);
    const tables = new Map<TableName, LoadedTable>();
    for (const name of NAMES) {
      const point = await Promise.race([
        replication.done.then(() => {
          throw new Error("replication ended");
        }),
        waitForLake({
          catalog,
          identifier: identifierOf(name),
          label: `lake.shop.${name}`,
          consistentPoint,
          sql,
          emitHeartbeats: true,
          waitMs: 30_000,
          pollIntervalMs: 100,
          replicateSlot: slot,
        }),
      ]);
      tables.set(name, point.table);
    }
    if (pipelineError) throw pipelineError;
    return tables;
  };

  const compare = async (what: string, tables: Map<TableName, LoadedTable>) => {
    for (const name of NAMES) {
      const expected = await postgresRows(sql, name);
      const actual = await icebergRows(tables.get(name)!);
      if (JSON.stringify(actual) !== JSON.stringify(expected))
        t.diagnostic(await explainDifference(tables.get(name)!, actual, expected));
      assert.equal(
        actual.length,
        expected.length,
        `${what}: ${name} has ${actual.length} rows, PostgreSQL ${expected.length}`,
      );
      assert.deepEqual(actual, expected, `${what}: ${name}`);
    }
  };

  let step = 0;
  const checkpoints = 4;
  for (let checkpoint = 1; checkpoint <= checkpoints; checkpoint++) {
    // A few seconds of workload while replication commits every 150 ms and maintenance passes run.
    const until = Date.now() + 4_000;
    while (Date.now() < until) {
      await workloadStep(sql, step++);
      if (pipelineError) throw pipelineError;
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    // Paused: the lake at the source's position, then again after a maintenance pass of its own.
    await compare(`checkpoint ${checkpoint}`, await caughtUp());
    await server.maintenance.runOnce();
    const heads = new Map<TableName, LoadedTable>();
    for (const name of NAMES) heads.set(name, await catalog.loadTable(identifierOf(name)));
    await compare(`checkpoint ${checkpoint}, after a maintenance pass`, heads);
  }
  await stopReplication();
  if (pipelineError) throw pipelineError;

  // Compaction really ran, repeatedly, and rewrote the files deletes had been applied to.
  const store = server.buckets.store;
  const counts = new Map<TableName, string>();
  for (const name of NAMES) {
    const table = await catalog.loadTable(identifierOf(name));
    const compactions = compactionSnapshots(table);
    counts.set(
      name,
      `${compactions.length} (rewrote ${sum(compactions, "deleted-data-files")} data files, removed ${sum(compactions, "removed-position-delete-files")} delete files)`,
    );
    assert.ok(compactions.length >= 4, `${name}: ${compactions.length} compaction commits`);
    assert.ok(
      sum(compactions, "deleted-data-files") >= 20,
      `${name}: compaction rewrote ${sum(compactions, "deleted-data-files")} data files`,
    );
    assert.ok(
      sum(compactions, "removed-position-delete-files") > 0,
      `${name}: compaction removed ${sum(compactions, "removed-position-delete-files")} position delete files`,
    );
    // The sink's commits went on between compactions (compaction did not just run once at the end).
    const operations = table.metadata.snapshots.map((s) =>
      s.summary["floe.maintenance"] === "compaction" ? "c" : "w",
    );
    const interleaved = operations.join("").match(/w+c/g)?.length ?? 0;
    assert.ok(
      interleaved >= 4,
      `${name}: ${interleaved} compactions between sink commits (${operations.join("")})`,
    );

    const record = (await store.listTableRecords(bucket.name, { limit: 1000 })).find((r) => r.name === name);
    assert.ok(record, `${name} is in the store`);
    const stored = await store.getResourceAttributes(tableArnOf(bucket.arn, record.tableId), "job-status");
    const status = Object.fromEntries(
      MAINTENANCE_TYPES.map((type) => [type, JSON.parse(stored[type] ?? "{}") as MaintenanceJobStatus]),
    );
    for (const type of MAINTENANCE_TYPES)
      assert.equal(status[type]?.status, "Successful", `${name} ${type}: ${JSON.stringify(status[type])}`);

    // After a last pass on the quiet table: compacted as far as the evidence asks, and the same rows.
    await server.maintenance.runOnce();
    const final = await catalog.loadTable(identifierOf(name));
    // What the default thresholds leave (minInputFiles 5, deleteFileThreshold 5, deleteRatioThreshold
    // 0.1): fewer than 5 small files per partition, fewer than 5 delete files on any data file.
    const plan = await planScan(final);
    const perPartition = new Map<string, number>();
    for (const task of plan.tasks) {
      const key = JSON.stringify(task.partition);
      perPartition.set(key, (perPartition.get(key) ?? 0) + 1);
      assert.ok(task.deletes.length < 5, `${name}: ${task.deletes.length} delete files on one data file`);
    }
    for (const [partition, files] of perPartition)
      assert.ok(files < 5, `${name} ${partition}: ${files} data files after the last pass`);
    const expected = await postgresRows(sql, name);
    assert.deepEqual(await icebergRows(final), expected, `${name}: after the last pass`);
    // Independent readers of the compacted table.
    assert.deepEqual(
      normaliseRows(runReader<Row[]>("pyiceberg-scan", final.metadataLocation)),
      expected,
      `${name}: pyiceberg`,
    );
    assert.deepEqual(
      normaliseRows(runReader<Row[]>("duckdb-scan", final.metadataLocation)),
      expected,
      `${name}: DuckDB`,
    );
  }
  t.diagnostic(
    `${step} source transactions; compaction commits ${NAMES.map((name) => `${name}=${counts.get(name)}`).join(" ")}; ${Math.round((Date.now() - started) / 1000)} s`,
  );
});
