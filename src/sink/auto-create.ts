/**
 * Tables from the source's schema: creating a table for a source table's first event (primary key →
 * identifier fields, required key columns, a partition spec from config; changelog tables get the op,
 * position and commit-time columns), and following source DDL afterwards. Columns are matched by name,
 * or by `renamedFrom`; Iceberg's field ids then keep old data readable: added columns read as null,
 * widened types are promoted, renamed columns keep their id, and dropped columns become optional (their
 * history stays readable) unless `dropRemovedColumns` deletes them.
 */
import type { Catalog, LoadedTable, TableIdentifier } from "../catalog/catalog.ts";
import { updateSchema } from "../iceberg/operations/table-changes.ts";
import type { PartitionSpec } from "../iceberg/partitioning.ts";
import { Schema } from "../iceberg/schema.ts";
import { promotionProblem, type SchemaUpdate } from "../iceberg/schema-update.ts";
import { currentSchema } from "../iceberg/table-metadata.ts";
import type { Transform } from "../iceberg/transforms.ts";
import {
  type IcebergType,
  isPrimitive,
  type NestedField,
  primitive,
  typeToString,
} from "../iceberg/types.ts";
import { CHANGELOG_COMMIT_TIME_COLUMN, CHANGELOG_OP_COLUMN, CHANGELOG_POSITION_COLUMN } from "./change.ts";
import { SinkError } from "./errors.ts";

export interface SourceColumn {
  name: string;
  type: IcebergType;
  /** Nullable in the source; primary key columns are always required. Defaults to true. */
  optional?: boolean;
  /** The column's previous name when the source renamed it (keeps its field id and data). */
  renamedFrom?: string;
}

/** A source table's shape as its change events describe it. */
export interface EventSchema {
  columns: SourceColumn[];
  /** Primary key column names, in key order; empty for changelog tables of keyless sources. */
  primaryKey: string[];
}

export interface PartitionFieldConfig {
  column: string;
  transform: Transform;
  /** Defaults to `<column>_<transform>` (the column name for identity). */
  name?: string;
}

export interface CreateSinkTableOptions {
  mode?: "upsert" | "changelog";
  partitionBy?: PartitionFieldConfig[];
  properties?: Record<string, string>;
}

/** The Iceberg schema of a sink table for `event` (changelog tables get three more columns). */
export function sinkSchema(event: EventSchema, mode: "upsert" | "changelog" = "upsert"): Schema {
  const names = new Set(event.columns.map((c) => c.name));
  for (const key of event.primaryKey) {
    if (!names.has(key)) throw new SinkError("CHANGE_INVALID", `primary key column '${key}' is not a column`);
  }
  const keys = new Set(event.primaryKey);
  const fields: NestedField[] = event.columns.map((column, i) => ({
    id: i + 1,
    name: column.name,
    required: keys.has(column.name) || column.optional === false,
    type: column.type,
  }));
  if (mode === "changelog") {
    const extra: [string, IcebergType][] = [
      [CHANGELOG_OP_COLUMN, primitive("string")],
      [CHANGELOG_POSITION_COLUMN, primitive("string")],
      [CHANGELOG_COMMIT_TIME_COLUMN, primitive("timestamptz")],
    ];
    for (const [name, type] of extra) {
      if (names.has(name)) {
        throw new SinkError(
          "SCHEMA_INCOMPATIBLE",
          `source column '${name}' clashes with the changelog column of that name`,
        );
      }
      fields.push({ id: fields.length + 1, name, required: true, type });
    }
  }
  // A changelog holds many rows per key: the key identifies a row only in upsert tables.
  const identifiers =
    mode === "upsert" ? event.primaryKey.map((k) => fields.find((f) => f.name === k)!.id) : [];
  return new Schema(0, fields, identifiers);
}

