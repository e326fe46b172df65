/**
 * Query pruning for `floe query`: reads the user's SELECT through DuckDB's own parser (`json_serialize_sql`,
 * the statement's syntax tree as JSON) and derives, for each Floe table the statement reads, a row filter
 * (an `Expression`) that every row the query can use from that table satisfies. query.ts plans the table's
 * files with it, so files that cannot hold such rows are neither downloaded nor read.
 *
 * The filter only ever meets manifests and column metrics (../iceberg/scan.ts); it never becomes SQL, and the
 * user's SQL runs unchanged over the narrowed views — so pruning can drop files whose rows the query would
 * discard anyway, never change a result. Whatever is not understood weakens a filter to "no pruning":
 * - only WHERE clauses prune, through AND / OR of comparisons with literals, IN, BETWEEN, IS [NOT] NULL on one
 *   column; an OR that spans tables, functions, casts of columns, subqueries, join ON clauses do not;
 * - a table on the nullable side of an outer join is pruned only by null-rejecting predicates (never
 *   IS NULL), which make the WHERE drop its null-extended rows, so the join cannot notice the pruning;
 * - POSITIONAL / ASOF / SEMI / ANTI joins, samples, time travel clauses, table functions (`query_table`
 *   could read a view by name), `floe_table_*` names and references that may be a CTE turn pruning off;
 * - literals are accepted only where DuckDB compares them in the column's own type (or exactly), and not
 *   where DuckDB's float semantics (NaN greatest, -0 = 0) differ from Iceberg's ordering.
 * A table read several times gets the OR of its references' filters, and none if one reference has none.
 */
import type { DuckDBConnection } from "@duckdb/node-api";
import { isLosslessNumber, parse } from "lossless-json";
import { isoToTimestamp } from "../iceberg/conversions.ts";
import { and, bind, type Expression, type LiteralInput, or } from "../iceberg/expressions.ts";
import type { Schema } from "../iceberg/schema.ts";
import type { NestedField, PrimitiveType } from "../iceberg/types.ts";
import { integerTypes } from "./format.ts";

/** One table a query may read: where its view lives and the columns it shows. */
export interface PruningTable {
  /** The DuckDB schema of the table's view: its namespace joined with ".". */
  schema: string;
  /** The view's name: the table's name. */
  name: string;
  /** The schema the table is scanned with (the view's columns are its top-level fields). */
  scanSchema: Schema;
}

export interface PruningAnalysis {
  /** Per table, in the order given: the filter to plan with, or undefined to read every file. */
  filters: (Expression | undefined)[];
  /** Why nothing is pruned at all, when that is so (a statement DuckDB cannot serialize, a table function…). */
  disabled?: string;
}

/** A syntax-tree node as lossless-json parses it: numbers stay exact (`LosslessNumber`). */
type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !isLosslessNumber(value);
}

const text = (value: unknown): string => (typeof value === "string" ? value : "");

/**
 * The syntax tree of `sql` by DuckDB's parser (the SQL travels as a bound parameter), or a reason why there
 * is none: DuckDB serializes SELECT statements only, and nothing unparsable.
 */
export async function parseSelect(
  connection: DuckDBConnection,
  sql: string,
): Promise<{ tree: Node } | { disabled: string }> {
  let serialized: string;
  try {
    const result = await connection.runAndReadAll("SELECT json_serialize_sql($1::VARCHAR)", [sql]);
    serialized = String(result.getRows()[0]?.[0] ?? "");
  } catch (error) {
    return { disabled: `DuckDB could not serialize the statement: ${(error as Error).message}` };
  }
  let tree: unknown;
  try {
    tree = parse(serialized);
  } catch {
    return { disabled: "DuckDB's serialized statement is not JSON" };
  }
  if (!isNode(tree) || tree.error === true) {
    const message = isNode(tree) ? text(tree.error_message) : "";
    return { disabled: `not a plain SELECT${message ? ` (${message})` : ""}` };
  }
  return { tree };
}

