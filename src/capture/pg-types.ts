/**
 * PostgreSQL types → event values (Debezium's JSON representation with its default converters) and
 * Iceberg types. Every built-in type has a row in docs/capture.md; a type this module does not know
 * (an extension's base type) is a CaptureError naming table and column, or its text when
 * `unknownTypes` is "string" (Debezium's `include.unknown.datatypes`).
 *
 * Input is the server's text output under the session settings of SESSION_OPTIONS (ISO dates,
 * ISO 8601 intervals, UTC, lc_monetary=C), which both the replication stream and the snapshot use.
 */
import type pg from "pg";
import { CaptureError } from "./errors.ts";
import { type ArrayLiteral, parseArrayLiteral, parseRecordLiteral } from "./pg-literals.ts";

/** A value in an event: what JSON carries, plus bigint (int64, printed losslessly) and non-finite floats. */
export type EventValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | EventValue[]
  | { [field: string]: EventValue };

/** Kafka Connect schema (the `schema` half of JsonConverter's `schemas.enable=true` output). */
export interface ConnectSchema {
  type:
    | "int8"
    | "int16"
    | "int32"
    | "int64"
    | "float"
    | "double"
    | "boolean"
    | "string"
    | "bytes"
    | "array"
    | "struct";
  optional: boolean;
  name?: string;
  version?: number;
  parameters?: Record<string, string>;
  items?: ConnectSchema;
  fields?: ConnectField[];
  field?: string;
}
export type ConnectField = ConnectSchema & { field: string };

/** An Iceberg type as the spec's JSON writes it, without field ids (the sink assigns those). */
export type IcebergType =
  | string
  | { type: "list"; "element-required": boolean; element: IcebergType }
  | { type: "struct"; fields: Array<{ name: string; required: boolean; type: IcebergType }> };

export interface ValueMapping {
  /** The PostgreSQL type as format_type() prints it, for messages and docs. */
  pgType: string;
  connect: Omit<ConnectSchema, "optional">;
  iceberg: IcebergType;
  decode(text: string): EventValue;
  /** Array types: the element's mapping and the array literal's delimiter (see {@link withDimensions}). */
  array?: { element: ValueMapping; delimiter: string; dimensions: number };
}

export type DecimalHandlingMode = "precise" | "double" | "string";
export type IntervalHandlingMode = "numeric" | "string";

export interface TypeMappingOptions {
  decimalHandlingMode: DecimalHandlingMode;
  intervalHandlingMode: IntervalHandlingMode;
  unknownTypes: "error" | "string";
}

export interface ColumnContext {
  table: string;
  column: string;
}

interface PgTypeRow {
  oid: number;
  typname: string;
  nspname: string;
  typtype: string;
  typcategory: string;
  typelem: number;
  typbasetype: number;
  typtypmod: number;
  typrelid: number;
  typdelim: string;
  /** JSON array text (the capture's clients read every value as text). */
  enum_labels: string | null;
  formatted: string;
}

const TYPE_QUERY = `
  select t.oid::int as oid, t.typname, n.nspname, t.typtype, t.typcategory, t.typelem::int as typelem,
         t.typbasetype::int as typbasetype, t.typtypmod, t.typrelid::int as typrelid, t.typdelim,
         (select json_agg(e.enumlabel::text order by e.enumsortorder)::text from pg_enum e where e.enumtypid = t.oid) as enum_labels,
         format_type(t.oid, null) as formatted
    from pg_type t join pg_namespace n on n.oid = t.typnamespace
   where t.oid = $1`;

/** Types with no natural structured form, carried as their text output (documented, by name). */
const TEXT_TYPES = new Set([
  "text",
  "varchar",
  "bpchar",
  "name",
  "char",
  "citext",
  "inet",
  "cidr",
  "macaddr",
  "macaddr8",
  "bit",
  "varbit",
  "point",
  "line",
  "lseg",
  "box",
  "path",
  "polygon",
  "circle",
  "tsvector",
  "tsquery",
  "pg_lsn",
  "txid_snapshot",
  "pg_snapshot",
  "xid",
  "xid8",
  "cid",
  "tid",
  "regclass",
  "regtype",
  "regproc",
  "regprocedure",
  "regoper",
  "regoperator",
  "regconfig",
  "regdictionary",
  "regnamespace",
  "regrole",
  "regcollation",
  "jsonpath",
  "aclitem",
]);

