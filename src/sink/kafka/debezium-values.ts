/**
 * Debezium's JSON column values → the sink's value representation (src/iceberg/parquet-writer.ts
 * header): one converter per column, built once per schema from the column's Iceberg type and how its
 * values are written (the Connect schema's logical name, or the connector's settings when records carry
 * no schema). For the forms `floe capture` writes, the result equals what direct mode's `sinkValue`
 * (src/replicate/values.ts) makes of the same event value; the other forms are Debezium's alternatives
 * (ms/ns time units, hex or URL-safe binary, decimals as text or doubles).
 *
 * Also recognizes Debezium's placeholder for an unchanged TOASTed value in each shape the PostgreSQL
 * connector sends it (the string, its bytes, one-element or per-byte arrays, an hstore map, geometry
 * sentinels), so the decoder can report the column as unchanged instead of writing the placeholder.
 */
import { createHash } from "node:crypto";
import type { IcebergType, PrimitiveType } from "../../iceberg/types.ts";
import { typeToString } from "../../iceberg/types.ts";
import {
  DATE_INFINITY,
  DATE_NEGATIVE_INFINITY,
  dateValue,
  isoToMicros,
  TIMESTAMP_INFINITY,
  TIMESTAMP_NEGATIVE_INFINITY,
  timestampValue,
} from "../../replicate/values.ts";
import { ValueProblem } from "./decode-error.ts";

/** Turns one JSON value into the sink's representation; throws {@link ValueProblem}. */
export type Convert = (value: unknown) => unknown;

/** A column's Iceberg type, value converter and placeholder test. */
export interface ValueCodec {
  readonly type: IcebergType;
  readonly convert: Convert;
  /** True when the value is Debezium's unavailable-value placeholder for this column. */
  readonly isUnavailable: (value: unknown) => boolean;
}

/** Debezium's `binary.handling.mode` string forms (`bytes` is base64 in JSON). */
export type BinaryForm = "base64" | "base64url" | "hex";
export type TimeUnit = "ms" | "us" | "ns";
/** How a decimal written as a JSON string is spelled: Connect's base64 unscaled bytes, or decimal text. */
export type DecimalTextForm = "unscaled-base64" | "decimal";

/** How values are written when the record does not say (no Connect schema): the connector's settings. */
export interface ValueEncoding {
  binaryForm: BinaryForm;
  timeUnit: TimeUnit;
  timestampUnit: TimeUnit;
  decimalTextForm: DecimalTextForm;
}

const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;
const INT64_MIN = -9_223_372_036_854_775_808n;
const INT64_MAX = 9_223_372_036_854_775_807n;

/** A value for messages: JSON with bigints as digits, cut at 80 characters. */
export function showValue(value: unknown): string {
  let text: string;
  try {
    text =
      JSON.stringify(value, (_key, item: unknown) => (typeof item === "bigint" ? item.toString() : item)) ??
      String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function doesNotFit(value: unknown, type: string, expected: string): never {
  throw new ValueProblem(`value ${showValue(value)} does not fit ${type} (expected ${expected})`);
}

function integerOf(value: unknown): bigint | undefined {
  if (typeof value === "bigint") return value;
  if (typeof value === "number") return Number.isInteger(value) ? BigInt(value) : undefined;
  if (typeof value === "string" && /^-?\d+$/.test(value)) return BigInt(value);
  return undefined;
}

// ---- primitives ---------------------------------------------------------------------------------

export function intConverter(): Convert {
  return (value) => {
    if (value === null || value === undefined) return null;
    if (typeof value === "number" && Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX)
      return value;
    const integer = integerOf(value);
    if (integer !== undefined && integer >= BigInt(INT32_MIN) && integer <= BigInt(INT32_MAX))
      return Number(integer);
    return doesNotFit(value, "int", "a 32-bit integer");
  };
}

export function longConverter(): Convert {
  return (value) => {
    if (value === null || value === undefined) return null;
    const integer = integerOf(value);
    if (integer !== undefined && integer >= INT64_MIN && integer <= INT64_MAX) return integer;
    return doesNotFit(value, "long", "a 64-bit integer");
  };
}

const NON_FINITE: Record<string, number> = { NaN: Number.NaN, Infinity: Infinity, "-Infinity": -Infinity };

export function floatingConverter(kind: "float" | "double"): Convert {
  return (value) => {
    if (value === null || value === undefined) return null;
    if (typeof value === "number") return value;
    if (typeof value === "bigint") return Number(value);
    // Jackson quotes non-finite numbers (QUOTE_NON_NUMERIC_NUMBERS), as envelope.ts toJson does.
    if (typeof value === "string" && value in NON_FINITE) return NON_FINITE[value];
    return doesNotFit(value, kind, 'a number, or "NaN", "Infinity", "-Infinity"');
  };
}

export function booleanConverter(): Convert {
  return (value) => {
    if (value === null || value === undefined) return null;
    if (typeof value === "boolean") return value;
    return doesNotFit(value, "boolean", "true or false");
  };
}

/** Strings as they are; a structured value (a JSON document sent as an object) as its JSON text. */
export function stringConverter(): Convert {
  return (value) => {
    if (value === null || value === undefined) return null;
    if (typeof value === "string") return value;
    if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint")
      return String(value);
    return showJson(value);
  };
}

function showJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (typeof item === "bigint" ? item.toString() : item));
}