// ---------------------------------------------------------------------------------------------------------
// Which tables the statement reads, and from where.

/** Table references (and SELECT nodes, which carry `sample` too) whose meaning this module knows. */
const knownReferenceTypes = new Set([
  "BASE_TABLE",
  "JOIN",
  "SUBQUERY",
  "EXPRESSION_LIST",
  "EMPTY",
  "SELECT_NODE",
]);
/** Schemas whose name DuckDB may read as a catalog or a system schema. */
const reservedSchemas = new Set(["temp", "system", "pg_catalog", "information_schema"]);

type Resolution =
  | { kind: "table"; index: number }
  /** Names none of the tables (another relation, a CTE, a file): no effect on pruning. */
  | { kind: "other" }
  /** May be one of `candidates`, which then must not be pruned. */
  | { kind: "uncertain"; candidates: number[] };

interface Relation {
  /** The name a qualified column uses for it (alias, else table name), lower case. */
  binding: string;
  /** The table it certainly is, if it is one of ours; its columns are then known. */
  table?: number;
  nullable: boolean;
  /** The BASE_TABLE node, for tables. */
  node?: Node;
}

/** A predicate on one relation's column, with whether it is false-or-null on NULL (null-rejecting). */
interface Leaf {
  relation: Relation;
  expression: Expression;
  nullRejecting: boolean;
}

/** Derives each table's pruning filter from `tree` (see the module comment for the rules). */
export function derivePruningFilters(
  tree: Node,
  tables: readonly PruningTable[],
  options: { defaultSchema?: string } = {},
): PruningAnalysis {
  const none = (disabled: string): PruningAnalysis => ({ filters: tables.map(() => undefined), disabled });
  const cteNames = new Set<string>();
  const references: Node[] = [];
  const selects: Node[] = [];
  let disabled: string | undefined;

  const walk = (value: unknown, depth: number) => {
    if (disabled !== undefined) return;
    if (depth > 1000) {
      disabled = "the statement is nested too deeply to analyse";
      return;
    }
    if (Array.isArray(value)) {
      for (const item of value) walk(item, depth + 1);
      return;
    }
    if (!isNode(value)) return;
    const type = value.type;
    if (typeof type === "string" && !("class" in value) && "sample" in value) {
      if (!knownReferenceTypes.has(type)) {
        disabled = `the statement reads a ${type}`;
        return;
      }
      if (type === "BASE_TABLE") references.push(value);
      if (type === "SELECT_NODE") selects.push(value);
    }
    if (value.class === "FUNCTION" && /^(query|query_table)$/i.test(text(value.function_name))) {
      disabled = `the statement calls ${text(value.function_name)}()`;
      return;
    }
    const cteMap = isNode(value.cte_map) ? value.cte_map.map : undefined;
    if (Array.isArray(cteMap)) {
      for (const entry of cteMap) if (isNode(entry)) cteNames.add(text(entry.key).toLowerCase());
    }
    for (const child of Object.values(value)) walk(child, depth + 1);
  };
  walk(tree, 0);
  if (disabled !== undefined) return none(disabled);
  if (references.some((ref) => /^floe_table_/i.test(text(ref.table_name)))) {
    return none("the statement names Floe's internal views");
  }

  const resolve = (ref: Node): Resolution => {
    const name = text(ref.table_name).toLowerCase();
    const candidates = tables.flatMap((t, i) => (t.name.toLowerCase() === name ? [i] : []));
    if (candidates.length === 0) return { kind: "other" };
    const catalog = text(ref.catalog_name).toLowerCase();
    if (ref.at_clause != null || ref.sample != null || (catalog !== "" && catalog !== "memory")) {
      return { kind: "uncertain", candidates };
    }
    let schema = text(ref.schema_name).toLowerCase();
    if (schema === "") {
      if (cteNames.has(name) || options.defaultSchema === undefined) return { kind: "uncertain", candidates };
      schema = options.defaultSchema.toLowerCase();
    }
    if (reservedSchemas.has(schema)) return { kind: "uncertain", candidates };
    const matches = candidates.filter((i) => tables[i]!.schema.toLowerCase() === schema);
    if (matches.length === 1) return { kind: "table", index: matches[0]! };
    // No table of ours in that schema: DuckDB should fail to find it, but a name that might still reach
    // one of ours (a catalog-qualified spelling) must not let that table be pruned for other references.
    return { kind: "uncertain", candidates: matches.length === 0 ? candidates : matches };
  };

  // Each reference's filter; a reference not analysed (or analysed to nothing) reads every file. A table's
  // filter is the OR over every reference that may read it, so a reference wrongly taken for the table
  // can only widen it; a reference missed would narrow it — hence "uncertain" whenever in doubt.
  const filterOf = new Map<Node, Expression>();
  for (const select of selects) {
    for (const [node, filter] of analyseSelect(select, tables, resolve)) filterOf.set(node, filter);
  }

  const perTable: (Expression[] | undefined)[] = tables.map(() => []);
  for (const ref of references) {
    const resolution = resolve(ref);
    if (resolution.kind === "other") continue;
    if (resolution.kind === "uncertain") {
      for (const i of resolution.candidates) perTable[i] = undefined;
      continue;
    }
    const filter = filterOf.get(ref);
    if (filter === undefined) perTable[resolution.index] = undefined;
    else perTable[resolution.index]?.push(filter);
  }
  // A table the statement never references by name is read in full: the analysis may have missed a path.
  return { filters: perTable.map((filters) => (filters && filters.length > 0 ? or(...filters) : undefined)) };
}