/**
 * Resolves type oids to mappings, asking the catalog once per type. A mapping depends on the type
 * modifier only for numeric (precision/scale), so the cache key is oid + typmod.
 */
export class TypeRegistry {
  private readonly cache = new Map<string, ValueMapping>();

  constructor(
    private readonly sql: pg.Client,
    private readonly options: TypeMappingOptions,
  ) {}

  async mappingFor(typeOid: number, typeMod: number, context: ColumnContext): Promise<ValueMapping> {
    const key = `${typeOid}:${typeMod}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const mapping = await this.build(typeOid, typeMod, context);
    this.cache.set(key, mapping);
    return mapping;
  }

  /** Forgets cached mappings (after DDL, a type may have changed: an enum gained a label, a composite a field). */
  invalidate(): void {
    this.cache.clear();
  }

  private async build(typeOid: number, typeMod: number, context: ColumnContext): Promise<ValueMapping> {
    const { rows } = await this.sql.query<PgTypeRow>(TYPE_QUERY, [typeOid]);
    const raw = rows[0];
    // Numbers arrive as text: the catalog is read through the same text-only client as the data.
    const row = raw && {
      ...raw,
      oid: Number(raw.oid),
      typelem: Number(raw.typelem),
      typbasetype: Number(raw.typbasetype),
      typtypmod: Number(raw.typtypmod),
      typrelid: Number(raw.typrelid),
    };
    if (!row) {
      throw new CaptureError(
        "UNKNOWN_TYPE",
        `column "${context.column}" of table ${context.table} has type oid ${typeOid}, which is not in pg_type`,
      );
    }
    if (row.typtype === "d") {
      const base = await this.mappingFor(row.typbasetype, row.typtypmod, context);
      return { ...base, pgType: row.formatted };
    }
    if (row.typtype === "e")
      return enumMapping(row.formatted, row.enum_labels ? (JSON.parse(row.enum_labels) as string[]) : []);
    if (row.typtype === "c") return this.compositeMapping(row, context);
    if (row.typcategory === "A" && row.typelem !== 0) {
      const element = await this.mappingFor(row.typelem, typeMod, context);
      return arrayMapping(element, row.typdelim, 1);
    }
    if (row.typtype === "r" || row.typtype === "m") return textMapping(row.formatted, "string");
    const builtin =
      row.nspname === "pg_catalog" ? builtinMapping(row.typname, typeMod, this.options) : undefined;
    if (builtin) return builtin;
    if (this.options.unknownTypes === "string") return textMapping(row.formatted, "string");
    throw new CaptureError(
      "UNKNOWN_TYPE",
      `column "${context.column}" of table ${context.table} has type ${row.nspname}.${row.typname}, which Floe does not map; set unknownTypes: "string" (Debezium: include.unknown.datatypes=true) to capture its text, or exclude the column's table`,
    );
  }

  private async compositeMapping(row: PgTypeRow, context: ColumnContext): Promise<ValueMapping> {
    const { rows: attributes } = await this.sql.query<{
      attname: string;
      atttypid: number;
      atttypmod: number;
      attndims?: number;
    }>(
      "select attname, atttypid::int as atttypid, atttypmod, attndims from pg_attribute where attrelid = $1 and attnum > 0 and not attisdropped order by attnum",
      [row.typrelid],
    );
    const fields: Array<{ name: string; mapping: ValueMapping }> = [];
    for (const attribute of attributes) {
      const column = `${context.column}.${attribute.attname}`;
      const mapping = await this.mappingFor(Number(attribute.atttypid), Number(attribute.atttypmod), {
        table: context.table,
        column,
      });
      fields.push({
        name: attribute.attname,
        mapping: withDimensions(mapping, Number(attribute.attndims ?? 0)),
      });
    }
    return {
      pgType: row.formatted,
      connect: {
        type: "struct",
        name: `${row.nspname}.${row.typname}`,
        fields: fields.map(({ name, mapping }) => ({ ...mapping.connect, optional: true, field: name })),
      },
      iceberg: {
        type: "struct",
        fields: fields.map(({ name, mapping }) => ({ name, required: false, type: mapping.iceberg })),
      },
      decode(text) {
        const values = parseRecordLiteral(text);
        const struct: { [field: string]: EventValue } = {};
        fields.forEach(({ name, mapping }, index) => {
          const value = values[index];
          struct[name] = value === null || value === undefined ? null : mapping.decode(value);
        });
        return struct;
      },
    };
  }
}

