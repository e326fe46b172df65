/**
 * `floe verify`'s comparison of one PostgreSQL table with its Iceberg mirror at one consistent point
 * (see map.md): PostgreSQL's rows at the verify point C (verify-point.ts) reduced to key → row hash
 * (hash-image.ts), the lake waited for until it covers C (lake-position.ts), the image rolled forward
 * from C to the lake snapshot's position P when P is past C (roll-forward.ts), then the snapshot's rows
 * hashed the same way and compared. The result is a {@link VerifyReport}; report.ts prints it.
 */

import { formatLsn } from "../capture/lsn.ts";
import type { TypeMappingOptions } from "../capture/pg-types.ts";
import type { Catalog, LoadedTable, TableIdentifier } from "../catalog/catalog.ts";
import { type Expression, equal, isNull, or } from "../iceberg/expressions.ts";
import { readTableBatches } from "../iceberg/reader.ts";
import { resolveScanSnapshot, type ScanTable } from "../iceberg/scan.ts";
import { currentSchema } from "../iceberg/table-metadata.ts";
import type { NestedField } from "../iceberg/types.ts";
import { parsePosition } from "../sink/change.ts";
import { type ComparePlan, checkPlanFits, comparePlan, sourceRow } from "./compare-plan.ts";
import { VerifyError } from "./errors.ts";
import { type Comparison, type DifferenceKind, HashImage } from "./hash-image.ts";
import { waitForLake } from "./lake-position.ts";
import { type RollForwardResult, rollForward, windowChanges } from "./roll-forward.ts";
import { columnPart, displayKey, displayValue, keyText, rowHash, rowParts } from "./row-hash.ts";
import {
  formatSourceTable,
  openVerifyPoint,
  parseSourceTable,
  type SourceTableName,
  type VerifyPoint,
} from "./verify-point.ts";

export interface VerifyOptions {
  /** PostgreSQL connection URL of the source database. */
  pgUrl: string;
  catalog: Catalog;
  identifier: TableIdentifier;
  /** How the table is named in messages and the report (default `<namespace>.<table>`). */
  label?: string;
  /** The PostgreSQL table (`schema.table`, `table`, quoted identifiers); default `public.<table>`. */
  sourceTable?: string;
  /** How long to wait for the lake to reach the verify point (default 30 000). */
  waitMs?: number;
  /** Differences listed in the report (default 10). */
  maxDifferences?: number;
  /** Compare this Iceberg snapshot instead of the current one. */
  snapshotId?: bigint;
  /** Stream an existing publication of the table instead of a temporary one. */
  publication?: string;
  /** Only this replicate slot's offset says how far the lake is (default: every slot of the namespace). */
  replicateSlot?: string;
  /** Entries of the PostgreSQL image held in memory before it moves to DuckDB on disk. */
  memoryLimitEntries?: number;
  /** The type mapping `floe replicate` ran with, when it was not capture's default. */
  typeOptions?: TypeMappingOptions;
  /** Rows per PostgreSQL fetch (default 10 000). */
  fetchRows?: number;
  /** Progress lines (the CLI passes stderr when not --json). */
  log?: (line: string) => void;
}

export interface DifferenceReport {
  kind: DifferenceKind;
  /** `id=42`, or for a table without a key the row hash. */
  key: string;
  rows: number;
  /** One line for people: what differs. */
  description: string;
}

export interface VerifyReport {
  table: string;
  source: string;
  equal: boolean;
  /** C: the PostgreSQL snapshot's LSN. */
  verifyPoint: string;
  /** S, as a decimal string (64-bit); null for a table without snapshots. */
  snapshotId: string | null;
  /** P: the source position S covers, null when it records none. */
  lakePosition: string | null;
  /** The image was rolled forward from C to P (null when P was not past C). */
  rolledForward: { from: string; to: string; transactions: number; changes: number } | null;
  /** Primary key columns; null: compared as a multiset of rows. */
  key: string[] | null;
  columns: { compared: string[]; missingInIceberg: string[]; ignoredInIceberg: string[] };
  postgres: { rows: number; digest: string };
  iceberg: { rows: number; digest: string };
  onlyInPostgres: number;
  onlyInIceberg: number;
  rowsDiffering: number;
  duplicateKeysInIceberg: number;
  differences: DifferenceReport[];
  /** The PostgreSQL image moved to DuckDB on disk (a table above the memory limit). */
  spilledToDisk: boolean;
  durationMs: number;
}