/** The relations of a FROM clause (tables through joins), or undefined when a join's kind forbids pruning. */
function relationsOf(
  ref: unknown,
  nullable: boolean,
  resolve: (ref: Node) => Resolution,
  out: Relation[],
): boolean {
  if (ref == null) return true;
  if (!isNode(ref)) return false;
  switch (ref.type) {
    case "EMPTY":
      return true;
    case "BASE_TABLE": {
      const resolution = resolve(ref);
      // `orders o(a, b)` renames columns by position: its columns are then not the schema's names.
      const renamed = Array.isArray(ref.column_name_alias) && ref.column_name_alias.length > 0;
      out.push({
        binding: (text(ref.alias) || text(ref.table_name)).toLowerCase(),
        table: resolution.kind === "table" && !renamed ? resolution.index : undefined,
        nullable,
        node: ref,
      });
      return true;
    }
    case "JOIN": {
      if (text(ref.alias) !== "") return false;
      if (!["REGULAR", "CROSS", "NATURAL"].includes(text(ref.ref_type))) return false;
      const sides: Record<string, [boolean, boolean]> = {
        INNER: [false, false],
        LEFT: [false, true],
        RIGHT: [true, false],
        FULL: [true, true],
        OUTER: [true, true],
      };
      const side = sides[text(ref.join_type)];
      if (!side) return false;
      return (
        relationsOf(ref.left, nullable || side[0], resolve, out) &&
        relationsOf(ref.right, nullable || side[1], resolve, out)
      );
    }
    default:
      // A subquery, VALUES list or anything else: its columns are not known here.
      out.push({ binding: text(ref.alias).toLowerCase(), nullable });
      return true;
  }
}

/** The filters one SELECT's WHERE implies for each of its FROM clause's tables. */
function analyseSelect(
  select: Node,
  tables: readonly PruningTable[],
  resolve: (ref: Node) => Resolution,
): Map<Node, Expression> {
  const result = new Map<Node, Expression>();
  if (select.sample != null || !isNode(select.where_clause)) return result;
  const relations: Relation[] = [];
  if (!relationsOf(select.from_table, false, resolve, relations)) return result;
  const where = select.where_clause;
  for (const relation of relations) {
    if (relation.table === undefined || !relation.node) continue;
    const implied = impliedFilter(where, relation, relations, tables);
    if (implied !== undefined) result.set(relation.node, implied);
  }
  return result;
}