function textMapping(pgType: string, iceberg: IcebergType, name?: string): ValueMapping {
  return {
    pgType,
    connect: name ? { type: "string", name, version: 1 } : { type: "string" },
    iceberg,
    decode: (text) => text,
  };
}

function enumMapping(pgType: string, labels: string[]): ValueMapping {
  return {
    pgType,
    connect: {
      type: "string",
      name: "io.debezium.data.Enum",
      version: 1,
      parameters: { allowed: labels.join(",") },
    },
    iceberg: "string",
    decode: (text) => text,
  };
}

/**
 * An array type as nested lists, `dimensions` deep. PostgreSQL's array types do not fix the number of
 * dimensions (`integer[]` and `integer[][]` are one type); the column's declared dimensions
 * (`pg_attribute.attndims`, see {@link withDimensions}) decide the shape, and a value with another
 * number of dimensions is refused (VALUE_INVALID naming the column) instead of being flattened or
 * mangled. An empty array (`{}`, no dimensions in PostgreSQL) is an empty list at any depth. Lower
 * bounds other than 1 (`[0:1]={7,8}`) are not kept, as in Debezium.
 */
function arrayMapping(element: ValueMapping, delimiter: string, dimensions: number): ValueMapping {
  let connect: Omit<ConnectSchema, "optional"> = {
    type: "array",
    items: { ...element.connect, optional: true },
  };
  let iceberg: IcebergType = { type: "list", "element-required": false, element: element.iceberg };
  for (let level = 1; level < dimensions; level++) {
    connect = { type: "array", items: { ...connect, optional: true } };
    iceberg = { type: "list", "element-required": false, element: iceberg };
  }
  const wrongShape = (text: string): never => {
    const actual = arrayDimensions(text, delimiter);
    throw new CaptureError(
      "VALUE_INVALID",
      `a ${actual}-dimensional array (${text.length > 60 ? `${text.slice(0, 57)}...` : text}) where the column declares ${dimensions} dimension${dimensions === 1 ? "" : "s"}; Floe maps an array column by its declared dimensions, so declare the ones its values have (ALTER TABLE … ALTER COLUMN … TYPE ${element.pgType}${"[]".repeat(Math.max(actual, 1))}) or exclude the table`,
    );
  };
  const decodeLevel = (items: ArrayLiteral, depth: number, text: string): EventValue[] =>
    items.map((item) => {
      if (item === null) return depth === 1 ? null : wrongShape(text);
      if (Array.isArray(item)) return depth > 1 ? decodeLevel(item, depth - 1, text) : wrongShape(text);
      return depth === 1 ? element.decode(item) : wrongShape(text);
    });
  return {
    pgType: `${element.pgType}${"[]".repeat(dimensions)}`,
    connect,
    iceberg,
    decode: (text) => decodeLevel(parseArrayLiteral(text, delimiter), dimensions, text),
    array: { element, delimiter, dimensions },
  };
}

