/**
 * `floe query`: SQL over a catalog's tables. Each table the SQL mentions becomes a DuckDB view named
 * `"<namespace>"."<table>"` (a DuckDB schema per namespace; with one namespace in scope, the bare table
 * name works too) reading its current snapshot — or the one chosen per table — with deletes applied.
 * Each view reads only the data files that may hold rows the statement can use: query-pruning.ts derives a
 * filter per table from the statement's WHERE clauses and Floe plans the table's files with it (partitions,
 * then column metrics), so remote files that cannot match are not even downloaded. The view applies no
 * filter of its own; the user's SQL runs unchanged.
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
import { IcebergError } from "../iceberg/errors.ts";
import type { Expression } from "../iceberg/expressions.ts";
import { createPlanView, type ScanView } from "../iceberg/reader.ts";
import { planScan, resolveScanSnapshot, type ScanMetrics, type ScanPlan } from "../iceberg/scan.ts";
import { localPathOf } from "../io/local-file-io.ts";
import { type SnapshotSelection, scanSelection } from "./dump.ts";
import { DumpError } from "./errors.ts";
import { type QueryFormat, type ResultColumn, resultWriter } from "./format.ts";
import { derivePruningFilters, describeFilter, type PruningTable, parseSelect } from "./query-pruning.ts";

export interface QueryOptions {
  /** Namespaces whose tables are exposed; every namespace of the catalog (nested ones too) by default. */
  namespaces?: Namespace[];
  /** A snapshot per table, keyed `namespace.table`; the others read their current snapshot. */
  snapshots?: Record<string, SnapshotSelection>;
  /** Where remote table files are downloaded; a fresh directory under the OS temp dir by default. */
  tempDir?: string;
  /** DuckDB threads for the query; the machine's cores by default. */
  threads?: number;
  /** Plan each table's files with the filter its WHERE clauses imply (query-pruning.ts); true by default. */
  pruning?: boolean;
}

/** How one table was planned: what `floe query --stats` prints. */
export interface QueryTablePlan {
  /** `namespace.table`. */
  table: string;
  snapshotId: bigint | undefined;
  /** The filter the files were planned with (a readable form, not SQL); undefined when none. */
  filter?: string;
  /** Data files the view reads. */
  dataFilesRead: number;
  /** Delete files the view applies. */
  deleteFilesRead: number;
  metrics: ScanMetrics;
}

export interface QueryOutput {
  format: QueryFormat;
  write: (text: string) => void;
}

export interface QueryResult {
  columns: ResultColumn[];
  rows: Json[][];
  /** Each exposed table's planning, in the order the views were made. */
  tables: QueryTablePlan[];
  /** Why no table was pruned at all, when the statement could not be analysed. */
  pruningDisabled?: string;
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

/** A plan that reads the same files as `plan` with no row filter: the user's SQL does the filtering. */
function withoutResidual(plan: ScanPlan): ScanPlan {
  return {
    ...plan,
    filter: undefined,
    tasks: plan.tasks.map((task) => ({ ...task, residual: undefined })),
  };
}

export interface QueryRun {
  columns: ResultColumn[];
  rowCount: number;
  tables: QueryTablePlan[];
  pruningDisabled?: string;
}

/**
 * Sets up the views (see the module comment), runs `sql`, and hands each batch of rows (JSON form) to
 * `onRows`; returns the result's columns, row count and how each table was planned.
 */
export async function streamQuery(
  catalog: Catalog,
  sql: string,
  options: QueryOptions,
  onColumns: (columns: ResultColumn[]) => void,
  onRows: (rows: Json[][]) => void,
): Promise<QueryRun> {
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
    const loaded = [];
    for (const identifier of tables) {
      const table = await catalog.loadTable(identifier);
      const selection = scanSelection(options.snapshots?.[formatIdentifier(identifier)] ?? {});
      const { schema } = resolveScanSnapshot(table.metadata, selection);
      loaded.push({ identifier, table, selection, schema });
    }
    const defaultSchema = namespaces.length === 1 ? namespaces[0]!.join(".") : undefined;
    let filters: (Expression | undefined)[] = loaded.map(() => undefined);
    let pruningDisabled: string | undefined;
    if (options.pruning === false) {
      pruningDisabled = "pruning is switched off";
    } else if (loaded.length > 0) {
      const parsed = await parseSelect(connection, sql);
      if ("disabled" in parsed) pruningDisabled = parsed.disabled;
      else {
        const pruningTables: PruningTable[] = loaded.map((t) => ({
          schema: t.identifier.namespace.join("."),
          name: t.identifier.name,
          scanSchema: t.schema,
        }));
        const analysis = derivePruningFilters(parsed.tree, pruningTables, { defaultSchema });
        filters = analysis.filters;
        pruningDisabled = analysis.disabled;
      }
    }

    const allowed = new Set<string>([`${workDir}/`]);
    const schemas = new Set<string>();
    const plans: QueryTablePlan[] = [];
    for (const [i, { identifier, table, selection }] of loaded.entries()) {
      let filter = filters[i];
      let plan: ScanPlan;
      try {
        plan = await planScan(table, { ...selection, filter });
      } catch (error) {
        // A derived filter the table cannot take must not fail the query: read every file instead.
        if (filter === undefined || !(error instanceof IcebergError) || error.code !== "DATA_INVALID")
          throw error;
        filter = undefined;
        plan = await planScan(table, selection);
      }
      const view = await createPlanView(connection, table, withoutResidual(plan), `floe_table_${i}`, {
        tempDir: workDir,
      });
      views.push(view);
      plans.push({
        table: formatIdentifier(identifier),
        snapshotId: plan.snapshot?.snapshotId,
        ...(filter === undefined ? {} : { filter: describeFilter(filter) }),
        dataFilesRead: plan.tasks.length,
        deleteFilesRead: new Set(plan.tasks.flatMap((task) => task.deletes.map((d) => d.filePath))).size,
        metrics: plan.metrics,
      });
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
    if (defaultSchema !== undefined) {
      await connection.run(`CREATE SCHEMA IF NOT EXISTS ${sqlIdentifier(defaultSchema)}`);
      await connection.run(`USE ${sqlIdentifier(defaultSchema)}`);
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
    return { columns, rowCount, tables: plans, ...(pruningDisabled ? { pruningDisabled } : {}) };
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
  const { columns, tables, pruningDisabled } = await streamQuery(
    catalog,
    sql,
    options,
    () => {},
    (batch) => rows.push(...batch),
  );
  return { columns, rows, tables, ...(pruningDisabled ? { pruningDisabled } : {}) };
}

/** Runs `sql` and writes the result in `output.format`; returns the row count and each table's planning. */
export async function runQuery(
  catalog: Catalog,
  sql: string,
  output: QueryOutput,
  options: QueryOptions = {},
): Promise<{ rows: number; tables: QueryTablePlan[]; pruningDisabled?: string }> {
  let writer: ReturnType<typeof resultWriter> | undefined;
  const { columns, rowCount, tables, pruningDisabled } = await streamQuery(
    catalog,
    sql,
    options,
    (columns) => {
      writer = resultWriter(output.format, columns, output.write);
    },
    (batch) => writer?.rows(batch),
  );
  (writer ?? resultWriter(output.format, columns, output.write)).end(rowCount);
  return { rows: rowCount, tables, ...(pruningDisabled ? { pruningDisabled } : {}) };
}