/**
 * A filter on `relation`'s columns that holds for every row on which `expression` is TRUE; undefined for
 * "nothing known" (true). Leaves on other relations, or not understood, are weakened to true.
 */
function impliedFilter(
  expression: Node,
  relation: Relation,
  relations: readonly Relation[],
  tables: readonly PruningTable[],
): Expression | undefined {
  const children = Array.isArray(expression.children) ? expression.children.filter(isNode) : [];
  if (expression.type === "CONJUNCTION_AND") {
    const parts = children
      .map((child) => impliedFilter(child, relation, relations, tables))
      .filter((part): part is Expression => part !== undefined);
    return parts.length > 0 ? and(...parts) : undefined;
  }
  if (expression.type === "CONJUNCTION_OR") {
    if (children.length === 0) return undefined;
    const parts = children.map((child) => impliedFilter(child, relation, relations, tables));
    return parts.every((part): part is Expression => part !== undefined) ? or(...parts) : undefined;
  }
  const leaf = leafOf(expression, relations, tables);
  if (!leaf || leaf.relation !== relation) return undefined;
  if (relation.nullable && !leaf.nullRejecting) return undefined;
  return leaf.expression;
}

// ---------------------------------------------------------------------------------------------------------
// Columns and predicates.

/** A column reference resolved to one relation's top-level primitive field, if it certainly is one. */
function columnOf(
  node: unknown,
  relations: readonly Relation[],
  tables: readonly PruningTable[],
): { relation: Relation; field: NestedField & { type: PrimitiveType } } | undefined {
  if (!isNode(node) || node.class !== "COLUMN_REF" || !Array.isArray(node.column_names)) return undefined;
  const names = node.column_names.map(text);
  let candidates: readonly Relation[];
  let column: string;
  if (names.length === 1) {
    // Unqualified: every relation's columns must be known, and exactly one may have it.
    if (relations.some((r) => r.table === undefined)) return undefined;
    candidates = relations;
    column = names[0]!;
  } else if (names.length === 2) {
    candidates = relations.filter((r) => r.binding === names[0]!.toLowerCase());
    if (candidates.length !== 1) return undefined;
    column = names[1]!;
  } else {
    return undefined;
  }
  const hits = candidates.flatMap((relation) => {
    if (relation.table === undefined) return [];
    return tables[relation.table]!.scanSchema.fields.filter(
      (f) => f.name.toLowerCase() === column.toLowerCase(),
    ).map((field) => ({ relation, field }));
  });
  if (hits.length !== 1) return undefined;
  const hit = hits[0]!;
  const type = hit.field.type;
  if (type.kind === "struct" || type.kind === "list" || type.kind === "map") return undefined;
  // A dotted name would be read as a struct path when the filter is bound.
  if (hit.field.name.includes(".")) return undefined;
  return { relation: hit.relation, field: { ...hit.field, type } };
}

const comparisons: Record<string, "eq" | "notEq" | "lt" | "ltEq" | "gt" | "gtEq"> = {
  COMPARE_EQUAL: "eq",
  COMPARE_NOTEQUAL: "notEq",
  COMPARE_LESSTHAN: "lt",
  COMPARE_LESSTHANOREQUALTO: "ltEq",
  COMPARE_GREATERTHAN: "gt",
  COMPARE_GREATERTHANOREQUALTO: "gtEq",
};
const flipped = { eq: "eq", notEq: "notEq", lt: "gt", ltEq: "gtEq", gt: "lt", gtEq: "ltEq" } as const;

