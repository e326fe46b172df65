/**
 * Capture → sink: a capture column's Iceberg type (spec JSON without field ids) → the sink's
 * {@link IcebergType}, and an event value (Debezium's JSON representation, docs/capture.md) → Floe's
 * value representation (src/iceberg/parquet-writer.ts header).
 */
import type { IcebergType as CaptureIcebergType, EventValue } from "../capture/index.ts";
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

/** Converts the columns of `row` that `table` knows (others are passed through unchanged). */
export function sinkRow(
  table: TableSchema,
  types: Map<string, IcebergType>,
  row: Record<string, EventValue>,
): Row {
  const out: Row = {};
  for (const [name, value] of Object.entries(row)) {
    const type = types.get(name);
    out[name] = type === undefined ? value : sinkValue(type, value, `${table.schema}.${table.table}.${name}`);
  }
  return out;
}

const INT64_MAX = 9_223_372_036_854_775_807n;
const INT64_MIN = -9_223_372_036_854_775_808n;

function invalid(where: string, type: IcebergType, value: unknown): never {
  throw new ReplicateError(
    "VALUE_INVALID",
    `${where}: event value ${JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))} does not fit Iceberg type ${type.kind}`,
  );
}

export function sinkValue(type: IcebergType, value: EventValue | undefined, where: string): unknown {
  if (value === null || value === undefined) return null;
  switch (type.kind) {
    case "boolean":
    case "string":
    case "uuid":
      return typeof value === "object" ? JSON.stringify(value) : value;
    case "int":
    case "date":
      return Number(value);
    case "long":
    case "time":
    case "timestamp":
    case "timestamp_ns":
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
      return type.kind === "timestamptz" ? micros : micros * 1000n;
    }
    case "decimal": {
      // precise: base64 two's-complement unscaled value at the column's scale;
      // variable scale: {scale, value} rescaled to the column's scale.
      if (typeof value === "string") return unscaledFromBase64(value);
      if (typeof value === "object" && !Array.isArray(value) && typeof value.value === "string") {
        const unscaled = unscaledFromBase64(value.value);
        const shift = type.scale - Number(value.scale);
        return shift >= 0 ? unscaled * 10n ** BigInt(shift) : unscaled / 10n ** BigInt(-shift);
      }
      if (typeof value === "number") return value.toFixed(type.scale);
      return invalid(where, type, value);
    }
    case "binary":
    case "fixed":
      if (typeof value !== "string") return invalid(where, type, value);
      return new Uint8Array(Buffer.from(value, "base64"));
    case "list":
      if (!Array.isArray(value)) return invalid(where, type, value);
      return value.map((element) => sinkValue(type.element, element, where));
    case "struct": {
      if (typeof value !== "object" || Array.isArray(value)) return invalid(where, type, value);
      const out: Record<string, unknown> = {};
      for (const field of type.fields) out[field.name] = sinkValue(field.type, value[field.name], where);
      return out;
    }
    case "map":
      return invalid(where, type, value);
  }
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

/** `2024-01-02T02:04:05.123456Z` (or with an offset) → µs since the epoch, exactly. */
export function isoToMicros(text: string): bigint | undefined {
  if (text === "infinity") return INT64_MAX;
  if (text === "-infinity") return INT64_MIN;
  const match = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$/.exec(text);
  if (!match) return undefined;
  const seconds = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(seconds)) return undefined;
  const fraction = (match[2] ?? "").padEnd(6, "0").slice(0, 6);
  return BigInt(seconds) * 1000n + BigInt(fraction);
}
