/**
 * Text tuples → event rows and keys, one conversion for every path that reads PostgreSQL's text
 * output: pgoutput tuples (`decodeTuple`, with unchanged TOAST values), the snapshot's COPY rows and
 * verify's query rows (`decodeTextRow`). Each value goes through its column's `mapping.decode`
 * (pg-types.ts), so a value reads the same whichever way it arrived.
 *
 * `decodeTextRow` and `keyOf` run once per row of a snapshot, so each table shape gets a compiled
 * function that builds the row as one object literal. Built column by column (`row[name] = value` in a
 * loop) every store misses V8's inline caches, which cost the snapshot about a tenth of its time.
 */
import { CaptureError } from "./errors.ts";
import type { EventValue, ValueMapping } from "./pg-types.ts";
import { type TupleValue, UNCHANGED_TOAST } from "./pgoutput.ts";
import { qualifiedName, type TableSchema } from "./relation.ts";

export type Row = { [column: string]: EventValue };

/**
 * Turns a pgoutput tuple into a row. Unchanged TOAST columns are taken from `fallback` (the old row
 * under REPLICA IDENTITY FULL) when it has them, otherwise left out and reported in `unchanged`.
 */
export function decodeTuple(
  table: TableSchema,
  tuple: readonly TupleValue[],
  fallback?: Row | null,
): { row: Row; unchanged: string[] } {
  const row: Row = {};
  const unchanged: string[] = [];
  const columns = table.columns;
  for (let index = 0; index < columns.length; index++) {
    const column = columns[index] as (typeof columns)[number];
    const value = tuple[index];
    if (value === UNCHANGED_TOAST) {
      if (fallback && column.name in fallback) row[column.name] = fallback[column.name] ?? null;
      else unchanged.push(column.name);
    } else if (value === null || value === undefined) {
      row[column.name] = null;
    } else {
      try {
        row[column.name] = column.mapping.decode(value);
      } catch (error) {
        throw valueError(table, column.name, error);
      }
    }
  }
  return { row, unchanged };
}

/** A value capture cannot represent, as VALUE_INVALID naming the table and column. */
function valueError(table: TableSchema, column: string, error: unknown): CaptureError {
  const message = (error instanceof Error ? error.message : String(error)).replace(
    "ALTER TABLE … ALTER COLUMN …",
    `ALTER TABLE ${qualifiedName(table)} ALTER COLUMN "${column}"`,
  );
  return new CaptureError(
    "VALUE_INVALID",
    `column "${column}" of table ${qualifiedName(table)}: ${message}`,
    error instanceof Error ? { cause: error } : undefined,
  );
}

/** The snapshot's COPY rows and verify's text-mode query rows: a string or null per column. */
export function decodeTextRow(table: TableSchema, values: ArrayLike<string | null>): Row {
  return textRowDecoder(table)(values);
}

/** {@link decodeTextRow} for one table, looked up once for a loop over many rows. */
export function textRowDecoder(table: TableSchema): (values: ArrayLike<string | null>) => Row {
  return compiledFor(table).row;
}

/** The event key: the primary key's columns of `row` in key order; null without a primary key. */
export function keyOf(table: TableSchema, row: Row | null): Row | null {
  if (!row || table.primaryKey.length === 0) return null;
  return compiledFor(table).key(row);
}

/** {@link keyOf} for one table, looked up once for a loop over many rows. */
export function keyExtractor(table: TableSchema): (row: Row) => Row | null {
  return table.primaryKey.length === 0 ? () => null : compiledFor(table).key;
}

interface CompiledTable {
  row(values: ArrayLike<string | null>): Row;
  key(row: Row): Row;
}

const compiled = new WeakMap<TableSchema, CompiledTable>();

function compiledFor(table: TableSchema): CompiledTable {
  let entry = compiled.get(table);
  if (!entry) {
    entry = compile(table);
    compiled.set(table, entry);
  }
  return entry;
}

function compile(table: TableSchema): CompiledTable {
  const names = table.columns.map((column) => column.name);
  // In an object literal `"__proto__": v` sets the prototype instead of adding a property.
  if ([...names, ...table.primaryKey].includes("__proto__")) return interpreted(table);
  const mappings = table.columns.map((column) => column.mapping);
  const literal = (key: string) => JSON.stringify(key);
  const rowBody = [
    "return function decodeRow(values) {",
    "  try {",
    ...names.map((_, index) => `    const v${index} = values[${index}];`),
    `    return { ${names
      .map((name, index) => `${literal(name)}: v${index} == null ? null : m${index}.decode(v${index})`)
      .join(", ")} };`,
    "  } catch (error) {",
    "    return failed(values, error);",
    "  }",
    "};",
  ].join("\n");
  const keyBody = `return function keyOf(row) { return { ${table.primaryKey
    .map((name) => `${literal(name)}: row[${literal(name)}] ?? null`)
    .join(", ")} }; };`;
  const failed = (values: ArrayLike<string | null>, error: unknown): never => {
    // Decode again column by column: that throws the VALUE_INVALID naming the column.
    decodeTuple(table, Array.from(values));
    throw error;
  };
  // Generated from column names quoted by JSON.stringify; the functions only read their arguments.
  const makeRow = new Function("failed", ...mappings.map((_, index) => `m${index}`), rowBody) as (
    fail: typeof failed,
    ...mappings: ValueMapping[]
  ) => CompiledTable["row"];
  const makeKey = new Function(keyBody) as () => CompiledTable["key"];
  return { row: makeRow(failed, ...mappings), key: makeKey() };
}

/** The same functions without code generation, for column names an object literal cannot hold. */
function interpreted(table: TableSchema): CompiledTable {
  return {
    row: (values) => decodeTuple(table, Array.from(values)).row,
    key: (row) => {
      const key: Row = {};
      for (const column of table.primaryKey) key[column] = row[column] ?? null;
      return key;
    },
  };
}