const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function uuidConverter(): Convert {
  return (value) => {
    if (value === null || value === undefined) return null;
    if (typeof value === "string" && UUID_PATTERN.test(value)) return value;
    return doesNotFit(value, "uuid", "8-4-4-4-12 hex digits");
  };
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

function decodeBinary(text: string, form: BinaryForm): Uint8Array | undefined {
  switch (form) {
    case "base64":
      return BASE64.test(text) && text.length % 4 === 0
        ? new Uint8Array(Buffer.from(text, "base64"))
        : undefined;
    case "base64url":
      return BASE64URL.test(text) ? new Uint8Array(Buffer.from(text, "base64url")) : undefined;
    case "hex":
      return HEX.test(text) ? new Uint8Array(Buffer.from(text, "hex")) : undefined;
  }
}

export function binaryConverter(form: BinaryForm, fixedLength?: number): Convert {
  const type = fixedLength === undefined ? "binary" : `fixed[${fixedLength}]`;
  return (value) => {
    if (value === null || value === undefined) return null;
    const bytes = typeof value === "string" ? decodeBinary(value, form) : undefined;
    if (bytes === undefined) return doesNotFit(value, type, `a ${form} string`);
    if (fixedLength !== undefined && bytes.length !== fixedLength)
      return doesNotFit(value, type, `exactly ${fixedLength} bytes`);
    return bytes;
  };
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * date (days since 1970-01-01). ±infinity arrive as int32 max/min (capture) or "infinity"/"-infinity"
 * and become {@link DATE_INFINITY} / {@link DATE_NEGATIVE_INFINITY}, as in direct mode.
 */
export function dateConverter(): Convert {
  return (value) => {
    if (value === null || value === undefined) return null;
    if (value === "infinity") return DATE_INFINITY;
    if (value === "-infinity") return DATE_NEGATIVE_INFINITY;
    if (typeof value === "number" && Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX)
      return dateValue(value);
    if (typeof value === "bigint" && value >= BigInt(INT32_MIN) && value <= BigInt(INT32_MAX))
      return dateValue(Number(value));
    const match = typeof value === "string" ? ISO_DATE.exec(value) : null;
    if (match) {
      const ms = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
      if (!Number.isNaN(ms)) return Math.floor(ms / 86_400_000);
    }
    return doesNotFit(value, "date", "days since 1970-01-01");
  };
}

const UNIT_NAMES: Record<TimeUnit, string> = { ms: "milliseconds", us: "microseconds", ns: "nanoseconds" };

function floorDiv(a: bigint, b: bigint): bigint {
  const quotient = a / b;
  return a % b !== 0n && a < 0n ? quotient - 1n : quotient;
}

/** An integer count of `from` units → `to` units (floor when coarsening, so instants before 1970 stay ordered). */
function rescaleTime(count: bigint, from: TimeUnit, to: "us" | "ns"): bigint {
  const nanosPer: Record<TimeUnit, bigint> = { ms: 1_000_000n, us: 1000n, ns: 1n };
  const fromNanos = nanosPer[from];
  const toNanos = nanosPer[to];
  return fromNanos >= toNanos ? count * (fromNanos / toNanos) : floorDiv(count, toNanos / fromNanos);
}

/** time (µs since midnight) from a count of `unit` since midnight. */
export function timeConverter(unit: TimeUnit): Convert {
  return (value) => {
    if (value === null || value === undefined) return null;
    const count = integerOf(value);
    if (count === undefined) return doesNotFit(value, "time", `${UNIT_NAMES[unit]} since midnight`);
    return rescaleTime(count, unit, "us");
  };
}

/**
 * timestamp / timestamptz (µs) or their _ns variants from a count of `unit` since the epoch, or from an
 * ISO-8601 string with a zone (Debezium's ZonedTimestamp). ±infinity arrive as int64 max/min (capture)
 * or "infinity"/"-infinity" and become {@link TIMESTAMP_INFINITY} / {@link TIMESTAMP_NEGATIVE_INFINITY}
 * (int64 max / -int64 max), as in direct mode.
 */
export function timestampConverter(target: "us" | "ns", unit: TimeUnit, typeName: string): Convert {
  return (value) => {
    if (value === null || value === undefined) return null;
    if (typeof value === "string" && !/^-?\d+$/.test(value)) {
      const micros = isoToMicros(value);
      if (micros === undefined)
        return doesNotFit(value, typeName, "ISO-8601 with a zone, e.g. 2024-01-02T03:04:05.123456Z");
      if (micros === TIMESTAMP_INFINITY || micros === TIMESTAMP_NEGATIVE_INFINITY) return micros;
      return target === "us" ? micros : micros * 1000n;
    }
    const count = integerOf(value);
    if (count === undefined) return doesNotFit(value, typeName, `${UNIT_NAMES[unit]} since the epoch`);
    if (count === INT64_MAX || count === INT64_MIN) return timestampValue(count);
    return rescaleTime(count, unit, target);
  };
}

// ---- decimals -----------------------------------------------------------------------------------

/** Kafka Connect Decimal bytes (big-endian two's complement) → the unscaled value. */
export function unscaledFromBytes(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n;
  let result = 0n;
  for (const byte of bytes) result = (result << 8n) | BigInt(byte);
  if ((bytes[0] ?? 0) & 0x80) result -= 1n << BigInt(bytes.length * 8);
  return result;
}

/** Moves `unscaled` from scale `from` to scale `to`, truncating toward zero as direct mode does. */
function rescale(unscaled: bigint, from: number, to: number): bigint {
  const shift = to - from;
  return shift >= 0 ? unscaled * 10n ** BigInt(shift) : unscaled / 10n ** BigInt(-shift);
}

const DECIMAL_TEXT = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** Decimal text (`-12.5`, `1e-7`) → unscaled at `scale` (extra digits truncated), or undefined. */
export function unscaledFromText(text: string, scale: number): bigint | undefined {
  const match = DECIMAL_TEXT.exec(text.trim());
  if (!match || (match[2] === "" && (match[3] ?? "") === "")) return undefined;
  const fraction = match[3] ?? "";
  const digits = BigInt(`${match[2] || "0"}${fraction}` || "0");
  const textScale = fraction.length - Number(match[4] ?? 0);
  const unscaled = rescale(digits, textScale, scale);
  return match[1] === "-" ? -unscaled : unscaled;
}

/** The unscaled value at `scale` as decimal text (`-0.05`), the way PostgreSQL prints numeric(p,s). */
export function decimalText(unscaled: bigint, scale: number): string {
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString();
  if (scale === 0) return `${negative ? "-" : ""}${digits}`;
  const padded = digits.padStart(scale + 1, "0");
  return `${negative ? "-" : ""}${padded.slice(0, -scale)}.${padded.slice(-scale)}`;
}

function unscaledFromNumber(value: number, scale: number): bigint | undefined {
  if (!Number.isFinite(value)) return undefined;
  if (Math.abs(value) < 1e21 && scale <= 100) return unscaledFromText(value.toFixed(scale), scale);
  return BigInt(value) * 10n ** BigInt(scale);
}

export interface DecimalSpec {
  precision: number;
  scale: number;
  /** The scale a base64 string is written at (Connect Decimal's `scale` parameter); defaults to `scale`. */
  sourceScale?: number;
  textForm: DecimalTextForm;
  /** Produce decimal text (an Iceberg string column: numeric with precision > 38) instead of the unscaled bigint. */
  asText?: boolean;
}

/**
 * decimal(P,S) → the unscaled bigint at S (or decimal text). Accepts every form Debezium writes: Connect
 * Decimal (base64 unscaled bytes), VariableScaleDecimal (`{scale, value}`), `decimal.handling.mode`
 * string (decimal text) and double (a number). A value with more than P digits is refused.
 */
export function decimalConverter(spec: DecimalSpec): Convert {
  const typeName = spec.asText ? "string" : `decimal(${spec.precision},${spec.scale})`;
  const limit = 10n ** BigInt(spec.precision);
  const sourceScale = spec.sourceScale ?? spec.scale;
  return (value) => {
    if (value === null || value === undefined) return null;
    let unscaled: bigint | undefined;
    if (typeof value === "string") {
      if (spec.textForm === "unscaled-base64") {
        const bytes = decodeBinary(value, "base64");
        unscaled =
          bytes === undefined ? undefined : rescale(unscaledFromBytes(bytes), sourceScale, spec.scale);
      } else {
        unscaled = unscaledFromText(value, spec.scale);
      }
    } else if (typeof value === "number") {
      unscaled = unscaledFromNumber(value, spec.scale);
    } else if (typeof value === "bigint") {
      unscaled = value * 10n ** BigInt(spec.scale);
    } else if (typeof value === "object" && !Array.isArray(value)) {
      const variable = value as { scale?: unknown; value?: unknown };
      const bytes = typeof variable.value === "string" ? decodeBinary(variable.value, "base64") : undefined;
      const scale = Number(variable.scale);
      if (bytes !== undefined && Number.isInteger(scale))
        unscaled = rescale(unscaledFromBytes(bytes), scale, spec.scale);
    }
    if (unscaled === undefined)
      return doesNotFit(
        value,
        typeName,
        spec.textForm === "unscaled-base64"
          ? "Kafka Connect Decimal bytes in base64, {scale, value} or a number"
          : "decimal text, {scale, value} or a number",
      );
    if (spec.asText) return decimalText(unscaled, spec.scale);
    if (unscaled >= limit || unscaled <= -limit)
      throw new ValueProblem(
        `value ${decimalText(unscaled, spec.scale)} has more than ${spec.precision} digits, too many for ${typeName}`,
      );
    return unscaled;
  };
}

// ---- nested -------------------------------------------------------------------------------------

function nested(problem: unknown, step: string): never {
  if (problem instanceof ValueProblem) throw new ValueProblem(problem.message, `${step}${problem.path}`);
  throw problem;
}

export function listConverter(element: Convert): Convert {
  return (value) => {
    if (value === null || value === undefined) return null;
    if (!Array.isArray(value)) return doesNotFit(value, "list", "a JSON array");
    const out = new Array<unknown>(value.length);
    for (let index = 0; index < value.length; index++) {
      try {
        out[index] = element(value[index]);
      } catch (problem) {
        nested(problem, `[${index}]`);
      }
    }
    return out;
  };
}

export function structConverter(fields: Array<{ name: string; convert: Convert }>): Convert {
  return (value) => {
    if (value === null || value === undefined) return null;
    if (typeof value !== "object" || Array.isArray(value))
      return doesNotFit(value, "struct", "a JSON object");
    const record = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const field of fields) {
      try {
        out[field.name] = field.convert(record[field.name]);
      } catch (problem) {
        nested(problem, `.${field.name}`);
      }
    }
    return out;
  };
}

/** Connect maps: a JSON object (string keys) or, for other key types, an array of [key, value] pairs. */
export function mapConverter(key: Convert, item: Convert): Convert {
  return (value) => {
    if (value === null || value === undefined) return null;
    const entries: Array<[unknown, unknown]> | undefined = Array.isArray(value)
      ? value.every((pair) => Array.isArray(pair) && pair.length === 2)
        ? (value as Array<[unknown, unknown]>)
        : undefined
      : typeof value === "object"
        ? Object.entries(value as Record<string, unknown>)
        : undefined;
    if (entries === undefined) return doesNotFit(value, "map", "a JSON object or [key, value] pairs");
    const out = new Map<unknown, unknown>();
    for (const [entryKey, entryValue] of entries) {
      try {
        out.set(key(entryKey), item(entryValue));
      } catch (problem) {
        nested(problem, `[${showValue(entryKey)}]`);
      }
    }
    return out;
  };
}

/**
 * The converter for an Iceberg type when the record does not say how values are written: the
 * encoding is the connector's settings (see {@link ValueEncoding}). Nested types use the same encoding.
 */
export function converterForType(type: IcebergType, encoding: ValueEncoding): Convert {
  switch (type.kind) {
    case "list":
      return listConverter(converterForType(type.element, encoding));
    case "struct":
      return structConverter(
        type.fields.map((field) => ({ name: field.name, convert: converterForType(field.type, encoding) })),
      );
    case "map":
      return mapConverter(converterForType(type.key, encoding), converterForType(type.value, encoding));
    default:
      return primitiveConverter(type, encoding);
  }
}

function primitiveConverter(type: PrimitiveType, encoding: ValueEncoding): Convert {
  switch (type.kind) {
    case "boolean":
      return booleanConverter();
    case "int":
      return intConverter();
    case "long":
      return longConverter();
    case "float":
    case "double":
      return floatingConverter(type.kind);
    case "decimal":
      return decimalConverter({
        precision: type.precision,
        scale: type.scale,
        textForm: encoding.decimalTextForm,
      });
    case "date":
      return dateConverter();
    case "time":
      return timeConverter(encoding.timeUnit);
    case "timestamp":
    case "timestamptz":
      return timestampConverter("us", encoding.timestampUnit, type.kind);
    case "timestamp_ns":
    case "timestamptz_ns":
      return timestampConverter("ns", encoding.timestampUnit, type.kind);
    case "string":
      return stringConverter();
    case "uuid":
      return uuidConverter();
    case "binary":
      return binaryConverter(encoding.binaryForm);
    case "fixed":
      return binaryConverter(encoding.binaryForm, type.length);
  }
  throw new ValueProblem(`Iceberg type ${typeToString(type)} has no converter`);
}

// ---- Debezium's unavailable-value placeholder ---------------------------------------------------

/** WKB of Debezium's geometry and geography placeholders (SRID 4326 points), base64 as JSON carries them. */
const GEOMETRY_PLACEHOLDER_WKB = Buffer.from(
  "0101000020E6100000000000FC83D797C1000000FC83D797C1",
  "hex",
).toString("base64");
const GEOGRAPHY_PLACEHOLDER_WKB = Buffer.from(
  "0101000020E61000000C21E7FDFF7F66401842CEFBFF7F5640",
  "hex",
).toString("base64");
const POINT_PLACEHOLDER_COORDINATE = -99_999_999;

/** Java's `UUID.nameUUIDFromBytes` (an MD5 name-based UUID, version 3). */
function nameUuidFromBytes(bytes: Uint8Array): string {
  const md5 = createHash("md5").update(bytes).digest();
  md5[6] = ((md5[6] ?? 0) & 0x0f) | 0x30;
  md5[8] = ((md5[8] ?? 0) & 0x3f) | 0x80;
  const hex = md5.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * A test for Debezium's placeholder in a column of `type` (`unavailable.value.placeholder`, default
 * `__debezium_unavailable_value`): the placeholder string in any column (also as base64, base64url or
 * hex of its bytes, and as the name-based UUID Debezium derives for uuid arrays); `[placeholder]` for
 * text, uuid and binary arrays; one element per placeholder byte for numeric and boolean arrays; an
 * hstore map `{placeholder: placeholder}`; the geometry/geography/point sentinels. `null` disables it.
 */
export function placeholderTest(type: IcebergType, placeholder: string | null): (value: unknown) => boolean {
  if (placeholder === null || placeholder === "") return () => false;
  const bytes = new Uint8Array(Buffer.from(placeholder, "utf8"));
  const strings = new Set([
    placeholder,
    Buffer.from(bytes).toString("base64"),
    Buffer.from(bytes).toString("base64url"),
    Buffer.from(bytes).toString("hex"),
    Buffer.from(bytes).toString("hex").toUpperCase(),
    nameUuidFromBytes(bytes),
  ]);
  let shortest = Number.POSITIVE_INFINITY;
  for (const text of strings) shortest = Math.min(shortest, text.length);
  const isPlaceholderString = (value: unknown): boolean =>
    typeof value === "string" && value.length >= shortest && strings.has(value);

  const structured = structuredTest(type, placeholder, bytes, isPlaceholderString);
  if (!structured) return isPlaceholderString;
  return (value) =>
    isPlaceholderString(value) || (value !== null && typeof value === "object" && structured(value));
}

function structuredTest(
  type: IcebergType,
  placeholder: string,
  bytes: Uint8Array,
  isPlaceholderString: (value: unknown) => boolean,
): ((value: object) => boolean) | undefined {
  switch (type.kind) {
    case "list": {
      const element = type.element.kind;
      if (element === "string" || element === "uuid" || element === "binary" || element === "fixed")
        return (value) => Array.isArray(value) && value.length === 1 && isPlaceholderString(value[0]);
      if (
        element === "int" ||
        element === "long" ||
        element === "float" ||
        element === "double" ||
        element === "decimal" ||
        element === "boolean"
      )
        return (value) =>
          Array.isArray(value) &&
          value.length === bytes.length &&
          value.every((item, index) => isPlaceholderByte(item, bytes[index] ?? 0));
      return undefined;
    }
    case "map":
      return (value) => {
        if (Array.isArray(value)) return false;
        const entries = Object.entries(value);
        return entries.length === 1 && entries[0]?.[0] === placeholder && entries[0]?.[1] === placeholder;
      };
    case "struct": {
      const names = new Set(type.fields.map((field) => field.name));
      if (names.has("x") && names.has("y"))
        return (value) => {
          const point = value as { x?: unknown; y?: unknown };
          return point.x === POINT_PLACEHOLDER_COORDINATE && point.y === POINT_PLACEHOLDER_COORDINATE;
        };
      if (names.has("wkb"))
        return (value) => {
          const wkb = (value as { wkb?: unknown }).wkb;
          return wkb === GEOMETRY_PLACEHOLDER_WKB || wkb === GEOGRAPHY_PLACEHOLDER_WKB;
        };
      return undefined;
    }
    default:
      return undefined;
  }
}

/** One element of a per-byte array placeholder: the byte as a number, boolean, or Connect decimal. */
function isPlaceholderByte(item: unknown, byte: number): boolean {
  if (typeof item === "number") return item === byte;
  if (typeof item === "bigint") return item === BigInt(byte);
  if (typeof item === "boolean") return item === (byte !== 0);
  const encoded = Buffer.from([byte]).toString("base64");
  if (typeof item === "string") return item === encoded;
  if (item !== null && typeof item === "object") {
    const variable = item as { scale?: unknown; value?: unknown };
    return variable.value === encoded && Number(variable.scale) === 0;
  }
  return false;
}

/** A codec for a column of `type` whose values are written as `encoding` says. */
export function codecForType(
  type: IcebergType,
  encoding: ValueEncoding,
  placeholder: string | null,
): ValueCodec {
  return {
    type,
    convert: converterForType(type, encoding),
    isUnavailable: placeholderTest(type, placeholder),
  };
}
