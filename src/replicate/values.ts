/**
 * Capture → sink: a capture column's Iceberg type (spec JSON without field ids) → the sink's
 * {@link IcebergType}, and an event value (Debezium's JSON representation, docs/capture.md) → Floe's
 * value representation (src/iceberg/parquet-writer.ts header).
 */
import type { IcebergType as CaptureIcebergType, ConnectSchema, EventValue } from "../capture/index.ts";
import { daysFromCivil } from "../capture/pg-types.ts";
import type { TableSchema } from "../capture/relation.ts";
import { type IcebergType, parsePrimitiveType } from "../iceberg/types.ts";
import type { EventSchema, Row } from "../sink/index.ts";
import { ReplicateError } from "./errors.ts";

/**
 * Nested field ids start here so they never collide with top-level ids (sinkSchema numbers columns
 * 1..n, plus the changelog columns); the catalog keeps whatever ids the schema carries.
 */
const NESTED_ID_BASE = 100_000;

export function sinkType(type: CaptureIcebergType, nextId: () => number): IcebergType {
  if (typeof type === "string") return parsePrimitiveType(type);
  if (type.type === "list") {
    return {
      kind: "list",
      elementId: nextId(),
      elementRequired: type["element-required"],
      element: sinkType(type.element, nextId),
    };
  }
  return {
    kind: "struct",
    fields: type.fields.map((f) => ({
      id: nextId(),
      name: f.name,
      required: f.required,
      type: sinkType(f.type, nextId),
    })),
  };
}

/** A source table's shape for createSinkTable / applySourceSchema. */
export function eventSchema(table: TableSchema, renames: Map<string, string> = new Map()): EventSchema {
  let id = NESTED_ID_BASE;
  const nextId = () => ++id;
  return {
    columns: table.columns.map((column) => {
      const renamedFrom = renames.get(column.name);
      return {
        name: column.name,
        type: sinkType(column.mapping.iceberg, nextId),
        optional: column.optional,
        ...(renamedFrom !== undefined ? { renamedFrom } : {}),
      };
    }),
    primaryKey: table.primaryKey,
  };
}

/** A Connect schema as a capture mapping carries it (`optional` left out). */
type ColumnConnect = Omit<ConnectSchema, "optional">;

/** Column name → its Connect schema (how its event values are written), per table shape. */
const connectSchemas = new WeakMap<TableSchema, Map<string, ColumnConnect>>();

function connectOf(table: TableSchema): Map<string, ColumnConnect> {
  let schemas = connectSchemas.get(table);
  if (!schemas) {
    schemas = new Map(table.columns.map((column) => [column.name, column.mapping.connect]));
    connectSchemas.set(table, schemas);
  }
  return schemas;
}

/** Converts the columns of `row` that `table` knows (others are passed through unchanged). */
export function sinkRow(
  table: TableSchema,
  types: Map<string, IcebergType>,
  row: Record<string, EventValue>,
): Row {
  const out: Row = {};
  const connect = connectOf(table);
  for (const [name, value] of Object.entries(row)) {
    const type = types.get(name);
    out[name] =
      type === undefined
        ? value
        : sinkValue(type, value, `${table.schema}.${table.table}.${name}`, connect.get(name));
  }
  return out;
}

const INT64_MAX = 9_223_372_036_854_775_807n;
const INT64_MIN = -9_223_372_036_854_775_808n;
const INT32_MAX = 2_147_483_647;
const INT32_MIN = -2_147_483_648;

/**
 * ±infinity in Iceberg: the largest and smallest value of the column's integer (int64 µs for
 * timestamps, int32 days for dates), the most negative one excluded — that is how DuckDB (which writes
 * the data files) spells its own ±infinity, and the one value it refuses ("Date out of range").
 * Capture's event values use int64/int32 min for -infinity (docs/capture.md); both sinks map it here.
 */
