/**
 * Row filters (spec "Scan Planning" speaks of them as expressions): a small predicate model over columns
 * named as the schema names them, binding to field ids with literals converted to the column's type, and
 * the two things scans do with a bound filter: evaluate it on known values (partition tuples) and render it
 * as DuckDB SQL for the residual. Every literal in SQL goes through `sqlString`/typed casts, never raw text.
 */
import {
  daysToIsoDate,
  decimalFromString,
  decimalToString,
  expectIntValue,
  expectLongValue,
  isoDateToDays,
  isoTimeToMicros,
  isoToTimestamp,
  microsToIsoTime,
  type PrimitiveValue,
  timestampToIso,
  uuidFromBytes,
  uuidToBytes,
} from "./conversions.ts";
import { duckDbTypeOf, sqlIdentifier, sqlString } from "./duckdb.ts";
import { IcebergError } from "./errors.ts";
import { comparePartitionValues } from "./partition-summary.ts";
import type { Schema } from "./schema.ts";
import { isPrimitive, type PrimitiveType, typeToString } from "./types.ts";

/** What a caller may write as a literal; binding converts it to the column type's `PrimitiveValue`. */
export type LiteralInput = boolean | number | bigint | string | Uint8Array | Date;

export type ComparisonOp = "eq" | "notEq" | "lt" | "ltEq" | "gt" | "gtEq" | "startsWith" | "notStartsWith";
export type UnaryOp = "isNull" | "notNull" | "isNan" | "notNan";
export type SetOp = "in" | "notIn";

/** An unbound expression: columns by (dotted) name, literals as the caller wrote them. */
export type Expression =
  | { op: "true" }
  | { op: "false" }
  | { op: "and"; left: Expression; right: Expression }
  | { op: "or"; left: Expression; right: Expression }
  | { op: "not"; child: Expression }
  | { op: ComparisonOp; column: string; value: LiteralInput }
  | { op: UnaryOp; column: string }
  | { op: SetOp; column: string; values: LiteralInput[] };

/** A column resolved against a schema: its field id, full dotted name and primitive type. */
export interface BoundReference {
  fieldId: number;
  name: string;
  type: PrimitiveType;
}

/** A bound expression: references by field id, literals in the `PrimitiveValue` form of the column type. */
export type BoundExpression =
  | { op: "true" }
  | { op: "false" }
  | { op: "and"; left: BoundExpression; right: BoundExpression }
  | { op: "or"; left: BoundExpression; right: BoundExpression }
  | { op: "not"; child: BoundExpression }
  | { op: ComparisonOp; ref: BoundReference; value: PrimitiveValue }
  | { op: UnaryOp; ref: BoundReference }
  | { op: SetOp; ref: BoundReference; values: PrimitiveValue[] };

export type BoundPredicate = Extract<BoundExpression, { ref: BoundReference }>;

/**
 * Inclusive ("might match") evaluation of a filter's structure, shared by the evaluators that judge files
 * and manifests from their metrics: `true`/`false` as written, and/or combined, `not` as a possible match
 * (callers rewrite NOT away first), and `predicate` deciding each leaf.
 */
