/**
 * Table schemas as the stream knows them: each pgoutput Relation message becomes a {@link TableSchema}
 * (columns with their type mappings, the primary key, nullability), and a changed Relation message
 * becomes a {@link SchemaChange} — added, dropped, renamed columns and type changes.
 *
 * pgoutput sends a Relation before the first change of a table after connecting and again after DDL,
 * so comparing the new message to the last one for the same oid is how DDL is detected. pgoutput
 * does not send attribute numbers: a rename is recognised as one column gone and one new, at the same
 * position with the same type.
 */
import type pg from "pg";
import { type TypeRegistry, type ValueMapping, withDimensions } from "./pg-types.ts";
import type { RelationMessage, ReplicaIdentity } from "./pgoutput.ts";

export interface ColumnSchema {
  name: string;
  typeOid: number;
  typeMod: number;
  optional: boolean;
  /** Declared array dimensions (`pg_attribute.attndims`; 0 for non-arrays and when unknown). */
  dimensions?: number;
  mapping: ValueMapping;
}

export interface TableSchema {
  relationOid: number;
  schema: string;
  table: string;
  replicaIdentity: ReplicaIdentity;
  columns: ColumnSchema[];
  /** Primary key column names, in key order; empty for a table without one (its events have a null key). */
  primaryKey: string[];
}

export type ColumnChange =
  | { kind: "add_column"; column: string; type: string }
  | { kind: "drop_column"; column: string }
  | { kind: "rename_column"; from: string; to: string }
  | { kind: "change_type"; column: string; from: string; to: string }
  | { kind: "change_primary_key"; from: string[]; to: string[] };

export interface SchemaChange {
  schema: string;
  table: string;
  changes: ColumnChange[];
  tableSchema: TableSchema;
}

export function qualifiedName(table: { schema: string; table: string }): string {
  return `${table.schema}.${table.table}`;
}

/** Primary key column names (key order), NOT NULL columns and declared array dimensions of a table. */
async function keyAndNullability(
  sql: pg.Client,
  relationOid: number,
): Promise<{ primaryKey: string[]; notNull: Set<string>; dimensions: Map<string, number> }> {
  const { rows: keyRows } = await sql.query<{ attname: string }>(
    `select a.attname
       from pg_index i
       cross join lateral unnest(i.indkey) with ordinality as k(attnum, position)
       join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
      where i.indrelid = $1 and i.indisprimary
      order by k.position`,
    [relationOid],
  );
  const { rows: attributeRows } = await sql.query<{
    attname: string;
    attnotnull: unknown;
    attndims: unknown;
  }>(
    "select attname, attnotnull, attndims from pg_attribute where attrelid = $1 and attnum > 0 and not attisdropped",
    [relationOid],
  );
  // The capture's clients read every value as text ('t'/'f', digits).
  const flag = (value: unknown) => value === true || value === "t";
  return {
    primaryKey: keyRows.map((row) => row.attname),
    notNull: new Set(attributeRows.filter((row) => flag(row.attnotnull)).map((row) => row.attname)),
    dimensions: new Map(attributeRows.map((row) => [row.attname, Number(row.attndims ?? 0)])),
  };
}

export class SchemaTracker {
  private readonly tables = new Map<number, TableSchema>();

  constructor(
    private readonly sql: pg.Client,
    private readonly types: TypeRegistry,
  ) {}

  get(relationOid: number): TableSchema | undefined {
    return this.tables.get(relationOid);
  }

  /** Applies a Relation message; returns the schema change when this table was known and differs. */
  async apply(message: RelationMessage): Promise<{ tableSchema: TableSchema; change: SchemaChange | null }> {
    const previous = this.tables.get(message.relationOid);
    if (previous) this.types.invalidate();
    const tableSchema = await this.describe(message);
    this.tables.set(message.relationOid, tableSchema);
    const changes = previous ? diffSchemas(previous, tableSchema) : [];
    return {
      tableSchema,
      change:
        changes.length > 0
          ? { schema: tableSchema.schema, table: tableSchema.table, changes, tableSchema }
          : null,
    };
  }