export const TIMESTAMP_INFINITY = INT64_MAX;
export const TIMESTAMP_NEGATIVE_INFINITY = -INT64_MAX;
export const DATE_INFINITY = INT32_MAX;
export const DATE_NEGATIVE_INFINITY = -INT32_MAX;

/** Capture's -infinity (int64/int32 min) → the Iceberg spelling; every other value unchanged. */
export function timestampValue(micros: bigint): bigint {
  return micros === INT64_MIN ? TIMESTAMP_NEGATIVE_INFINITY : micros;
}

export function dateValue(days: number): number {
  return days === INT32_MIN ? DATE_NEGATIVE_INFINITY : days;
}

/** The unscaled value at `scale` as decimal text (`-0.05`), as PostgreSQL prints numeric(p,s). */
export function decimalText(unscaled: bigint, scale: number): string {
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString();
  if (scale <= 0) return `${negative ? "-" : ""}${digits}${"0".repeat(-scale)}`;
  const padded = digits.padStart(scale + 1, "0");
  return `${negative ? "-" : ""}${padded.slice(0, -scale)}.${padded.slice(-scale)}`;
}

const CONNECT_DECIMAL = "org.apache.kafka.connect.data.Decimal";
const VARIABLE_SCALE_DECIMAL = "io.debezium.data.VariableScaleDecimal";

function invalid(where: string, type: IcebergType, value: unknown): never {
  throw new ReplicateError(
    "VALUE_INVALID",
    `${where}: event value ${JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))} does not fit Iceberg type ${type.kind}`,
  );
}

/**
 * One event value → Floe's value for an Iceberg column of `type`. `connect` is how capture wrote the
 * value (its Connect schema), which matters where the Iceberg type alone does not say: a numeric wider
 * than Iceberg's decimals is a string column, but its event value is Connect's base64 unscaled bytes.
 */
export function sinkValue(
  type: IcebergType,
  value: EventValue | undefined,
  where: string,
  connect?: ColumnConnect,
): unknown {
  if (value === null || value === undefined) return null;
  switch (type.kind) {
    case "string":
      if (connect?.name === CONNECT_DECIMAL && typeof value === "string") {
        // numeric(p,s) with p > 38: the decimal's text, exactly as PostgreSQL prints it.
        const scale = Number(connect.parameters?.scale ?? 0);
        return decimalText(unscaledFromBase64(value), scale);
      }
      if (connect?.name === VARIABLE_SCALE_DECIMAL && isVariableScale(value))
        return decimalText(unscaledFromBase64(value.value), Number(value.scale));
      return typeof value === "object" ? JSON.stringify(value) : value;
    case "boolean":
    case "uuid":
      return typeof value === "object" ? JSON.stringify(value) : value;
    case "int":
      return Number(value);
    case "date":
      return dateValue(Number(value));
    case "timestamp":
    case "timestamp_ns":
      if (typeof value === "number" || typeof value === "bigint") return timestampValue(BigInt(value));
      if (typeof value === "string" && /^-?\d+$/.test(value)) return timestampValue(BigInt(value));
      return invalid(where, type, value);
    case "long":
    case "time":
      if (typeof value === "number" || typeof value === "bigint") return BigInt(value);
      if (typeof value === "string" && /^-?\d+$/.test(value)) return BigInt(value);
      return invalid(where, type, value);
    case "float":
    case "double":
      // NaN and ±Infinity arrive as strings.
      return typeof value === "string" ? Number(value) : Number(value as number);
    case "timestamptz":
    case "timestamptz_ns": {
      if (typeof value !== "string") return invalid(where, type, value);
      const micros = isoToMicros(value);
      if (micros === undefined) return invalid(where, type, value);
      if (micros === TIMESTAMP_INFINITY || micros === TIMESTAMP_NEGATIVE_INFINITY) return micros;
      return type.kind === "timestamptz" ? micros : micros * 1000n;
    }
    case "decimal": {
      // precise: base64 two's-complement unscaled value at the column's scale;
      // variable scale: {scale, value} rescaled to the column's scale.
      if (typeof value === "string") return unscaledFromBase64(value);
      if (typeof value === "object" && !Array.isArray(value) && typeof value.value === "string") {
        const unscaled = unscaledFromBase64(value.value);
        const shift = type.scale - Number(value.scale);
        const rescaled = shift >= 0 ? unscaled * 10n ** BigInt(shift) : unscaled / 10n ** BigInt(-shift);
        const limit = 10n ** BigInt(type.precision);
        if (rescaled >= limit || rescaled <= -limit)
          throw new ReplicateError(
            "VALUE_INVALID",
            `${where}: ${decimalText(unscaled, Number(value.scale))} has more than ${type.precision - type.scale} integer digits, too many for decimal(${type.precision},${type.scale}) (unconstrained numeric in decimal.handling.mode precise); use decimal.handling.mode=string, or give the column a precision`,
          );
        return rescaled;
      }
      if (typeof value === "number") return value.toFixed(type.scale);
      return invalid(where, type, value);
    }
    case "binary":
    case "fixed":
      if (typeof value !== "string") return invalid(where, type, value);
      return new Uint8Array(Buffer.from(value, "base64"));
    case "list": {
      if (!Array.isArray(value)) return invalid(where, type, value);
      const items = connect?.items;
      return value.map((element) => sinkValue(type.element, element, where, items));
    }
    case "struct": {
      if (typeof value !== "object" || Array.isArray(value)) return invalid(where, type, value);
      const out: Record<string, unknown> = {};
      for (const field of type.fields) {
        const fieldConnect = connect?.fields?.find((candidate) => candidate.field === field.name);
        out[field.name] = sinkValue(field.type, value[field.name], where, fieldConnect);
      }
      return out;
    }
    case "map":
      return invalid(where, type, value);
  }
}