/** The number of dimensions of an array literal (0 for `{}`). */
function arrayDimensions(text: string, delimiter: string): number {
  let depth = 0;
  let level: ArrayLiteral | string | null = parseArrayLiteral(text, delimiter);
  while (Array.isArray(level)) {
    if (level.length === 0) return depth;
    depth++;
    level = level[0] ?? null;
  }
  return depth;
}

/**
 * A column's mapping given its declared array dimensions (`pg_attribute.attndims`: 2 for `integer[][]`,
 * 0 when unknown, e.g. after CREATE TABLE AS): multi-dimensional array columns become nested lists.
 * Other mappings are returned as they are.
 */
export function withDimensions(mapping: ValueMapping, dimensions: number): ValueMapping {
  const array = mapping.array;
  const wanted = Math.max(1, dimensions);
  if (!array || array.dimensions === wanted) return mapping;
  return arrayMapping(array.element, array.delimiter, wanted);
}

function builtinMapping(
  typname: string,
  typeMod: number,
  options: TypeMappingOptions,
): ValueMapping | undefined {
  switch (typname) {
    case "int2":
      return { pgType: "smallint", connect: { type: "int16" }, iceberg: "int", decode: Number };
    case "int4":
      return { pgType: "integer", connect: { type: "int32" }, iceberg: "int", decode: Number };
    case "int8":
      return { pgType: "bigint", connect: { type: "int64" }, iceberg: "long", decode: parseInt64 };
    case "oid":
      return { pgType: "oid", connect: { type: "int64" }, iceberg: "long", decode: parseInt64 };
    case "float4":
      return { pgType: "real", connect: { type: "float" }, iceberg: "float", decode: Number };
    case "float8":
      return { pgType: "double precision", connect: { type: "double" }, iceberg: "double", decode: Number };
    case "bool":
      return {
        pgType: "boolean",
        connect: { type: "boolean" },
        iceberg: "boolean",
        decode: (text) => text === "t",
      };
    case "numeric":
      return numericMapping(typeMod, options.decimalHandlingMode);
    case "money":
      return decimalMapping("money", 19, 2, options.decimalHandlingMode, parseMoney);
    case "bytea":
      return {
        pgType: "bytea",
        connect: { type: "bytes" },
        iceberg: "binary",
        decode: (text) => Buffer.from(text.slice(2), "hex").toString("base64"),
      };
    case "date":
      return {
        pgType: "date",
        connect: { type: "int32", name: "io.debezium.time.Date", version: 1 },
        iceberg: "date",
        decode: parseDateDays,
      };
    case "time":
      return {
        pgType: "time",
        connect: { type: "int64", name: "io.debezium.time.MicroTime", version: 1 },
        iceberg: "time",
        decode: (text) => parseTimeMicros(text),
      };
    case "timetz":
      return {
        pgType: "time with time zone",
        connect: { type: "string", name: "io.debezium.time.ZonedTime", version: 1 },
        iceberg: "string",
        decode: formatZonedTime,
      };
    case "timestamp":
      return {
        pgType: "timestamp",
        connect: { type: "int64", name: "io.debezium.time.MicroTimestamp", version: 1 },
        iceberg: "timestamp",
        decode: parseTimestampMicros,
      };
    case "timestamptz":
      return {
        pgType: "timestamp with time zone",
        connect: { type: "string", name: "io.debezium.time.ZonedTimestamp", version: 1 },
        iceberg: "timestamptz",
        decode: formatZonedTimestamp,
      };
    case "interval":
      return options.intervalHandlingMode === "string"
        ? textMapping("interval", "string", "io.debezium.time.Interval")
        : {
            pgType: "interval",
            connect: { type: "int64", name: "io.debezium.time.MicroDuration", version: 1 },
            iceberg: "long",
            decode: parseIntervalMicros,
          };
    case "uuid":
      return textMapping("uuid", "uuid", "io.debezium.data.Uuid");
    case "json":
      return textMapping("json", "string", "io.debezium.data.Json");
    case "jsonb":
      return textMapping("jsonb", "string", "io.debezium.data.Json");
    case "xml":
      return textMapping("xml", "string", "io.debezium.data.Xml");
    default:
      return TEXT_TYPES.has(typname) ? textMapping(typname, "string") : undefined;
  }
}

