/**
 * `floe query`: SQL over a catalog's tables. Each table the SQL mentions becomes a DuckDB view named
 * `"<namespace>"."<table>"` (a DuckDB schema per namespace; with one namespace in scope, the bare table
 * name works too) reading its current snapshot — or the one chosen per table — with deletes applied.
 * The query runs in a private DuckDB instance that, once the views exist, may only read the table's
 * files (`enable_external_access = false` with `allowed_directories`, then `lock_configuration`), and
 * only a single SELECT (or EXPLAIN) is accepted: the user's SQL cannot write or read anything else.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { type DuckDBConnection, DuckDBInstance, type Json, StatementType } from "@duckdb/node-api";
import type { Catalog, Namespace, TableIdentifier } from "../catalog/catalog.ts";
import { formatIdentifier } from "../catalog/catalog.ts";
import { FloeError } from "../errors.ts";
import { sqlIdentifier, sqlString } from "../iceberg/duckdb.ts";
import { createScanView, type ScanView } from "../iceberg/reader.ts";
import { localPathOf } from "../io/local-file-io.ts";
import { type SnapshotSelection, scanSelection } from "./dump.ts";
import { DumpError } from "./errors.ts";
import { type QueryFormat, type ResultColumn, resultWriter } from "./format.ts";

export interface QueryOptions {
  /** Namespaces whose tables are exposed; every namespace of the catalog (nested ones too) by default. */
  namespaces?: Namespace[];
  /** A snapshot per table, keyed `namespace.table`; the others read their current snapshot. */
  snapshots?: Record<string, SnapshotSelection>;
  /** Where remote table files are downloaded; a fresh directory under the OS temp dir by default. */
  tempDir?: string;
  /** DuckDB threads for the query; the machine's cores by default. */
  threads?: number;
}

export interface QueryOutput {
  format: QueryFormat;
  write: (text: string) => void;
}

export interface QueryResult {
  columns: ResultColumn[];
  rows: Json[][];
}

/** Every namespace under `parent` (depth-first), as the catalog lists them. */
async function allNamespaces(catalog: Catalog, parent?: Namespace, depth = 0): Promise<Namespace[]> {
  if (depth > 8) return [];
  const children = await catalog.listNamespaces(parent);
  const out: Namespace[] = [];
  for (const child of children) {
    out.push(child);
    out.push(...(await allNamespaces(catalog, child, depth + 1)));
  }
  return out;
}

/** Whether `sql` may reference `name` (any case-insensitive occurrence); saves planning unused tables. */
function mentions(sql: string, name: string): boolean {
  return sql.toLowerCase().includes(name.toLowerCase());
}

/** The one statement of `sql`, refused unless it reads only. */
async function checkReadOnly(connection: DuckDBConnection, sql: string) {
  let extracted: Awaited<ReturnType<DuckDBConnection["extractStatements"]>>;
  try {
    extracted = await connection.extractStatements(sql);
  } catch (error) {
    throw queryFailed(error);
  }
  if (extracted.count !== 1) {
    throw new DumpError(
      "INVALID_QUERY",
      `the query has ${extracted.count} statements; floe query runs exactly one SELECT`,
    );
  }
  let prepared: Awaited<ReturnType<typeof extracted.prepare>>;
  try {
    prepared = await extracted.prepare(0);
  } catch (error) {
    throw queryFailed(error);
  }
  if (prepared.statementType !== StatementType.SELECT && prepared.statementType !== StatementType.EXPLAIN) {
    throw new DumpError(
      "INVALID_QUERY",
      `floe query runs read-only SELECT statements; this one is a ${StatementType[prepared.statementType] ?? "non-SELECT"} statement`,
    );
  }
  return prepared;
}

