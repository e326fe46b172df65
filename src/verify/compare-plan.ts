/**
 * What a comparison compares: the PostgreSQL table's columns (at the verify point) that its Iceberg
 * mirror has, each under the type the pipeline gives it (capture's mapping → src/replicate/values.ts),
 * and the primary key — or none, for a multiset comparison. Also how a PostgreSQL row (capture's event
 * values) becomes a row in Floe's value representation, exactly as `floe replicate` converts it.
 */
import type { EventValue, TableSchema } from "../capture/index.ts";
import type { Schema } from "../iceberg/schema.ts";
import type { IcebergType, NestedField } from "../iceberg/types.ts";
import { eventSchema, sinkRow } from "../replicate/values.ts";
import { CHANGELOG_OP_COLUMN, CHANGELOG_POSITION_COLUMN } from "../sink/change.ts";
import { VerifyError } from "./errors.ts";
import type { HashColumn } from "./row-hash.ts";

export interface ComparePlan {
  /** The PostgreSQL table as it was at the verify point. */
  source: TableSchema;
  /** Column → the sink's Iceberg type (what `floe replicate` converts values to). */
  sinkTypes: Map<string, IcebergType>;
  /** Compared columns: PostgreSQL's, in its order, that the Iceberg table has. */
  columns: HashColumn[];
  /** The primary key as fields (sink types); undefined for a table without one (multiset comparison). */
  keyFields: NestedField[] | undefined;
  /** PostgreSQL columns the Iceberg table lacks: a difference on their own. */
  missingInIceberg: string[];
  /** Iceberg columns PostgreSQL no longer has (`floe replicate` keeps dropped columns): not compared. */
  ignoredInIceberg: string[];
}

export function comparePlan(source: TableSchema, iceberg: Schema, label: string): ComparePlan {
  const names = new Set(iceberg.fields.map((field) => field.name));
  if (names.has(CHANGELOG_OP_COLUMN) && names.has(CHANGELOG_POSITION_COLUMN))
    throw new VerifyError(
      "TABLE_NOT_COMPARABLE",
      `${label} is a changelog table (it has ${CHANGELOG_OP_COLUMN} and ${CHANGELOG_POSITION_COLUMN}): it holds the history of ${source.schema}.${source.table}, not a mirror of it; verify compares tables replicated in upsert mode`,
    );
  const sinkTypes = new Map(eventSchema(source).columns.map((column) => [column.name, column.type]));
  const typeOf = (name: string): IcebergType => sinkTypes.get(name) as IcebergType;
  const columns = source.columns
    .filter((column) => names.has(column.name))
    .map((column) => ({ name: column.name, type: typeOf(column.name) }));
  const missingKey = source.primaryKey.filter((name) => !names.has(name));
  if (missingKey.length > 0)
    throw new VerifyError(
      "TABLE_NOT_COMPARABLE",
      `${label} has no column ${missingKey.join(", ")} of ${source.schema}.${source.table}'s primary key; is it the mirror of that table? (choose the source with --source-table)`,
    );
  const keyFields =
    source.primaryKey.length === 0
      ? undefined
      : source.primaryKey.map((name, index) => ({
          id: index + 1,
          name,
          required: true,
          type: typeOf(name),
        }));
  const pgNames = new Set(source.columns.map((column) => column.name));
  return {
    source,
    sinkTypes,
    columns,
    keyFields,
    missingInIceberg: source.columns.filter((column) => !names.has(column.name)).map((column) => column.name),
    ignoredInIceberg: iceberg.fields.filter((field) => !pgNames.has(field.name)).map((field) => field.name),
  };
}

/**
 * Throws SCHEMA_CHANGED when the Iceberg snapshot that is compared has other columns than the plan was
 * made for (the lake applied DDL while verify ran).
 */
export function checkPlanFits(plan: ComparePlan, iceberg: Schema, label: string): void {
  const names = new Set(iceberg.fields.map((field) => field.name));
  const fits =
    plan.columns.every((column) => names.has(column.name)) &&
    plan.missingInIceberg.every((name) => !names.has(name));
  if (!fits)
    throw new VerifyError(
      "SCHEMA_CHANGED",
      `${label}: the Iceberg table's columns changed while verify ran (now ${[...names].join(", ")}); run verify again`,
    );
}

/** A PostgreSQL row (capture's event values) in Floe's value representation, as the pipeline converts it. */
export function sourceRow(plan: ComparePlan, row: Record<string, EventValue>): Record<string, unknown> {
  return sinkRow(plan.source, plan.sinkTypes, row);
}