function numericMapping(typeMod: number, mode: DecimalHandlingMode): ValueMapping {
  if (typeMod >= 4) {
    const precision = ((typeMod - 4) >> 16) & 0xffff;
    // The scale is 11 bits, signed since PostgreSQL 15 (numeric(3,-2) rounds to hundreds).
    const scale = (((typeMod - 4) & 0x7ff) ^ 1024) - 1024;
    const pgType = `numeric(${precision},${scale})`;
    // A negative scale holds integers of up to precision - scale digits: decimal(precision - scale, 0).
    if (scale < 0) return decimalMapping(pgType, precision - scale, 0, mode, (text) => text);
    return decimalMapping(pgType, precision, scale, mode, (text) => text);
  }
  if (mode === "double")
    return { pgType: "numeric", connect: { type: "double" }, iceberg: "double", decode: Number };
  if (mode === "string")
    return { pgType: "numeric", connect: { type: "string" }, iceberg: "string", decode: (text) => text };
  return {
    pgType: "numeric",
    connect: {
      type: "struct",
      name: "io.debezium.data.VariableScaleDecimal",
      version: 1,
      fields: [
        { type: "int32", optional: false, field: "scale" },
        { type: "bytes", optional: false, field: "value" },
      ],
    },
    iceberg: "decimal(38,18)",
    decode(text) {
      const point = text.indexOf(".");
      const scale = point < 0 ? 0 : text.length - point - 1;
      const small = smallUnscaledBase64(text, scale);
      if (small !== undefined) return { scale, value: small };
      if (!isFiniteDecimal(text)) return null;
      return { scale, value: unscaledBase64(text, scale) };
    },
  };
}

function decimalMapping(
  pgType: string,
  precision: number,
  scale: number,
  mode: DecimalHandlingMode,
  normalize: (text: string) => string,
): ValueMapping {
  // Wider than Iceberg's decimals, or more fraction digits than digits (numeric(3,5)): a string column
  // with the decimal's text, as the Kafka sink maps the same Connect schema (src/sink/kafka/connect-schema.ts).
  const iceberg = precision <= 38 && scale <= precision ? `decimal(${precision},${scale})` : "string";
  if (mode === "double")
    return {
      pgType,
      connect: { type: "double" },
      iceberg: "double",
      decode: (text) => Number(normalize(text)),
    };
  if (mode === "string") return { pgType, connect: { type: "string" }, iceberg: "string", decode: normalize };
  return {
    pgType,
    connect: {
      type: "bytes",
      name: "org.apache.kafka.connect.data.Decimal",
      version: 1,
      parameters: { scale: String(scale), "connect.decimal.precision": String(precision) },
    },
    iceberg,
    // NaN and ±Infinity have no decimal form; Debezium's precise mode sends null for them too.
    decode: (text) => {
      const normalized = normalize(text);
      const small = smallUnscaledBase64(normalized, scale);
      if (small !== undefined) return small;
      return isFiniteDecimal(normalized) ? unscaledBase64(normalized, scale) : null;
    },
  };
}

function isFiniteDecimal(text: string): boolean {
  return /^-?\d+(\.\d+)?$/.test(text);
}

/** Kafka Connect's Decimal: the unscaled value as big-endian two's complement, minimal length, base64. */
export function unscaledBase64(text: string, scale: number): string {
  const small = smallUnscaledBase64(text, scale);
  if (small !== undefined) return small;
  const negative = text.startsWith("-");
  const [whole = "0", fraction = ""] = (negative ? text.slice(1) : text).split(".");
  let unscaled = BigInt(`${whole}${fraction.padEnd(scale, "0").slice(0, scale)}`);
  if (negative) unscaled = -unscaled;
  return twosComplement(unscaled).toString("base64");
}