type PruningOp = "eq" | "notEq" | "lt" | "ltEq" | "gt" | "gtEq" | "in" | "notIn";

/**
 * Operators whose DuckDB meaning Floe's evaluators share on a column of this type. DuckDB orders NaN above
 * every number and has -0 = 0, where Iceberg's ordering and bounds leave NaN out and put -0 below 0: on
 * floats only `=`, `<`, `<=` and IN with non-zero literals keep the same rows.
 */
function allows(type: PrimitiveType, op: PruningOp): boolean {
  switch (type.kind) {
    case "float":
    case "double":
      return op === "eq" || op === "lt" || op === "ltEq" || op === "in";
    case "boolean":
    case "uuid":
      return op === "eq" || op === "in";
    default:
      return true;
  }
}

/** The predicate one WHERE leaf states about one column, if this module understands it. */
function leafOf(
  node: Node,
  relations: readonly Relation[],
  tables: readonly PruningTable[],
): Leaf | undefined {
  const children = Array.isArray(node.children) ? node.children : [];
  const table = (relation: Relation) => tables[relation.table!]!;
  const checked = (relation: Relation, expression: Expression, nullRejecting: boolean): Leaf | undefined => {
    try {
      bind(expression, table(relation).scanSchema);
    } catch {
      return undefined;
    }
    return { relation, expression, nullRejecting };
  };

  if (node.class === "COMPARISON" && node.type && comparisons[text(node.type)]) {
    let op = comparisons[text(node.type)]!;
    let column = columnOf(node.left, relations, tables);
    let literalNode = node.right;
    if (!column) {
      column = columnOf(node.right, relations, tables);
      literalNode = node.left;
      op = flipped[op];
    }
    if (!column || !allows(column.field.type, op)) return undefined;
    const value = literalFor(literalNode, column.field.type);
    if (value === undefined) return undefined;
    return checked(column.relation, { op, column: column.field.name, value }, true);
  }
  if (node.class === "BETWEEN") {
    const column = columnOf(node.input, relations, tables);
    if (!column) return undefined;
    const parts: Expression[] = [];
    const lower = allows(column.field.type, "gtEq") ? literalFor(node.lower, column.field.type) : undefined;
    const upper = allows(column.field.type, "ltEq") ? literalFor(node.upper, column.field.type) : undefined;
    if (lower !== undefined) parts.push({ op: "gtEq", column: column.field.name, value: lower });
    if (upper !== undefined) parts.push({ op: "ltEq", column: column.field.name, value: upper });
    return parts.length > 0 ? checked(column.relation, and(...parts), true) : undefined;
  }
  if (node.type === "COMPARE_IN" || node.type === "COMPARE_NOT_IN") {
    const op = node.type === "COMPARE_IN" ? "in" : "notIn";
    const column = columnOf(children[0], relations, tables);
    if (!column || children.length < 2 || !allows(column.field.type, op)) return undefined;
    const values = children.slice(1).map((child) => literalFor(child, column.field.type));
    if (values.some((v) => v === undefined)) return undefined;
    return checked(
      column.relation,
      { op, column: column.field.name, values: values as LiteralInput[] },
      true,
    );
  }
  if (node.type === "OPERATOR_IS_NULL" || node.type === "OPERATOR_IS_NOT_NULL") {
    const column = columnOf(children[0], relations, tables);
    if (!column || children.length !== 1) return undefined;
    const isNull = node.type === "OPERATOR_IS_NULL";
    return checked(
      column.relation,
      { op: isNull ? "isNull" : "notNull", column: column.field.name },
      !isNull,
    );
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Literals.

type Constant =
  | { kind: "integer"; value: bigint }
  | { kind: "decimal"; unscaled: bigint; scale: number }
  | { kind: "string"; value: string }
  /** `DATE '…'`, `'…'::TIMESTAMP`, `TRUE` (DuckDB parses it as `'t'::BOOLEAN`): a string cast to a type. */
  | { kind: "cast"; to: string; value: string };

function exactInteger(value: unknown): bigint | undefined {
  if (isLosslessNumber(value) && /^-?\d+$/.test(value.value)) return BigInt(value.value);
  // HUGEINT and wide decimals: {upper (signed), lower (unsigned)} = upper·2^64 + lower.
  if (isNode(value) && isLosslessNumber(value.upper) && isLosslessNumber(value.lower)) {
    const upper = exactInteger(value.upper);
    const lower = exactInteger(value.lower);
    if (upper === undefined || lower === undefined || lower < 0n) return undefined;
    return (upper << 64n) + lower;
  }
  return undefined;
}

function constantOf(node: unknown): Constant | undefined {
  if (!isNode(node)) return undefined;
  if (node.class === "CONSTANT" && isNode(node.value)) {
    const { type, is_null: isNull, value } = node.value;
    if (isNull !== false || !isNode(type)) return undefined;
    const id = text(type.id);
    if (integerTypes.has(id)) {
      const integer = exactInteger(value);
      return integer === undefined ? undefined : { kind: "integer", value: integer };
    }
    if (id === "DECIMAL" && isNode(type.type_info)) {
      const unscaled = exactInteger(value);
      const scale = exactInteger(type.type_info.scale);
      if (unscaled === undefined || scale === undefined || scale < 0n || scale > 38n) return undefined;
      return { kind: "decimal", unscaled, scale: Number(scale) };
    }
    if (id === "VARCHAR" && typeof value === "string" && type.type_info == null) {
      return { kind: "string", value };
    }
    return undefined;
  }
  if (node.class === "CAST" && node.try_cast === false && isNode(node.cast_type)) {
    const inner = constantOf(node.child);
    if (inner?.kind !== "string" || node.cast_type.type_info != null) return undefined;
    return { kind: "cast", to: text(node.cast_type.id), value: inner.value };
  }
  return undefined;
}

/** `unscaled`·10^-scale as a double, when that double is exactly this value (else DuckDB may round differently). */
function exactDouble(unscaled: bigint, scale: number): number | undefined {
  const magnitude = unscaled < 0n ? -unscaled : unscaled;
  if (magnitude > 2n ** 53n || scale > 22) return undefined;
  const value = Number(unscaled) / 10 ** scale;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, Math.abs(value));
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  const exponent = (biased === 0 ? 1 : biased) - 1075;
  // |value| = mantissa·2^exponent; exact when mantissa·2^exponent·10^scale = |unscaled|.
  const tens = 10n ** BigInt(scale);
  const exact =
    exponent >= 0
      ? (mantissa << BigInt(exponent)) * tens === magnitude
      : mantissa * tens === magnitude << BigInt(-exponent);
  return exact ? value : undefined;
}

const datePattern = /^\d{4}-\d{2}-\d{2}$/;
const timestampPattern =
  /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?))?(Z|[+-]\d{2}(?::?\d{2})?)?$/;