/** Compares one PostgreSQL table with its Iceberg mirror; see the module comment. */
export async function verifyTable(options: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const label = options.label ?? [...options.identifier.namespace, options.identifier.name].join(".");
  const log = options.log ?? (() => {});
  const waitMs = options.waitMs ?? 30_000;
  const maxDifferences = options.maxDifferences ?? 10;
  if (!Number.isInteger(waitMs) || waitMs < 0)
    throw new VerifyError("INVALID_OPTIONS", `wait must be a whole number of ms ≥ 0, got ${waitMs}`);
  if (!Number.isInteger(maxDifferences) || maxDifferences < 0)
    throw new VerifyError(
      "INVALID_OPTIONS",
      `max differences must be a whole number ≥ 0, got ${maxDifferences}`,
    );
  const source: SourceTableName =
    options.sourceTable === undefined
      ? { schema: "public", table: options.identifier.name }
      : parseSourceTable(options.sourceTable);
  const sourceLabel = formatSourceTable(source);

  let table: LoadedTable;
  try {
    table = await options.catalog.loadTable(options.identifier);
  } catch (error) {
    if (!(await options.catalog.tableExists(options.identifier).catch(() => true)))
      throw new VerifyError(
        "TABLE_NOT_FOUND",
        `the catalog has no table ${label}; check the name and bucket`,
        {
          cause: error,
        },
      );
    throw error;
  }

  const point = await openVerifyPoint({
    pgUrl: options.pgUrl,
    source,
    ...(options.publication !== undefined ? { publication: options.publication } : {}),
    ...(options.typeOptions ? { typeOptions: options.typeOptions } : {}),
  });
  const image = new HashImage({
    keyed: point.table.primaryKey.length > 0,
    ...(options.memoryLimitEntries !== undefined ? { memoryLimitEntries: options.memoryLimitEntries } : {}),
  });
  try {
    const plan = comparePlan(point.table, currentSchema(table.metadata), label);
    const c = point.consistentPoint;
    log(`${label}: reading ${sourceLabel} at ${formatLsn(c)}`);
    for await (const batch of point.readRows(options.fetchRows ?? 10_000)) {
      const entries = batch.map((eventRow) => {
        const row = sourceRow(plan, eventRow);
        const hash = rowHash(rowParts(plan.columns, row));
        return [plan.keyFields ? keyText(plan.keyFields, row) : hash, hash] as const;
      });
      await image.append(entries);
    }

    log(`${label}: waiting for the lake to reach ${formatLsn(c)}`);
    const lake = await waitForLake({
      catalog: options.catalog,
      identifier: options.identifier,
      label,
      consistentPoint: c,
      sql: point.sql,
      emitHeartbeats: point.server.supportsMessages,
      waitMs,
      ...(options.snapshotId !== undefined ? { snapshotId: options.snapshotId } : {}),
      ...(options.replicateSlot !== undefined ? { replicateSlot: options.replicateSlot } : {}),
    });
    const snapshotSchema = resolveScanSnapshot(
      lake.table.metadata,
      lake.snapshot ? { snapshotId: lake.snapshot.snapshotId } : {},
    ).schema;
    checkPlanFits(plan, snapshotSchema, label);

    let rolled: RollForwardResult | undefined;
    const positionLsn = lake.position === undefined ? undefined : parsePosition(lake.position).lsn;
    if (positionLsn !== undefined && positionLsn >= c) {
      log(`${label}: rolling PostgreSQL forward from ${formatLsn(c)} to ${lake.position}`);
      rolled = await rollForward({
        point,
        plan,
        targetLsn: positionLsn,
        label,
        timeoutMs: Math.max(waitMs, 10_000),
      });
      await image.apply(windowChanges(rolled.window));
    }

    log(`${label}: comparing with snapshot ${lake.snapshot?.snapshotId ?? "(none)"}`);
    const comparison = await image.compare(
      icebergHashes(lake.table, lake.snapshot?.snapshotId, plan),
      maxDifferences,
    );
    const differences = await describeDifferences(
      comparison,
      plan,
      point,
      rolled,
      lake.table,
      lake.snapshot?.snapshotId,
    );
    const equal =
      plan.missingInIceberg.length === 0 &&
      comparison.onlyInPostgres === 0 &&
      comparison.onlyInIceberg === 0 &&
      comparison.rowsDiffering === 0 &&
      comparison.duplicateKeysInIceberg === 0;
    return {
      table: label,
      source: sourceLabel,
      equal,
      verifyPoint: formatLsn(c),
      snapshotId: lake.snapshot ? String(lake.snapshot.snapshotId) : null,
      lakePosition: lake.position ?? null,
      rolledForward: rolled
        ? {
            from: rolled.fromLsn,
            to: rolled.toLsn,
            transactions: rolled.transactions,
            changes: rolled.changes,
          }
        : null,
      key: plan.keyFields ? plan.keyFields.map((field) => field.name) : null,
      columns: {
        compared: plan.columns.map((column) => column.name),
        missingInIceberg: plan.missingInIceberg,
        ignoredInIceberg: plan.ignoredInIceberg,
      },
      postgres: { rows: comparison.postgresRows, digest: comparison.postgresDigest },
      iceberg: { rows: comparison.icebergRows, digest: comparison.icebergDigest },
      onlyInPostgres: comparison.onlyInPostgres,
      onlyInIceberg: comparison.onlyInIceberg,
      rowsDiffering: comparison.rowsDiffering,
      duplicateKeysInIceberg: comparison.duplicateKeysInIceberg,
      differences,
      spilledToDisk: image.spilled,
      durationMs: Date.now() - started,
    };
  } finally {
    await image.close();
    await point.close();
  }
}