/** Largest unscaled value the number path takes: 14 digits, below 2^47, so it fits 6 bytes exactly. */
const SMALL_UNSCALED_MAX = 99_999_999_999_999;
const BASE64_CODES = Array.from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", (char) =>
  char.charCodeAt(0),
);
const PAD = 61; // "="

/**
 * {@link unscaledBase64} of a decimal `-?digits[.digits]` whose unscaled value has at most 14 digits,
 * with plain numbers (no split, BigInt or Buffer: this runs for every numeric of a snapshot); fraction
 * digits beyond `scale` are cut, as the BigInt path does. Undefined for any other text.
 */
export function smallUnscaledBase64(text: string, scale: number): string | undefined {
  const length = text.length;
  let index = text.charCodeAt(0) === 45 /* - */ ? 1 : 0;
  const negative = index === 1;
  let value = 0;
  let digits = 0;
  let fraction = -1; // fraction digits taken; -1 before the point
  for (; index < length; index++) {
    const code = text.charCodeAt(index);
    if (code === 46 /* . */) {
      if (fraction >= 0 || digits === 0 || index === length - 1) return undefined;
      fraction = 0;
      continue;
    }
    const digit = code - 48;
    if (digit < 0 || digit > 9) return undefined;
    digits++;
    if (fraction >= 0) {
      if (fraction === scale) continue;
      fraction++;
    }
    value = value * 10 + digit;
  }
  if (digits === 0) return undefined;
  // Every intermediate value is at most the final one, so all of them are exact when it is small.
  if (value > SMALL_UNSCALED_MAX) return undefined;
  const padding = scale - Math.max(fraction, 0);
  if (padding > 0 && value !== 0) {
    if (padding > 14) return undefined;
    value *= 10 ** padding;
    if (value > SMALL_UNSCALED_MAX) return undefined;
  }
  return smallTwosComplementBase64(negative ? -value : value);
}

/** Minimal big-endian two's complement of |value| < 2^47, base64 — without Buffer or BigInt allocations. */
function smallTwosComplementBase64(value: number): string {
  let length = 1;
  while (length < 6 && (value >= signedLimit(length) || value < -signedLimit(length))) length++;
  const bytes = value < 0 ? value + byteRange(length) : value; // the two's complement as an unsigned number
  if (length <= 3) return base64Group(bytes * byteRange(3 - length), length);
  // Six bytes at most: the first three, then the rest, each a 24-bit group of four base64 digits.
  const rest = byteRange(length - 3);
  const high = Math.floor(bytes / rest);
  return base64Group(high, 3) + base64Group((bytes - high * rest) * byteRange(6 - length), length - 3);
}

const signedLimit = (bytes: number) => SIGNED_LIMIT[bytes] as number;
const byteRange = (bytes: number) => BYTE_RANGE[bytes] as number;

/** 2^(8n - 1) at index n: the first value that needs more than n bytes. */
const SIGNED_LIMIT = [0, 2 ** 7, 2 ** 15, 2 ** 23, 2 ** 31, 2 ** 39, 2 ** 47] as const;
/** 2^(8n) at index n. */
const BYTE_RANGE = [1, 2 ** 8, 2 ** 16, 2 ** 24, 2 ** 32, 2 ** 40, 2 ** 48] as const;

/** Base64 of the first `bytes` (1–3) bytes of a big-endian 24-bit group, `=`-padded to four digits. */
function base64Group(group: number, bytes: number): string {
  return String.fromCharCode(
    BASE64_CODES[(group >> 18) & 63] as number,
    BASE64_CODES[(group >> 12) & 63] as number,
    bytes > 1 ? (BASE64_CODES[(group >> 6) & 63] as number) : PAD,
    bytes > 2 ? (BASE64_CODES[group & 63] as number) : PAD,
  );
}

function twosComplement(value: bigint): Buffer {
  const bytes: number[] = [];
  let rest = value;
  for (;;) {
    const byte = Number(rest & 0xffn);
    bytes.unshift(byte);
    rest >>= 8n;
    const signBit = (byte & 0x80) !== 0;
    if ((rest === 0n && !signBit) || (rest === -1n && signBit)) break;
  }
  return Buffer.from(bytes);
}