/** Creates the table for `event`; upsert tables need a primary key. */
export async function createSinkTable(
  catalog: Catalog,
  identifier: TableIdentifier,
  event: EventSchema,
  options: CreateSinkTableOptions = {},
): Promise<LoadedTable> {
  const mode = options.mode ?? "upsert";
  if (mode === "upsert" && event.primaryKey.length === 0) {
    throw new SinkError(
      "TABLE_INVALID",
      `${identifier.name} has no primary key; upsert mode needs one (set REPLICA IDENTITY / a key, or use changelog mode)`,
    );
  }
  const schema = sinkSchema(event, mode);
  let spec: PartitionSpec | undefined;
  if (options.partitionBy && options.partitionBy.length > 0) {
    spec = {
      specId: 0,
      fields: options.partitionBy.map((p, i) => {
        const source = schema.fields.find((f) => f.name === p.column);
        if (!source) {
          throw new SinkError(
            "TABLE_INVALID",
            `partition column '${p.column}' is not a column of ${identifier.name}`,
          );
        }
        const name =
          p.name ?? (p.transform.kind === "identity" ? p.column : `${p.column}_${p.transform.kind}`);
        return { sourceId: source.id, fieldId: 1000 + i, name, transform: p.transform };
      }),
    };
  }
  const create: Parameters<Catalog["createTable"]>[1] = { schema };
  if (spec) create.spec = spec;
  if (options.properties) create.properties = options.properties;
  return catalog.createTable(identifier, create);
}

export interface EvolveSchemaOptions {
  /** Delete columns the source dropped (default: keep them, optional, so old rows stay readable). */
  dropRemovedColumns?: boolean;
}

/**
 * Brings the table's schema to `event`'s columns: adds, renames, widens (int→long, float→double,
 * decimal precision), makes optional, and drops or relaxes removed columns. Returns the table unchanged
 * when nothing differs; SinkError SCHEMA_INCOMPATIBLE for a type change Iceberg cannot promote.
 */
export async function evolveSchema(
  catalog: Catalog,
  table: LoadedTable,
  event: EventSchema,
  options: EvolveSchemaOptions = {},
): Promise<LoadedTable> {
  const plan = evolutionPlan(currentSchema(table.metadata), event, options);
  if (plan.length === 0) return table;
  const outcome = await updateSchema(catalog, table, (update) => {
    for (const step of plan) step(update);
  });
  return outcome.table;
}

type Step = (update: SchemaUpdate) => void;

const changelogColumns = new Set([
  CHANGELOG_OP_COLUMN,
  CHANGELOG_POSITION_COLUMN,
  CHANGELOG_COMMIT_TIME_COLUMN,
]);

/** The schema changes `evolveSchema` would make, as steps on a SchemaUpdate (empty: nothing to do). */
export function evolutionPlan(schema: Schema, event: EventSchema, options: EvolveSchemaOptions = {}): Step[] {
  const steps: Step[] = [];
  const keys = new Set(event.primaryKey);
  const matched = new Set<number>();
  for (const column of event.columns) {
    let field = schema.fields.find((f) => f.name === column.name);
    if (!field && column.renamedFrom !== undefined) {
      const old = schema.fields.find((f) => f.name === column.renamedFrom);
      if (old) {
        field = old;
        steps.push((u) => u.renameColumn(old.name, column.name));
      }
    }
    if (!field) {
      steps.push((u) => u.addColumn(column.name, column.type));
      continue;
    }
    matched.add(field.id);
    const from = field.type;
    const to = column.type;
    if (typeToString(from) !== typeToString(to)) {
      const problem =
        isPrimitive(from) && isPrimitive(to) ? promotionProblem(from, to) : "nested types cannot change";
      if (problem !== undefined || !isPrimitive(to)) {
        throw new SinkError(
          "SCHEMA_INCOMPATIBLE",
          `column '${column.name}' changed from ${typeToString(from)} to ${typeToString(to)} in the source: ${problem}`,
        );
      }
      steps.push((u) => u.updateColumnType(column.name, to));
    }
    const optional = !keys.has(column.name) && column.optional !== false;
    if (field.required && optional) steps.push((u) => u.makeColumnOptional(column.name));
  }
  for (const field of schema.fields) {
    if (matched.has(field.id) || changelogColumns.has(field.name)) continue;
    if (options.dropRemovedColumns && !schema.identifierFieldIds.includes(field.id)) {
      steps.push((u) => u.deleteColumn(field.name));
    } else if (field.required && !schema.identifierFieldIds.includes(field.id)) {
      steps.push((u) => u.makeColumnOptional(field.name));
    }
  }
  return steps;
}