const uuidPattern = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** µs since the epoch of a timestamp text DuckDB reads the same way (session time zone UTC), if it is one. */
function timestampMicros(value: string, zoned: boolean): bigint | undefined {
  const match = timestampPattern.exec(value);
  if (!match) return undefined;
  const [, date, time = "00:00:00", zone] = match;
  if (zone !== undefined && !zoned) return undefined;
  let offset = zone ?? "Z";
  if (offset !== "Z") {
    const digits = offset.slice(1).replace(":", "");
    offset = `${offset[0]}${digits.slice(0, 2)}:${digits.length > 2 ? digits.slice(2) : "00"}`;
  }
  try {
    return isoToTimestamp(`${date}T${time}${zoned ? offset : ""}`, "us", zoned);
  } catch {
    return undefined;
  }
}

/**
 * The literal a constant is for a column of `type`, when DuckDB compares the two in the column's type (or
 * exactly): integers for integer, decimal and float columns, decimals for decimal and (exact) float columns,
 * strings for string, date, timestamp, uuid columns, typed strings for their type. Undefined otherwise.
 */
function literalFor(node: unknown, type: PrimitiveType): LiteralInput | undefined {
  const constant = constantOf(node);
  if (!constant) return undefined;
  switch (type.kind) {
    case "int":
    case "long":
      return constant.kind === "integer" ? constant.value : undefined;
    case "decimal": {
      if (constant.kind === "integer") return constant.value;
      if (constant.kind !== "decimal") return undefined;
      const negative = constant.unscaled < 0n;
      const digits = (negative ? -constant.unscaled : constant.unscaled)
        .toString()
        .padStart(constant.scale + 1, "0");
      const point = digits.length - constant.scale;
      return `${negative ? "-" : ""}${digits.slice(0, point)}${constant.scale > 0 ? `.${digits.slice(point)}` : ""}`;
    }
    case "float":
    case "double": {
      let value: number | undefined;
      if (constant.kind === "integer") {
        const limit = type.kind === "float" ? 2n ** 24n : 2n ** 53n;
        if (constant.value <= limit && constant.value >= -limit) value = Number(constant.value);
      } else if (constant.kind === "decimal") {
        value = exactDouble(constant.unscaled, constant.scale);
      }
      if (value === undefined || value === 0 || !Number.isFinite(value)) return undefined;
      if (type.kind === "float" && Math.fround(value) !== value) return undefined;
      return value;
    }
    case "string":
      return constant.kind === "string" ? constant.value : undefined;
    case "date": {
      const ok = constant.kind === "string" || (constant.kind === "cast" && constant.to === "DATE");
      // bind() rejects impossible dates such as 2024-02-30.
      return ok && datePattern.test(constant.value) ? constant.value : undefined;
    }
    case "timestamp":
    case "timestamptz": {
      const zoned = type.kind === "timestamptz";
      const castTo = zoned ? "TIMESTAMP WITH TIME ZONE" : "TIMESTAMP";
      const ok = constant.kind === "string" || (constant.kind === "cast" && constant.to === castTo);
      return ok ? timestampMicros(constant.value, zoned) : undefined;
    }
    case "uuid":
      return constant.kind === "string" && uuidPattern.test(constant.value) ? constant.value : undefined;
    case "boolean": {
      if (constant.kind !== "cast" || constant.to !== "BOOLEAN") return undefined;
      const word = constant.value.toLowerCase();
      return word === "t" || word === "true" ? true : word === "f" || word === "false" ? false : undefined;
    }
    default:
      return undefined;
  }
}

/** A readable form of a filter for planning statistics (not SQL; never executed). */
export function describeFilter(expression: Expression): string {
  const literal = (value: LiteralInput): string => {
    if (typeof value === "bigint") return String(value);
    if (typeof value === "string") return JSON.stringify(value);
    if (value instanceof Date) return value.toISOString();
    if (value instanceof Uint8Array) return `<${value.length} bytes>`;
    return String(value);
  };
  const symbols: Record<string, string> = { eq: "=", notEq: "!=", lt: "<", ltEq: "<=", gt: ">", gtEq: ">=" };
  switch (expression.op) {
    case "true":
    case "false":
      return expression.op;
    case "and":
    case "or":
      return `(${describeFilter(expression.left)} ${expression.op} ${describeFilter(expression.right)})`;
    case "not":
      return `not ${describeFilter(expression.child)}`;
    case "isNull":
    case "notNull":
    case "isNan":
    case "notNan":
      return `${expression.column} ${expression.op}`;
    case "in":
    case "notIn":
      return `${expression.column} ${expression.op} [${expression.values.map(literal).join(", ")}]`;
    default:
      return `${expression.column} ${symbols[expression.op] ?? expression.op} ${literal(expression.value)}`;
  }
}