/** int8 / oid text → bigint; up to 15 characters the value is exact as a number, which BigInt takes faster. */
function parseInt64(text: string): bigint {
  return text.length < 16 ? BigInt(Number(text)) : BigInt(text);
}

/** `$1,234.56`, `-$1.00` (lc_monetary=C) → `1234.56`, `-1.00`. */
function parseMoney(text: string): string {
  const negative = text.includes("-") || text.startsWith("(");
  const digits = text.replace(/[^0-9.]/g, "");
  return negative ? `-${digits}` : digits;
}

const INT32_MAX = 2_147_483_647;
const INT64_MAX = 9_223_372_036_854_775_807n;
const INT64_MIN = -INT64_MAX - 1n;
const MICROS_PER_DAY = 86_400_000_000n;

/**
 * Days since 1970-01-01 of a proleptic Gregorian date (astronomical years: 0 is 1 BC), exact for every
 * year PostgreSQL has (4713 BC to 5874897 AD) — JavaScript's Date stops at ±275760.
 */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * ((month + 9) % 12) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** The inverse of {@link daysFromCivil}. */
export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra -
      Math.floor(dayOfEra / 1460) +
      Math.floor(dayOfEra / 36_524) -
      Math.floor(dayOfEra / 146_096)) /
      365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shifted = Math.floor((5 * dayOfYear + 2) / 153);
  const month = shifted < 10 ? shifted + 3 : shifted - 9;
  return {
    year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0),
    month,
    day: dayOfYear - Math.floor((153 * shifted + 2) / 5) + 1,
  };
}

/** ISO 8601's year as java.time prints it: 4 digits, `+` beyond 9999, `-` before year 0 (1 BC). */
function isoYear(year: number): string {
  if (year > 9999) return `+${year}`;
  return year < 0 ? `-${String(-year).padStart(4, "0")}` : String(year).padStart(4, "0");
}

function parseDateDays(text: string): number {
  if (text === "infinity") return INT32_MAX;
  if (text === "-infinity") return -INT32_MAX - 1;
  const match = /^(\d+)-(\d\d)-(\d\d)( BC)?$/.exec(text);
  if (!match) throw new Error(`malformed date: ${text}`);
  const year = bcYear(Number(match[1]), match[4] !== undefined);
  return daysFromCivil(year, Number(match[2]), Number(match[3]));
}

function bcYear(year: number, bc: boolean): number {
  return bc ? 1 - year : year;
}

function fractionMicros(fraction: string | undefined): bigint {
  return fraction ? BigInt(fraction.padEnd(6, "0").slice(0, 6)) : 0n;
}

function parseTimeMicros(text: string): bigint {
  const match = /^(\d\d):(\d\d):(\d\d)(?:\.(\d+))?/.exec(text);
  if (!match) throw new Error(`malformed time: ${text}`);
  const seconds = BigInt(Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3]));
  return seconds * 1_000_000n + fractionMicros(match[4]);
}