  private async describe(message: RelationMessage): Promise<TableSchema> {
    const name = `${message.schema}.${message.name}`;
    const { primaryKey, notNull, dimensions } = await keyAndNullability(this.sql, message.relationOid);
    const columns: ColumnSchema[] = [];
    for (const column of message.columns) {
      const mapping = await this.types.mappingFor(column.typeOid, column.typeMod, {
        table: name,
        column: column.name,
      });
      const declared = dimensions.get(column.name) ?? 0;
      columns.push({
        name: column.name,
        typeOid: column.typeOid,
        typeMod: column.typeMod,
        optional: !notNull.has(column.name),
        ...(declared > 1 ? { dimensions: declared } : {}),
        mapping: withDimensions(mapping, declared),
      });
    }
    return {
      relationOid: message.relationOid,
      schema: message.schema,
      table: message.name,
      replicaIdentity: message.replicaIdentity,
      columns,
      primaryKey,
    };
  }
}

/** Describes a table from the catalog alone (the snapshot reads tables before any Relation message). */
export async function describeTable(
  sql: pg.Client,
  types: TypeRegistry,
  schema: string,
  table: string,
): Promise<TableSchema> {
  const { rows } = await sql.query<{ oid: number; relreplident: string }>(
    "select c.oid::int as oid, c.relreplident from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $2",
    [schema, table],
  );
  const row = rows[0];
  if (!row) throw new Error(`table ${schema}.${table} not found`);
  const relationOid = Number(row.oid);
  const { rows: attributes } = await sql.query<{ attname: string; atttypid: number; atttypmod: number }>(
    "select attname, atttypid::int as atttypid, atttypmod from pg_attribute where attrelid = $1 and attnum > 0 and not attisdropped order by attnum",
    [relationOid],
  );
  const identity: Record<string, ReplicaIdentity> = { d: "default", n: "nothing", f: "full", i: "index" };
  return new SchemaTracker(sql, types)
    .apply({
      tag: "relation",
      relationOid,
      schema,
      name: table,
      replicaIdentity: identity[row.relreplident] ?? "default",
      columns: attributes.map((attribute) => ({
        isKey: false,
        name: attribute.attname,
        typeOid: Number(attribute.atttypid),
        typeMod: Number(attribute.atttypmod),
      })),
    })
    .then((result) => result.tableSchema);
}

export function diffSchemas(before: TableSchema, after: TableSchema): ColumnChange[] {
  const changes: ColumnChange[] = [];
  const beforeByName = new Map(before.columns.map((column) => [column.name, column]));
  const afterByName = new Map(after.columns.map((column) => [column.name, column]));
  const dropped = before.columns.filter((column) => !afterByName.has(column.name));
  const added = after.columns.filter((column) => !beforeByName.has(column.name));
  const renamedFrom = new Set<string>();
  const renamedTo = new Set<string>();
  for (const gone of dropped) {
    const index = before.columns.indexOf(gone);
    const candidate = after.columns[index];
    if (
      candidate &&
      added.includes(candidate) &&
      candidate.typeOid === gone.typeOid &&
      candidate.typeMod === gone.typeMod &&
      (candidate.dimensions ?? 0) === (gone.dimensions ?? 0)
    ) {
      changes.push({ kind: "rename_column", from: gone.name, to: candidate.name });
      renamedFrom.add(gone.name);
      renamedTo.add(candidate.name);
    }
  }
  for (const gone of dropped)
    if (!renamedFrom.has(gone.name)) changes.push({ kind: "drop_column", column: gone.name });
  for (const column of added)
    if (!renamedTo.has(column.name))
      changes.push({ kind: "add_column", column: column.name, type: column.mapping.pgType });
  for (const column of after.columns) {
    const old = beforeByName.get(column.name);
    if (
      old &&
      (old.typeOid !== column.typeOid ||
        old.typeMod !== column.typeMod ||
        (old.dimensions ?? 0) !== (column.dimensions ?? 0))
    )
      changes.push({
        kind: "change_type",
        column: column.name,
        from: old.mapping.pgType,
        to: column.mapping.pgType,
      });
  }
  if (before.primaryKey.join(",") !== after.primaryKey.join(","))
    changes.push({ kind: "change_primary_key", from: before.primaryKey, to: after.primaryKey });
  return changes;
}
