// `floe verify` end to end: real PostgreSQL → `floe replicate` (in process) → an in-process `floe serve`.
// A table of many types verifies equal while a workload keeps writing (so PostgreSQL is rolled forward
// from the verify point to the lake's position, TOAST-unchanged updates included); rows changed in Iceberg
// behind the pipeline's back are found (exit 3, the exact keys); a table without a key compares as a
// multiset; a lake that is not caught up is a typed timeout; bad identifiers are refused without SQL
// injection; and every temporary slot and publication is gone afterwards.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import pg from "pg";
import { repoRoot } from "../../scripts/services/common.ts";
import type { Catalog } from "../../src/catalog/catalog.ts";
import { closeCatalog, openRestCatalog } from "../../src/cli/dump.ts";
import { writeEqualityDeletes } from "../../src/iceberg/delete-writer.ts";
import { equal } from "../../src/iceberg/expressions.ts";
import { RowDelta } from "../../src/iceberg/operations/row-delta.ts";
import { writeDataFiles } from "../../src/iceberg/parquet-writer.ts";
import { readTable } from "../../src/iceberg/reader.ts";
import { Schema } from "../../src/iceberg/schema.ts";
import { currentSchema, defaultSpec } from "../../src/iceberg/table-metadata.ts";
import { primitive } from "../../src/iceberg/types.ts";
import { startReplication } from "../../src/replicate/run.ts";
import { startServer } from "../../src/server/server.ts";
import { type VerifyOptions, type VerifyReport, verifyTable } from "../../src/verify/index.ts";
import { runReader } from "../helpers/python.ts";
import { createTestDatabase, defer, uniqueName } from "../helpers/services.ts";

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The real `floe` command in a child process (async: the pipeline in this process must keep running). */
function floe(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
      cwd: repoRoot,
      env: withoutFloeSettings(),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += String(chunk);
    });
    child.stderr.on("data", (chunk) => {
      stderr += String(chunk);
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The environment without FLOE_* settings, so only the flags a test passes count. */
function withoutFloeSettings(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ["FLOE_CATALOG_URL", "FLOE_BUCKET", "FLOE_PG_URL", "FLOE_CREDENTIAL", "FLOE_CONFIG"])
    delete env[name];
  return env;
}

async function verifyLeftovers(sql: pg.Client): Promise<string[]> {
  const { rows } = await sql.query<{ name: string }>(
    `select slot_name as name from pg_replication_slots where slot_name like 'floe\\_verify\\_%' and database = current_database()
     union all select pubname from pg_publication where pubname like 'floe\\_verify\\_%'`,
  );
  return rows.map((row) => row.name);
}

const SCHEMA = `
  create table typed (
    id bigint primary key,
    i2 smallint, i4 integer, n numeric(12,3), nv numeric, r real, d double precision,
    t text, b bytea, dt date, ts timestamp, tstz timestamptz, u uuid, j jsonb, js json,
    ia integer[], ta text[], flag boolean, big text
  );
  alter table typed alter column big set storage external; -- out of line: updates leave it unchanged (TOAST)
  insert into typed
    select i, (i % 100)::smallint, i * 7, i * 1.125, i / 7.0, i / 3.0, i / 7.0,
           'text ' || i, decode(md5(i::text), 'hex'), date '2024-01-01' + i,
           timestamp '2024-01-01 00:00:00.123456' + i * interval '1 minute',
           timestamptz '2024-01-01 00:00:00.654321+02' + i * interval '1 second', md5(i::text)::uuid,
           jsonb_build_object('i', i, 'a', jsonb_build_array(1, 'x', null)), json_build_object('k', i),
           array[i, null, -i], array['a', null, 'c''d', 'e,f'], i % 2 = 0,
           case when i % 3 = 0 then repeat(md5(i::text), 100) end
      from generate_series(1, 120) i;
  insert into typed (id, r, d, n, nv) values
    (1001, 'NaN', 'NaN', null, 'NaN'),
    (1002, 'Infinity', '-Infinity', -0.001, -0.000001),
    (1003, '-0', '-0', 0, 0),
    (1004, 1.1, 0.1, 99999999.999, 12345678901234567890.123456789);
  insert into typed (id) values (1005); -- every other column NULL
  insert into typed (id, ia, ta, b, t, j) values (1006, '{}', '{}', '\\x', '', '[]');
  create table nokey (a integer, b text); -- no primary key: a multiset
  insert into nokey values (1, 'x'), (1, 'x'), (2, null), (null, 'y');
`;

/** One small transaction of inserts, updates (TOAST left unchanged), deletes and a key change. */
async function workloadStep(sql: pg.Client, step: number): Promise<void> {
  const id = 10_000 + step;
  await sql.query("begin");
  try {
    await sql.query(
      `insert into typed (id, i4, n, r, d, t, tstz, j, ia, big)
     values ($1::bigint, $1::int, $1::numeric * 0.5, $1::real / 3, $1::float8 / 7, 'new ' || $1, now(),
             '{"w": 1}', array[$1::int], case when $1::int % 2 = 0 then repeat('w', 4000) end)`,
      [id],
    );
    // Rows with a TOASTed `big`: the update leaves it unchanged, pgoutput does not send it.
    await sql.query(
      "update typed set t = t || '+', d = d + 1, r = r * 2 where id in (select id from typed where big is not null order by random() limit 2)",
    );
    if (step % 4 === 0)
      await sql.query(
        "delete from typed where id = (select id from typed where id between 60 and 119 order by random() limit 1)",
      );
    if (step % 5 === 0)
      await sql.query(
        "update typed set id = id + 100000 where id = (select id from typed where big is null and id between 30 and 59 order by id limit 1)",
      );
  } catch (error) {
    await sql.query("rollback");
    throw error;
  }
  await sql.query("commit");
}

test("floe verify: equal under a live workload, differences found, multisets, timeouts, bad names", async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), "floe-verify-"));
  const server = await startServer({
    dataDir,
    host: "127.0.0.1",
    port: 0,
    logger: false,
    maintenanceIntervalMs: 0,
    auth: { anonymous: true },
  });
  defer(t, async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  await server.buckets.create("lake");
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

  const replication = await startReplication({
    pgUrl,
    catalog,
    namespace: ["shop"],
    tables: ["typed"],
    slotName: slot,
    publicationName: slot,
    commitIntervalMs: 300,
  });
  let stopped = false;
  const stopReplication = async () => {
    if (stopped) return;
    stopped = true;
    await replication.stop();
  };
  defer(t, stopReplication);
  const base = (overrides: Partial<VerifyOptions> = {}): VerifyOptions => ({
    pgUrl,
    catalog,
    identifier: { namespace: ["shop"], name: "typed" },
    label: "lake.shop.typed",
    waitMs: 30_000,
    ...overrides,
  });

  await t.test("a replicated table of many types verifies equal while a workload writes", async () => {
    let writing = true;
    let steps = 0;
    const workload = (async () => {
      while (writing) {
        await workloadStep(sql, steps++);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const reports: VerifyReport[] = [];
    try {
      while (steps < 10) await new Promise((resolve) => setTimeout(resolve, 50));
      // In memory, and with the image spilled to DuckDB on disk. Whether the lake's snapshot is past the
      // verify point depends on the workload's timing (a quiet moment lets the offset alone cover it),
      // so each mode runs until it has rolled forward once — every run must be equal.
      for (const memoryLimitEntries of [undefined, 25]) {
        for (let attempt = 0; attempt < 6; attempt++) {
          const report = await verifyTable(base(memoryLimitEntries ? { memoryLimitEntries } : {}));
          reports.push(report);
          if (report.rolledForward) break;
        }
      }
    } finally {
      writing = false;
      await workload;
    }
    for (const report of reports) {
      assert.equal(report.equal, true, JSON.stringify(report, null, 2));
      assert.equal(report.postgres.digest, report.iceberg.digest);
      assert.equal(report.postgres.rows, report.iceberg.rows);
      assert.ok(report.postgres.rows > 120, `${report.postgres.rows} rows`);
      assert.deepEqual(report.key, ["id"]);
      assert.deepEqual(report.columns.missingInIceberg, []);
      assert.equal(report.columns.compared.length, 19);
    }
    for (const spilled of [false, true]) {
      const rolled = reports.filter((report) => report.spilledToDisk === spilled && report.rolledForward);
      assert.equal(
        rolled.length,
        1,
        `spilled=${spilled}: ${reports.map((r) => JSON.stringify(r.rolledForward))}`,
      );
      // The workload's transactions between the verify point and the lake's snapshot were applied.
      assert.ok(rolled[0]!.rolledForward!.changes > 0 && rolled[0]!.rolledForward!.transactions > 0);
    }
    assert.deepEqual(await verifyLeftovers(sql), []);

    // The same through the command line, once the lake is quiet: exit 0, a JSON report, no roll-forward
    // needed; pyiceberg reads as many rows at that snapshot.
    const cli = await floe([
      "verify",
      "--source",
      pgUrl,
      "--catalog",
      server.url,
      "lake.shop.typed",
      "--json",
    ]);
    assert.equal(cli.code, 0, cli.stderr);
    const report = JSON.parse(cli.stdout) as VerifyReport;
    assert.equal(report.equal, true);
    assert.equal(report.table, "lake.shop.typed");
    const loaded = await catalog.loadTable({ namespace: ["shop"], name: "typed" });
    const scanned = runReader<unknown[]>(
      "pyiceberg-scan",
      loaded.metadataLocation,
      "--snapshot-id",
      report.snapshotId!,
    );
    assert.equal(scanned.length, report.iceberg.rows);
  });

  await t.test("rows changed in Iceberg behind the pipeline's back are found, by key", async () => {
    // One row deleted, one changed, one added — committed straight to the table, no source position.
    let table = await catalog.loadTable({ namespace: ["shop"], name: "typed" });
    const schema = currentSchema(table.metadata);
    const [changed] = await readTable(table, { filter: equal("id", 7n) });
    assert.ok(changed);
    const deletes = await writeEqualityDeletes({
      schema,
      spec: defaultSpec(table.metadata),
      io: table.io,
      location: `${table.metadata.location}/data`,
      equalityIds: [schema.fields.find((field) => field.name === "id")!.id],
      rows: [{ id: 5n }, { id: 7n }],
    });
    const rows = await writeDataFiles({
      schema,
      spec: defaultSpec(table.metadata),
      io: table.io,
      location: `${table.metadata.location}/data`,
      rows: [
        { ...changed, t: "tampered" },
        { ...changed, id: 999_999n },
      ],
    });
    const delta = new RowDelta(catalog, table);
    for (const file of deletes) delta.addDeletes(file);
    for (const file of rows) delta.addRows(file);
    table = (await delta.commit()).table;

    const report = await verifyTable(base());
    assert.equal(report.equal, false);
    assert.deepEqual(
      [report.onlyInPostgres, report.onlyInIceberg, report.rowsDiffering, report.duplicateKeysInIceberg],
      [1, 1, 1, 0],
    );
    assert.notEqual(report.postgres.digest, report.iceberg.digest);
    assert.deepEqual(report.differences.map((difference) => [difference.key, difference.kind]).sort(), [
      ["id=5", "only_in_postgres"],
      ["id=7", "row_differs"],
      ["id=999999", "only_in_iceberg"],
    ]);
    const differing = report.differences.find((difference) => difference.kind === "row_differs")!;
    assert.equal(differing.description, 'row differs — t: PostgreSQL "text 7", Iceberg "tampered"');

    const cli = await floe(["verify", "--source", pgUrl, "--catalog", server.url, "lake.shop.typed"]);
    assert.equal(cli.code, 3, `${cli.stdout}\n${cli.stderr}`);
    assert.match(
      cli.stdout,
      /lake\.shop\.typed ⇔ public\.typed: DIFFERENT — 1 only in PostgreSQL, 1 only in Iceberg, 1 row differing/,
    );
    assert.match(cli.stdout, /id=5 +only in PostgreSQL/);
    assert.match(cli.stdout, /id=7 +row differs — t: PostgreSQL "text 7", Iceberg "tampered"/);
    assert.match(cli.stdout, /id=999999 +only in Iceberg/);
    assert.match(cli.stderr, /DIFFERENCES: lake\.shop\.typed differs from PostgreSQL/);

    // --max-differences bounds the list, not the counts.
    const one = await verifyTable(base({ maxDifferences: 1 }));
    assert.equal(one.differences.length, 1);
    assert.equal(one.onlyInPostgres + one.onlyInIceberg + one.rowsDiffering, 3);
  });

  await t.test("a table without a primary key compares as a multiset", async () => {
    // Written into the lake by hand (upsert mode needs a key), in the namespace the replicate covers.
    const identifier = { namespace: ["shop"], name: "nokey" };
    let table = await catalog.createTable(identifier, {
      schema: new Schema(0, [
        { id: 1, name: "a", required: false, type: primitive("int") },
        { id: 2, name: "b", required: false, type: primitive("string") },
      ]),
    });
    const files = await writeDataFiles({
      schema: currentSchema(table.metadata),
      spec: defaultSpec(table.metadata),
      io: table.io,
      location: `${table.metadata.location}/data`,
      rows: [
        { a: 2, b: null },
        { a: 1, b: "x" },
        { a: null, b: "y" },
        { a: 1, b: "x" },
      ],
    });
    const append = new RowDelta(catalog, table);
    for (const file of files) append.addRows(file);
    table = (await append.commit()).table;
    const equalReport = await verifyTable(base({ identifier, label: "lake.shop.nokey" }));
    assert.equal(equalReport.equal, true, JSON.stringify(equalReport));
    assert.equal(equalReport.key, null);
    assert.equal(equalReport.postgres.rows, 4);

    await sql.query("insert into nokey values (1, 'x')"); // a third copy, only in PostgreSQL
    const different = await verifyTable(base({ identifier, label: "lake.shop.nokey" }));
    assert.equal(different.equal, false);
    assert.equal(different.onlyInPostgres, 1);
    assert.equal(different.onlyInIceberg, 0);
    assert.equal(different.differences.length, 1);
    assert.equal(different.differences[0]!.kind, "only_in_postgres");
    assert.equal(different.differences[0]!.rows, 1);
  });

  await t.test(
    "publications left behind by killed verify runs are dropped; a running one's are not",
    async () => {
      const created = (msAgo: number) => Math.floor((Date.now() - msAgo) / 1000).toString(36);
      const stale = `floe_verify_${created(2 * 3600_000)}_0123456789ab`;
      const young = `floe_verify_${created(60_000)}_0123456789ab`;
      const legacy = "floe_verify_0123456789ab"; // no creation time: never guessed at
      for (const name of [stale, young, legacy])
        await sql.query(`create publication ${name} for table typed`);
      const names = async () =>
        (
          await sql.query<{ pubname: string }>(
            "select pubname from pg_publication where pubname like 'floe_verify%'",
          )
        ).rows
          .map((r) => r.pubname)
          .sort();
      try {
        // (The table still differs from the previous step; equality does not matter here.)
        await verifyTable(base());
        assert.deepEqual(await names(), [legacy, young].sort(), "the stale one is gone, verify's own too");
      } finally {
        for (const name of [stale, young, legacy]) await sql.query(`drop publication if exists ${name}`);
      }
    },
  );

  await t.test("bad identifiers are refused, and reach no SQL", async () => {
    await assert.rejects(verifyTable(base({ sourceTable: 'typed"; drop table typed; --' })), {
      code: "IDENTIFIER_INVALID",
    });
    await assert.rejects(verifyTable(base({ sourceTable: "public.typed; drop table typed" })), {
      code: "IDENTIFIER_INVALID",
    });
    // A valid (quoted) but odd name is looked up as a value: no such table.
    await assert.rejects(verifyTable(base({ sourceTable: '"typed; drop table typed"' })), {
      code: "SOURCE_NOT_FOUND",
    });
    await assert.rejects(verifyTable(base({ publication: "x'; drop table typed; --" })), {
      code: "PUBLICATION_INVALID",
    });
    await assert.rejects(
      verifyTable(base({ identifier: { namespace: ["shop"], name: "nope" }, label: "lake.shop.nope" })),
      { code: "TABLE_NOT_FOUND" },
    );
    const usage = await floe([
      "verify",
      "--source",
      pgUrl,
      "--catalog",
      server.url,
      "lake.shop.typed",
      "--source-table",
      "public.typed;drop table typed",
    ]);
    assert.equal(usage.code, 2, usage.stderr);
    assert.match(usage.stderr, /IDENTIFIER_INVALID|source table/);
    const badTarget = await floe(["verify", "--source", pgUrl, "--catalog", server.url, "shop/x.typed"]);
    assert.equal(badTarget.code, 2, badTarget.stderr);
    assert.match(badTarget.stderr, /shop\/x\.typed' names no bucket|not a valid name/);
    const { rows } = await sql.query("select count(*)::int as n from typed");
    assert.ok(rows[0].n > 0, "typed is still there");
    assert.deepEqual(await verifyLeftovers(sql), []);
  });

  await t.test("a lake that is not caught up is a typed timeout naming the table and the LSNs", async () => {
    await stopReplication();
    await sql.query("update typed set t = 'after the pipeline stopped' where id = 2");
    const started = Date.now();
    await assert.rejects(verifyTable(base({ waitMs: 1500 })), (error: Error & { code?: string }) => {
      assert.equal(error.code, "LAKE_BEHIND");
      assert.match(
        error.message,
        /lake\.shop\.typed did not reach the verify point [0-9A-F]+\/[0-9A-F]+ within 1500 ms \(table position [0-9A-F]+\/[0-9A-F]+#\d+, floe replicate offset [0-9A-F]+\/[0-9A-F]+\); is floe replicate running\?/,
      );
      return true;
    });
    assert.ok(Date.now() - started < 15_000);
    const cli = await floe([
      "verify",
      "--source",
      pgUrl,
      "--catalog",
      server.url,
      "lake.shop.typed",
      "--wait-ms",
      "500",
    ]);
    assert.equal(cli.code, 1, cli.stderr);
    assert.match(cli.stderr, /LAKE_BEHIND: .*is floe replicate running\?/);
    assert.deepEqual(await verifyLeftovers(sql), []);
  });
});