function isVariableScale(value: EventValue): value is { scale: EventValue; value: string } {
  return (
    typeof value === "object" && value !== null && !Array.isArray(value) && typeof value.value === "string"
  );
}

function unscaledFromBase64(text: string): bigint {
  const bytes = Buffer.from(text, "base64");
  if (bytes.length === 0) return 0n;
  let result = 0n;
  for (const byte of bytes) result = (result << 8n) | BigInt(byte);
  // Two's complement: a set top bit means negative.
  if ((bytes[0] ?? 0) & 0x80) result -= 1n << BigInt(bytes.length * 8);
  return result;
}

const ISO_INSTANT =
  /^([+-]?\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d(?::?\d\d)?)$/;

/**
 * `2024-01-02T02:04:05.123456Z` (or with an offset) → µs since the epoch, exactly, for any year
 * (`+12345-…`, `-0043-…` = 44 BC, JavaScript's six-digit `+012345-…`); `infinity` / `-infinity` →
 * {@link TIMESTAMP_INFINITY} / {@link TIMESTAMP_NEGATIVE_INFINITY}.
 */
export function isoToMicros(text: string): bigint | undefined {
  if (text === "infinity") return TIMESTAMP_INFINITY;
  if (text === "-infinity") return TIMESTAMP_NEGATIVE_INFINITY;
  const match = ISO_INSTANT.exec(text);
  if (!match) return undefined;
  const month = Number(match[2]);
  const day = Number(match[3]);
  const hours = Number(match[4]);
  const minutes = Number(match[5]);
  const secs = Number(match[6]);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hours > 23 || minutes > 59 || secs > 60)
    return undefined;
  let offset = 0;
  const zone = match[8] ?? "Z";
  if (zone !== "Z") {
    const digits = zone.slice(1).replace(":", "");
    offset = (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || "0")) * 60;
    if (zone.startsWith("-")) offset = -offset;
  }
  const days = daysFromCivil(Number(match[1]), month, day);
  const seconds = BigInt(days) * 86_400n + BigInt(hours * 3600 + minutes * 60 + secs - offset);
  const fraction = (match[7] ?? "").padEnd(6, "0").slice(0, 6);
  return seconds * 1_000_000n + BigInt(fraction);
}