export function mightMatch(expr: BoundExpression, predicate: (pred: BoundPredicate) => boolean): boolean {
  switch (expr.op) {
    case "true":
      return true;
    case "false":
      return false;
    case "and":
      return mightMatch(expr.left, predicate) && mightMatch(expr.right, predicate);
    case "or":
      return mightMatch(expr.left, predicate) || mightMatch(expr.right, predicate);
    case "not":
      return true;
    default:
      return predicate(expr);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Builders.

export const alwaysTrue = (): Expression => ({ op: "true" });
export const alwaysFalse = (): Expression => ({ op: "false" });

export function and(...children: Expression[]): Expression {
  if (children.length === 0) return alwaysTrue();
  return children.reduce((left, right) => ({ op: "and", left, right }));
}

export function or(...children: Expression[]): Expression {
  if (children.length === 0) return alwaysFalse();
  return children.reduce((left, right) => ({ op: "or", left, right }));
}

export const not = (child: Expression): Expression => ({ op: "not", child });
export const equal = (column: string, value: LiteralInput): Expression => ({ op: "eq", column, value });
export const notEqual = (column: string, value: LiteralInput): Expression => ({ op: "notEq", column, value });
export const lessThan = (column: string, value: LiteralInput): Expression => ({ op: "lt", column, value });
export const lessThanOrEqual = (column: string, value: LiteralInput): Expression => ({
  op: "ltEq",
  column,
  value,
});
export const greaterThan = (column: string, value: LiteralInput): Expression => ({ op: "gt", column, value });
export const greaterThanOrEqual = (column: string, value: LiteralInput): Expression => ({
  op: "gtEq",
  column,
  value,
});
export const startsWith = (column: string, prefix: string): Expression => ({
  op: "startsWith",
  column,
  value: prefix,
});
export const notStartsWith = (column: string, prefix: string): Expression => ({
  op: "notStartsWith",
  column,
  value: prefix,
});
export const isNull = (column: string): Expression => ({ op: "isNull", column });
export const notNull = (column: string): Expression => ({ op: "notNull", column });
export const isNan = (column: string): Expression => ({ op: "isNan", column });
export const notNan = (column: string): Expression => ({ op: "notNan", column });
export const isIn = (column: string, values: LiteralInput[]): Expression => ({ op: "in", column, values });
export const notIn = (column: string, values: LiteralInput[]): Expression => ({
  op: "notIn",
  column,
  values,
});

// ---------------------------------------------------------------------------------------------------------
// Binding.

export interface BindOptions {
  /** Match column names exactly (default) or ignoring ASCII case. */
  caseSensitive?: boolean;
}

function invalid(message: string): IcebergError {
  return new IcebergError("DATA_INVALID", message);
}

function resolveColumn(schema: Schema, column: string, caseSensitive: boolean): BoundReference {
  let field = schema.findFieldByName(column);
  let name = column;
  if (!field && !caseSensitive) {
    const wanted = column.toLowerCase();
    for (const id of allFieldIds(schema)) {
      const candidate = schema.findColumnName(id);
      if (candidate?.toLowerCase() === wanted) {
        field = schema.findField(id);
        name = candidate;
        break;
      }
    }
  }
  if (!field) {
    throw invalid(
      `filter references column '${column}', which is not in schema ${schema.schemaId} ` +
        `(columns: ${schema.fields.map((f) => f.name).join(", ")})`,
    );
  }
  if (!isPrimitive(field.type)) {
    throw invalid(
      `filter column '${column}' is a ${field.type.kind}; filters compare primitive columns only`,
    );
  }
  for (const parentId of schema.parentIds(field.id) ?? []) {
    const kind = schema.findField(parentId)?.type.kind;
    if (kind === "list" || kind === "map") {
      throw new IcebergError(
        "FEATURE_UNSUPPORTED",
        `filter column '${column}' is inside a ${kind}; Floe filters top-level and struct columns only`,
      );
    }
  }
  return { fieldId: field.id, name: schema.findColumnName(field.id) ?? name, type: field.type };
}

function allFieldIds(schema: Schema): number[] {
  const ids: number[] = [];
  for (let id = 0; id <= schema.highestFieldId(); id++) if (schema.findField(id)) ids.push(id);
  return ids;
}

/** Binds `expr` to `schema`: an unknown column or a literal the column's type cannot hold is DATA_INVALID. */
export function bind(expr: Expression, schema: Schema, options: BindOptions = {}): BoundExpression {
  const caseSensitive = options.caseSensitive ?? true;
  const visit = (e: Expression): BoundExpression => {
    switch (e.op) {
      case "true":
      case "false":
        return e;
      case "and":
      case "or":
        return { op: e.op, left: visit(e.left), right: visit(e.right) };
      case "not":
        return { op: "not", child: visit(e.child) };
      case "isNull":
      case "notNull":
      case "isNan":
      case "notNan": {
        const ref = resolveColumn(schema, e.column, caseSensitive);
        if (
          (e.op === "isNan" || e.op === "notNan") &&
          ref.type.kind !== "float" &&
          ref.type.kind !== "double"
        ) {
          throw invalid(`${e.op} needs a float or double column; '${ref.name}' is ${typeToString(ref.type)}`);
        }
        return { op: e.op, ref };
      }
      case "in":
      case "notIn": {
        const ref = resolveColumn(schema, e.column, caseSensitive);
        const values = e.values.map((v) => toLiteral(ref, v));
        return { op: e.op, ref, values };
      }
      default: {
        const ref = resolveColumn(schema, e.column, caseSensitive);
        if ((e.op === "startsWith" || e.op === "notStartsWith") && ref.type.kind !== "string") {
          throw invalid(`${e.op} needs a string column; '${ref.name}' is ${typeToString(ref.type)}`);
        }
        return { op: e.op, ref, value: toLiteral(ref, e.value) };
      }
    }
  };
  return visit(expr);
}

/** Converts a caller's literal to the column type's in-memory representation (see conversions.ts). */
export function toLiteral(ref: BoundReference, value: LiteralInput): PrimitiveValue {
  const type = ref.type;
  const wrong = () =>
    invalid(
      `literal ${describeLiteral(value)} cannot be compared with ${typeToString(type)} column '${ref.name}'`,
    );
  try {
    switch (type.kind) {
      case "boolean":
        if (typeof value === "boolean") return value;
        throw wrong();
      case "int":
        return expectIntValue(type, typeof value === "bigint" ? Number(value) : value);
      case "long":
        return expectLongValue(type, value);
      case "float":
      case "double":
        if (typeof value === "number") return value;
        if (typeof value === "bigint") return Number(value);
        throw wrong();
      case "date":
        if (typeof value === "string") return isoDateToDays(value);
        if (value instanceof Date) return Math.floor(value.getTime() / 86_400_000);
        return expectIntValue(type, value);
      case "time":
        if (typeof value === "string") return isoTimeToMicros(value);
        return expectLongValue(type, value);
      case "timestamp":
      case "timestamptz":
      case "timestamp_ns":
      case "timestamptz_ns": {
        const ns = type.kind.endsWith("_ns");
        if (value instanceof Date) return BigInt(value.getTime()) * (ns ? 1_000_000n : 1000n);
        if (typeof value === "string") {
          // Accept both zoned and local texts: a zoned text is converted to UTC.
          const zoned = /(Z|[+-]\d{2}:\d{2})$/.test(value);
          return isoToTimestamp(value, ns ? "ns" : "us", zoned);
        }
        return expectLongValue(type, value);
      }
      case "decimal":
        if (typeof value === "string") return decimalFromString(value, type.scale);
        if (typeof value === "number") return decimalFromString(String(value), type.scale);
        if (typeof value === "bigint") return value * 10n ** BigInt(type.scale);
        throw wrong();
      case "string":
        if (typeof value === "string") return value;
        throw wrong();
      case "uuid":
        if (typeof value === "string") return uuidFromBytes(uuidToBytes(value));
        if (value instanceof Uint8Array) return uuidFromBytes(value);
        throw wrong();
      case "binary":
      case "fixed":
        if (value instanceof Uint8Array) return value;
        throw wrong();
    }
  } catch (error) {
    if (error instanceof IcebergError && !error.message.includes(`'${ref.name}'`)) {
      throw invalid(`filter on '${ref.name}': ${error.message}`);
    }
    throw error;
  }
}

function describeLiteral(value: LiteralInput): string {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Uint8Array) return `Uint8Array(${value.length})`;
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------------------
// Rewriting.

const negated: Record<ComparisonOp | UnaryOp | SetOp, ComparisonOp | UnaryOp | SetOp> = {
  eq: "notEq",
  notEq: "eq",
  lt: "gtEq",
  ltEq: "gt",
  gt: "ltEq",
  gtEq: "lt",
  startsWith: "notStartsWith",
  notStartsWith: "startsWith",
  isNull: "notNull",
  notNull: "isNull",
  isNan: "notNan",
  notNan: "isNan",
  in: "notIn",
  notIn: "in",
};

/** Pushes every `not` down to the predicates (De Morgan), as the pruning evaluators need. */
export function rewriteNot(expr: BoundExpression): BoundExpression {
  switch (expr.op) {
    case "true":
    case "false":
      return expr;
    case "and":
    case "or":
      return { op: expr.op, left: rewriteNot(expr.left), right: rewriteNot(expr.right) };
    case "not":
      return negate(expr.child);
    default:
      return expr;
  }
}

function negate(expr: BoundExpression): BoundExpression {
  switch (expr.op) {
    case "true":
      return { op: "false" };
    case "false":
      return { op: "true" };
    case "and":
      return { op: "or", left: negate(expr.left), right: negate(expr.right) };
    case "or":
      return { op: "and", left: negate(expr.left), right: negate(expr.right) };
    case "not":
      return rewriteNot(expr.child);
    default:
      return { ...expr, op: negated[expr.op] } as BoundExpression;
  }
}

/** `and` that folds constants, so projections of unrelated predicates disappear. */
export function andBound(left: BoundExpression, right: BoundExpression): BoundExpression {
  if (left.op === "false" || right.op === "false") return { op: "false" };
  if (left.op === "true") return right;
  if (right.op === "true") return left;
  return { op: "and", left, right };
}

export function orBound(left: BoundExpression, right: BoundExpression): BoundExpression {
  if (left.op === "true" || right.op === "true") return { op: "true" };
  if (left.op === "false") return right;
  if (right.op === "false") return left;
  return { op: "or", left, right };
}

/** The field ids a bound expression reads. */
export function referencedFieldIds(expr: BoundExpression): Set<number> {
  const ids = new Set<number>();
  const visit = (e: BoundExpression) => {
    if (e.op === "and" || e.op === "or") {
      visit(e.left);
      visit(e.right);
    } else if (e.op === "not") visit(e.child);
    else if ("ref" in e) ids.add(e.ref.fieldId);
  };
  visit(expr);
  return ids;
}

// ---------------------------------------------------------------------------------------------------------
// Evaluation on known values.

/** Orders two non-null values of one type: numbers numerically, strings by UTF-8 bytes, bytes unsigned. */
export function compareValues(type: PrimitiveType, a: PrimitiveValue, b: PrimitiveValue): number {
  return comparePartitionValues(type, a, b);
}

function isNanValue(value: PrimitiveValue | null): boolean {
  return typeof value === "number" && Number.isNaN(value);
}

function startsWithValue(value: PrimitiveValue, prefix: PrimitiveValue): boolean {
  return typeof value === "string" && typeof prefix === "string" && value.startsWith(prefix);
}

/**
 * Evaluates `expr` with SQL-like null semantics collapsed to "does the row match": a comparison with null
 * is false, `notEq`/`notIn`/`notStartsWith` with null are false too (as SQL's `NULL <> 1` is not true).
 * `valueOfField` gives the value of a field id, or null.
 */
export function evaluate(
  expr: BoundExpression,
  valueOfField: (fieldId: number) => PrimitiveValue | null,
): boolean {
  switch (expr.op) {
    case "true":
      return true;
    case "false":
      return false;
    case "and":
      return evaluate(expr.left, valueOfField) && evaluate(expr.right, valueOfField);
    case "or":
      return evaluate(expr.left, valueOfField) || evaluate(expr.right, valueOfField);
    case "not":
      return !evaluate(expr.child, valueOfField);
    default:
      break;
  }
  const value = valueOfField(expr.ref.fieldId);
  const type = expr.ref.type;
  switch (expr.op) {
    case "isNull":
      return value === null;
    case "notNull":
      return value !== null;
    case "isNan":
      return isNanValue(value);
    case "notNan":
      return !isNanValue(value);
    default:
      break;
  }
  if (value === null) return false;
  switch (expr.op) {
    case "in":
      return expr.values.some((v) => compareValues(type, value, v) === 0);
    case "notIn":
      return expr.values.every((v) => compareValues(type, value, v) !== 0);
    case "startsWith":
      return startsWithValue(value, expr.value);
    case "notStartsWith":
      return !startsWithValue(value, expr.value);
    default:
      break;
  }
  if (isNanValue(value) || isNanValue(expr.value)) return expr.op === "notEq";
  const cmp = compareValues(type, value, expr.value);
  switch (expr.op) {
    case "eq":
      return cmp === 0;
    case "notEq":
      return cmp !== 0;
    case "lt":
      return cmp < 0;
    case "ltEq":
      return cmp <= 0;
    case "gt":
      return cmp > 0;
    case "gtEq":
      return cmp >= 0;
  }
}

// ---------------------------------------------------------------------------------------------------------
// DuckDB SQL.

/** A typed SQL literal for a value of `type`: `CAST('2024-01-01' AS DATE)`, `'it''s'`, `12::BIGINT`. */
export function duckDbLiteral(type: PrimitiveType, value: PrimitiveValue | null): string {
  if (value === null) return `CAST(NULL AS ${duckDbTypeOf(type)})`;
  const cast = (text: string) => `CAST(${sqlString(text)} AS ${duckDbTypeOf(type)})`;
  switch (type.kind) {
    case "boolean":
      return value === true ? "TRUE" : "FALSE";
    case "int":
    case "long":
      return cast(String(typeof value === "number" ? value : expectLongValue(type, value)));
    case "float":
    case "double": {
      const number = value as number;
      if (Number.isNaN(number)) return cast("NaN");
      if (!Number.isFinite(number)) return cast(number > 0 ? "Infinity" : "-Infinity");
      return cast(String(number));
    }
    case "date":
      return cast(daysToIsoDate(expectIntValue(type, value)));
    case "time":
      return cast(microsToIsoTime(expectLongValue(type, value)));
    case "timestamp":
      return cast(timestampToIso(expectLongValue(type, value), "us", false));
    case "timestamptz":
      return cast(timestampToIso(expectLongValue(type, value), "us", true));
    case "timestamp_ns":
    case "timestamptz_ns":
      return cast(timestampToIso(expectLongValue(type, value), "ns", false));
    case "decimal":
      return cast(decimalToString(value as bigint, type.scale));
    case "string":
      return sqlString(value as string);
    case "uuid":
      return cast(value as string);
    case "binary":
    case "fixed":
      return `from_hex(${sqlString(Buffer.from(value as Uint8Array).toString("hex"))})`;
  }
}

/** `"a"."b"` for the dotted column `a.b` (struct field access). */
export function columnSql(name: string): string {
  return name.split(".").map(sqlIdentifier).join(".");
}

const comparisonSql: Partial<Record<ComparisonOp, string>> = {
  eq: "=",
  notEq: "<>",
  lt: "<",
  ltEq: "<=",
  gt: ">",
  gtEq: ">=",
};

/**
 * Renders a bound expression as a DuckDB boolean SQL expression over columns named as the schema names
 * them (`column` overrides how a reference is written). Comparisons keep SQL's null semantics.
 */
export function toDuckDbSql(
  expr: BoundExpression,
  column: (ref: BoundReference) => string = (ref) => columnSql(ref.name),
): string {
  const visit = (e: BoundExpression): string => {
    switch (e.op) {
      case "true":
        return "TRUE";
      case "false":
        return "FALSE";
      case "and":
        return `(${visit(e.left)} AND ${visit(e.right)})`;
      case "or":
        return `(${visit(e.left)} OR ${visit(e.right)})`;
      case "not":
        return `(NOT ${visit(e.child)})`;
      case "isNull":
        return `(${column(e.ref)} IS NULL)`;
      case "notNull":
        return `(${column(e.ref)} IS NOT NULL)`;
      case "isNan":
        return `isnan(${column(e.ref)})`;
      case "notNan":
        return `(NOT isnan(${column(e.ref)}))`;
      case "in":
      case "notIn": {
        if (e.values.length === 0) return e.op === "in" ? "FALSE" : `(${column(e.ref)} IS NOT NULL)`;
        const list = e.values.map((v) => duckDbLiteral(e.ref.type, v)).join(", ");
        return `(${column(e.ref)} ${e.op === "in" ? "IN" : "NOT IN"} (${list}))`;
      }
      case "startsWith":
        return `starts_with(${column(e.ref)}, ${duckDbLiteral(e.ref.type, e.value)})`;
      case "notStartsWith":
        return `(NOT starts_with(${column(e.ref)}, ${duckDbLiteral(e.ref.type, e.value)}))`;
      default:
        return `(${column(e.ref)} ${comparisonSql[e.op]} ${duckDbLiteral(e.ref.type, e.value)})`;
    }
  };
  return visit(expr);
}