/** The snapshot's rows as `[key, hash]` batches (deletes applied), hashed like PostgreSQL's. */
async function* icebergHashes(
  table: ScanTable,
  snapshotId: bigint | undefined,
  plan: ComparePlan,
): AsyncGenerator<Array<readonly [string, string]>> {
  if (snapshotId === undefined) return;
  const columns = plan.columns.map((column) => column.name);
  for await (const batch of readTableBatches(table, { snapshotId, columns })) {
    yield batch.map((row) => {
      const hash = rowHash(rowParts(plan.columns, row));
      return [plan.keyFields ? keyText(plan.keyFields, row) : hash, hash] as const;
    });
  }
}

const KIND_TEXT: Record<DifferenceKind, string> = {
  only_in_postgres: "only in PostgreSQL (missing from Iceberg)",
  only_in_iceberg: "only in Iceberg (not in PostgreSQL)",
  row_differs: "row differs",
  duplicate_in_iceberg: "key more than once in Iceberg",
};

/**
 * One line per listed difference. For a differing row the columns that differ, with both values when
 * they can be read back: the Iceberg row from the snapshot (filtered by the first key column), the
 * PostgreSQL row from the roll-forward window or, when the key did not change after C, from the
 * snapshot transaction at C.
 */
async function describeDifferences(
  comparison: Comparison,
  plan: ComparePlan,
  point: VerifyPoint,
  rolled: RollForwardResult | undefined,
  table: ScanTable,
  snapshotId: bigint | undefined,
): Promise<DifferenceReport[]> {
  const keyFields = plan.keyFields;
  const reports: DifferenceReport[] = comparison.differences.map((difference) => ({
    kind: difference.kind,
    key: keyFields ? displayKey(keyFields, difference.key) : `row hash ${difference.key}`,
    rows: difference.rows,
    description:
      difference.kind === "duplicate_in_iceberg"
        ? `${KIND_TEXT[difference.kind]} (${difference.rows} rows)`
        : difference.rows > 1
          ? `${KIND_TEXT[difference.kind]} ×${difference.rows}`
          : KIND_TEXT[difference.kind],
  }));
  if (!keyFields || snapshotId === undefined) return reports;
  const differing = comparison.differences.filter((difference) => difference.kind === "row_differs");
  if (differing.length === 0) return reports;
  try {
    const wanted = new Set(differing.map((difference) => difference.key));
    const lakeRows = new Map<string, Record<string, unknown>>();
    const filter = keyFilter(
      keyFields[0]!,
      differing.map((difference) => difference.key),
    );
    for await (const batch of readTableBatches(table, {
      snapshotId,
      columns: plan.columns.map((column) => column.name),
      ...(filter ? { filter } : {}),
    })) {
      for (const row of batch) {
        const key = keyText(keyFields, row);
        if (wanted.has(key)) lakeRows.set(key, row);
      }
    }
    const postgres = new Map<string, { parts: string[]; display: string[] }>();
    const atPoint: string[][] = [];
    const atPointKeys: string[] = [];
    for (const key of wanted) {
      const windowRow = rolled?.window.rows.get(key);
      if (windowRow)
        postgres.set(key, { parts: windowRow.parts as string[], display: windowRow.display as string[] });
      else {
        const raw = pgKeyText(keyFields, key);
        if (raw) {
          atPoint.push(raw);
          atPointKeys.push(key);
        }
      }
    }
    if (atPoint.length > 0) {
      for (const eventRow of await point.rowsAtPoint(atPoint)) {
        const row = sourceRow(plan, eventRow);
        postgres.set(keyText(keyFields, row), {
          parts: rowParts(plan.columns, row),
          display: plan.columns.map((column) => displayValue(column.type, row[column.name])),
        });
      }
    }
    for (const [index, report] of reports.entries()) {
      const difference = comparison.differences[index]!;
      if (difference.kind !== "row_differs") continue;
      const lakeRow = lakeRows.get(difference.key);
      const pgRow = postgres.get(difference.key);
      if (!lakeRow || !pgRow) continue;
      const changed = plan.columns.flatMap((column, index) =>
        columnPart(column.type, lakeRow[column.name]) === pgRow.parts[index]
          ? []
          : [
              `${column.name}: PostgreSQL ${pgRow.display[index]}, Iceberg ${displayValue(column.type, lakeRow[column.name])}`,
            ],
      );
      if (changed.length > 0) report.description = `row differs — ${changed.join("; ")}`;
    }
  } catch {
    // The details are a convenience; the counts and keys above are the result.
  }
  return reports;
}