function queryFailed(error: unknown): FloeError {
  if (error instanceof FloeError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new DumpError("QUERY_FAILED", `the query failed: ${detail}`, { cause: error });
}

/**
 * Sets up the views (see the module comment), runs `sql`, and hands each batch of rows (JSON form) to
 * `onRows`; returns the result's columns and row count.
 */
export async function streamQuery(
  catalog: Catalog,
  sql: string,
  options: QueryOptions,
  onColumns: (columns: ResultColumn[]) => void,
  onRows: (rows: Json[][]) => void,
): Promise<{ columns: ResultColumn[]; rowCount: number }> {
  const namespaces = options.namespaces ?? (await allNamespaces(catalog));
  const tables: TableIdentifier[] = [];
  for (const namespace of namespaces) {
    for (const identifier of await catalog.listTables(namespace)) {
      if (mentions(sql, identifier.name)) tables.push(identifier);
    }
  }
  for (const key of Object.keys(options.snapshots ?? {})) {
    if (
      !tables.some((t) => formatIdentifier(t) === key) &&
      !namespaces.some((ns) => key.startsWith(`${ns.join(".")}.`))
    ) {
      throw new DumpError(
        "INVALID_OPTIONS",
        `a snapshot is chosen for ${key}, which is not a table in scope`,
      );
    }
  }

  const workDir = await mkdtemp(join(options.tempDir ?? tmpdir(), "floe-query-"));
  const instanceOptions: Record<string, string> = {
    autoinstall_known_extensions: "false",
    autoload_known_extensions: "false",
    temp_directory: join(workDir, "spill"),
  };
  if (options.threads !== undefined) instanceOptions.threads = String(options.threads);
  const instance = await DuckDBInstance.create(":memory:", instanceOptions);
  const connection = await instance.connect();
  const views: ScanView[] = [];
  try {
    await connection.run("SET TimeZone = 'UTC'");
    const allowed = new Set<string>([`${workDir}/`]);
    const schemas = new Set<string>();
    for (const [i, identifier] of tables.entries()) {
      const table = await catalog.loadTable(identifier);
      const selection = options.snapshots?.[formatIdentifier(identifier)] ?? {};
      const view = await createScanView(connection, table, `floe_table_${i}`, {
        ...scanSelection(selection),
        tempDir: workDir,
      });
      views.push(view);
      for (const task of view.plan.tasks) {
        for (const file of [task.dataFile, ...task.deletes]) {
          if (file.filePath.startsWith("file:")) allowed.add(`${dirname(localPathOf(file.filePath))}/`);
        }
      }
      const schema = identifier.namespace.join(".");
      if (!schemas.has(schema)) {
        await connection.run(`CREATE SCHEMA IF NOT EXISTS ${sqlIdentifier(schema)}`);
        schemas.add(schema);
      }
      await connection.run(
        `CREATE VIEW ${sqlIdentifier(schema)}.${sqlIdentifier(identifier.name)} AS SELECT * FROM temp.main.${sqlIdentifier(view.viewName)}`,
      );
    }
    if (namespaces.length === 1) {
      const only = namespaces[0]!.join(".");
      await connection.run(`CREATE SCHEMA IF NOT EXISTS ${sqlIdentifier(only)}`);
      await connection.run(`USE ${sqlIdentifier(only)}`);
    }
    await connection.run(`SET allowed_directories = [${[...allowed].map(sqlString).join(", ")}]`);
    await connection.run("SET enable_external_access = false");
    await connection.run("SET lock_configuration = true");

    const prepared = await checkReadOnly(connection, sql);
    let result: Awaited<ReturnType<typeof prepared.stream>>;
    try {
      result = await prepared.stream();
    } catch (error) {
      throw queryFailed(error);
    }
    const columns = result.columnNames().map((name, i) => ({ name, type: result.columnType(i).toString() }));
    onColumns(columns);
    let rowCount = 0;
    try {
      for await (const batch of result.yieldRowsJson()) {
        rowCount += batch.length;
        onRows(batch);
      }
    } catch (error) {
      throw queryFailed(error);
    }
    return { columns, rowCount };
  } finally {
    for (const view of views) await view.release().catch(() => {});
    connection.closeSync();
    instance.closeSync();
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Runs `sql` and returns every row in DuckDB's JSON form (for programs and tests; small results). */
export async function queryRows(
  catalog: Catalog,
  sql: string,
  options: QueryOptions = {},
): Promise<QueryResult> {
  const rows: Json[][] = [];
  const { columns } = await streamQuery(
    catalog,
    sql,
    options,
    () => {},
    (batch) => rows.push(...batch),
  );
  return { columns, rows };
}

/** Runs `sql` and writes the result in `output.format`; returns the row count. */
export async function runQuery(
  catalog: Catalog,
  sql: string,
  output: QueryOutput,
  options: QueryOptions = {},
): Promise<{ rows: number }> {
  let writer: ReturnType<typeof resultWriter> | undefined;
  const { columns, rowCount } = await streamQuery(
    catalog,
    sql,
    options,
    (columns) => {
      writer = resultWriter(output.format, columns, output.write);
    },
    (batch) => writer?.rows(batch),
  );
  (writer ?? resultWriter(output.format, columns, output.write)).end(rowCount);
  return { rows: rowCount };
}
