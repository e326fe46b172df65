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
      return arrayMapping(element, row.typdelim);
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
    }>(
      "select attname, atttypid::int as atttypid, atttypmod from pg_attribute where attrelid = $1 and attnum > 0 and not attisdropped order by attnum",
      [row.typrelid],
    );
    const fields: Array<{ name: string; mapping: ValueMapping }> = [];
    for (const attribute of attributes) {
      const mapping = await this.mappingFor(Number(attribute.atttypid), Number(attribute.atttypmod), {
        table: context.table,
        column: `${context.column}.${attribute.attname}`,
      });
      fields.push({ name: attribute.attname, mapping });
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

function arrayMapping(element: ValueMapping, delimiter: string): ValueMapping {
  const decodeLevel = (items: ArrayLiteral): EventValue[] =>
    items.map((item) =>
      item === null ? null : Array.isArray(item) ? decodeLevel(item) : element.decode(item),
    );
  return {
    pgType: `${element.pgType}[]`,
    connect: { type: "array", items: { ...element.connect, optional: true } },
    iceberg: { type: "list", "element-required": false, element: element.iceberg },
    decode: (text) => decodeLevel(parseArrayLiteral(text, delimiter)),
  };
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
      return { pgType: "bigint", connect: { type: "int64" }, iceberg: "long", decode: BigInt };
    case "oid":
      return { pgType: "oid", connect: { type: "int64" }, iceberg: "long", decode: BigInt };
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
    const scale = (typeMod - 4) & 0xffff;
    return decimalMapping(`numeric(${precision},${scale})`, precision, scale, mode, (text) => text);
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
      if (!isFiniteDecimal(text)) return null;
      const scale = text.includes(".") ? text.length - text.indexOf(".") - 1 : 0;
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
  const iceberg = precision <= 38 ? `decimal(${precision},${scale})` : "string";
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
      return isFiniteDecimal(normalized) ? unscaledBase64(normalized, scale) : null;
    },
  };
}

function isFiniteDecimal(text: string): boolean {
  return /^-?\d+(\.\d+)?$/.test(text);
}

/** Kafka Connect's Decimal: the unscaled value as big-endian two's complement, minimal length, base64. */
export function unscaledBase64(text: string, scale: number): string {
  const negative = text.startsWith("-");
  const [whole = "0", fraction = ""] = (negative ? text.slice(1) : text).split(".");
  const digits = `${whole}${fraction.padEnd(scale, "0").slice(0, scale)}`;
  // Most values fit 6 bytes (|unscaled| < 2^47): plain numbers instead of BigInt arithmetic (hot in snapshots).
  if (digits.length <= 14) return smallTwosComplementBase64(negative ? -Number(digits) : Number(digits));
  let unscaled = BigInt(digits);
  if (negative) unscaled = -unscaled;
  return twosComplement(unscaled).toString("base64");
}

const BASE64_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Minimal big-endian two's complement of |value| < 2^47, base64 — without Buffer or BigInt allocations. */
function smallTwosComplementBase64(value: number): string {
  let length = 1;
  while (value >= 2 ** (8 * length - 1) || value < -(2 ** (8 * length - 1))) length++;
  let rest = value < 0 ? value + 2 ** (8 * length) : value;
  const bytes = [0, 0, 0, 0, 0, 0];
  for (let index = length - 1; index >= 0; index--) {
    bytes[index] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  let encoded = "";
  for (let index = 0; index < length; index += 3) {
    const b0 = bytes[index] ?? 0;
    const b1 = bytes[index + 1] ?? 0;
    const b2 = bytes[index + 2] ?? 0;
    const left = length - index;
    encoded += BASE64_DIGITS[b0 >> 2];
    encoded += BASE64_DIGITS[((b0 & 3) << 4) | (b1 >> 4)];
    encoded += left > 1 ? BASE64_DIGITS[((b1 & 15) << 2) | (b2 >> 6)] : "=";
    encoded += left > 2 ? BASE64_DIGITS[b2 & 63] : "=";
  }
  return encoded;
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

/** `$1,234.56`, `-$1.00` (lc_monetary=C) → `1234.56`, `-1.00`. */
function parseMoney(text: string): string {
  const negative = text.includes("-") || text.startsWith("(");
  const digits = text.replace(/[^0-9.]/g, "");
  return negative ? `-${digits}` : digits;
}

const INT32_MAX = 2_147_483_647;
const INT64_MAX = 9_223_372_036_854_775_807n;

function parseDateDays(text: string): number {
  if (text === "infinity") return INT32_MAX;
  if (text === "-infinity") return -INT32_MAX - 1;
  const match = /^(\d+)-(\d\d)-(\d\d)( BC)?$/.exec(text);
  if (!match) throw new Error(`malformed date: ${text}`);
  const year = bcYear(Number(match[1]), match[4] !== undefined);
  return Math.round(utcMs(year, Number(match[2]) - 1, Number(match[3])) / 86_400_000);
}

function bcYear(year: number, bc: boolean): number {
  return bc ? 1 - year : year;
}

function utcMs(year: number, monthIndex: number, day: number): number {
  const date = new Date(Date.UTC(2000, monthIndex, day));
  date.setUTCFullYear(year);
  return date.getTime();
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
  const ms =
    utcMs(year, Number(match[2]) - 1, Number(match[3])) +
    ((Number(match[4]) * 60 + Number(match[5])) * 60 + Number(match[6])) * 1000;
  const offset = match[8] ? offsetSeconds(match[8]) : 0;
  return BigInt(ms - offset * 1000) * 1000n + fractionMicros(match[7]);
}

function parseTimestampMicros(text: string): bigint {
  if (text === "infinity") return INT64_MAX;
  if (text === "-infinity") return -INT64_MAX - 1n;
  return timestampMicros(text);
}

/** ISO 8601 in UTC with the fraction PostgreSQL printed (Debezium's ZonedTimestamp): `2024-01-02T03:04:05.123456Z`. */
function formatZonedTimestamp(text: string): string {
  if (text === "infinity" || text === "-infinity") return text;
  // Sessions run with TimeZone=UTC, so the server prints `YYYY-MM-DD HH:MM:SS[.ffffff]+00`: only the
  // separators change (what the general path below computes, without the date arithmetic).
  if (UTC_TIMESTAMP.test(text)) return `${text.slice(0, 10)}T${text.slice(11, -3)}Z`;
  const micros = timestampMicros(text);
  const fraction = TIMESTAMP.exec(text)?.[7];
  const floorSeconds = micros / 1_000_000n - (micros % 1_000_000n < 0n ? 1n : 0n);
  const iso = new Date(Number(floorSeconds) * 1000).toISOString();
  return `${iso.slice(0, iso.indexOf("."))}${fraction ? `.${fraction}` : ""}Z`;
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