/** Seconds east of UTC from `+05`, `-03:30`, `+05:30:15`. */
function offsetSeconds(text: string): number {
  const match = /^([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?$/.exec(text);
  if (!match) throw new Error(`malformed UTC offset: ${text}`);
  const seconds = Number(match[2]) * 3600 + Number(match[3] ?? 0) * 60 + Number(match[4] ?? 0);
  return match[1] === "-" ? -seconds : seconds;
}

function formatZonedTime(text: string): string {
  const match = /^(\d\d:\d\d:\d\d)(?:\.(\d+))?([+-].*)$/.exec(text);
  if (!match) throw new Error(`malformed timetz: ${text}`);
  const day = 86_400_000_000n;
  let micros =
    parseTimeMicros(`${match[1]}${match[2] ? `.${match[2]}` : ""}`) -
    BigInt(offsetSeconds(match[3] ?? "+00")) * 1_000_000n;
  micros = ((micros % day) + day) % day;
  const seconds = Number(micros / 1_000_000n);
  const clock = [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60]
    .map((part) => String(part).padStart(2, "0"))
    .join(":");
  return `${clock}${match[2] ? `.${match[2]}` : ""}Z`;
}

const UTC_TIMESTAMP = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?\+00$/;
const TIMESTAMP = /^(\d+)-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?([+-][\d:]+)?( BC)?$/;

function timestampMicros(text: string): bigint {
  const match = TIMESTAMP.exec(text);
  if (!match) throw new Error(`malformed timestamp: ${text}`);
  const year = bcYear(Number(match[1]), match[9] !== undefined);
  const days = daysFromCivil(year, Number(match[2]), Number(match[3]));
  const seconds =
    (Number(match[4]) * 60 + Number(match[5])) * 60 +
    Number(match[6]) -
    (match[8] ? offsetSeconds(match[8]) : 0);
  const micros = BigInt(days) * MICROS_PER_DAY + BigInt(seconds) * 1_000_000n + fractionMicros(match[7]);
  // PostgreSQL's last 30 years (up to 294276 AD) do not fit µs since 1970 in 64 bits.
  if (micros >= INT64_MAX || micros <= INT64_MIN)
    throw new Error(`timestamp ${text} is beyond 294247 AD, the last instant µs since 1970 hold in 64 bits`);
  return micros;
}

function parseTimestampMicros(text: string): bigint {
  if (text === "infinity") return INT64_MAX;
  if (text === "-infinity") return INT64_MIN;
  return timestampMicros(text);
}

/**
 * ISO 8601 in UTC with the fraction PostgreSQL printed (Debezium's ZonedTimestamp):
 * `2024-01-02T03:04:05.123456Z`; years as java.time prints them (`+12345-…`, `-0043-…` for 44 BC);
 * `infinity` and `-infinity` as those words.
 */
function formatZonedTimestamp(text: string): string {
  if (text === "infinity" || text === "-infinity") return text;
  // Sessions run with TimeZone=UTC, so the server prints `YYYY-MM-DD HH:MM:SS[.ffffff]+00`: only the
  // separators change (what the general path below computes, without the date arithmetic).
  if (UTC_TIMESTAMP.test(text)) return `${text.slice(0, 10)}T${text.slice(11, -3)}Z`;
  const micros = timestampMicros(text);
  const fraction = TIMESTAMP.exec(text)?.[7];
  const seconds = Number(micros / 1_000_000n - (micros % 1_000_000n < 0n ? 1n : 0n));
  const days = Math.floor(seconds / 86_400);
  const ofDay = seconds - days * 86_400;
  const { year, month, day } = civilFromDays(days);
  const two = (n: number) => String(n).padStart(2, "0");
  const clock = `${two(Math.floor(ofDay / 3600))}:${two(Math.floor(ofDay / 60) % 60)}:${two(ofDay % 60)}`;
  return `${isoYear(year)}-${two(month)}-${two(day)}T${clock}${fraction ? `.${fraction}` : ""}Z`;
}

/** Debezium's MicroDuration: months count as 365.25/12 days (30.4375 days = 2,629,800 s). */
function parseIntervalMicros(text: string): bigint {
  const match =
    /^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?[\d.]+)S)?)?$/.exec(text);
  if (!match) throw new Error(`malformed interval (IntervalStyle must be iso_8601): ${text}`);
  const int = (index: number) => BigInt(match[index] ?? 0);
  const months = int(1) * 12n + int(2);
  const seconds = months * 2_629_800n + int(3) * 86_400n + int(4) * 3600n + int(5) * 60n;
  const secondsText = match[6] ?? "0";
  const negative = secondsText.startsWith("-");
  const [whole = "0", fraction] = secondsText.replace("-", "").split(".");
  const secondMicros = BigInt(whole) * 1_000_000n + fractionMicros(fraction);
  return seconds * 1_000_000n + (negative ? -secondMicros : secondMicros);
}