/** A filter on the first key column that keeps the listed keys (undefined: read everything). */
function keyFilter(field: NestedField, keys: readonly string[]): Expression | undefined {
  const values = keys.map((key) => (JSON.parse(key) as unknown[])[0]);
  const terms: Expression[] = [];
  for (const value of values) {
    if (value === null) terms.push(isNull(field.name));
    else if (field.type.kind === "int") terms.push(equal(field.name, Number(value)));
    else if (field.type.kind === "long") terms.push(equal(field.name, BigInt(value as string)));
    else if (field.type.kind === "string" || field.type.kind === "uuid")
      terms.push(equal(field.name, String(value)));
    else return undefined;
  }
  if (terms.length === 0) return undefined;
  return terms.length === 1 ? terms[0] : or(...terms);
}

/** The key's columns as PostgreSQL input text, from the key encoding (undefined when a type has none). */
function pgKeyText(keyFields: readonly NestedField[], key: string): string[] | undefined {
  const parts = JSON.parse(key) as unknown[];
  const out: string[] = [];
  for (const [index, field] of keyFields.entries()) {
    const part = parts[index];
    if (part === null || part === undefined) return undefined;
    switch (field.type.kind) {
      case "int":
      case "long":
      case "string":
      case "uuid":
      case "decimal":
      case "boolean":
        out.push(String(part));
        break;
      default:
        return undefined;
    }
  }
  return out;
}
