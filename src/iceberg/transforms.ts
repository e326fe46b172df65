/**
 * Partition and sort transforms (spec "Partition Transforms"): their string form, which source types they
 * accept, their result type, applying them to values (bucket via the Appendix B Murmur3 hashes), and the
 * human-readable form used in partition paths.
 */
import murmurhash from "murmurhash";
import {
  bytesToHex,
  civilFromDays,
  daysToIsoDate,
  decimalToMinBytes,
  decimalToString,
  expectIntValue,
  expectLongValue,
  type PrimitiveValue,
  timestampToIso,
  uuidToBytes,
} from "./conversions.ts";
import { IcebergError } from "./errors.ts";
import { type IcebergType, isPrimitive, type PrimitiveType, primitive, typeToString } from "./types.ts";

export type Transform =
  | { kind: "identity" }
  | { kind: "bucket"; numBuckets: number }
  | { kind: "truncate"; width: number }
  | { kind: "year" }
  | { kind: "month" }
  | { kind: "day" }
  | { kind: "hour" }
  | { kind: "void" }
  /** v3 readers must accept transforms they do not know and ignore them; `text` round-trips as read. */
  | { kind: "unknown"; text: string };

export const identity: Transform = { kind: "identity" };
export const year: Transform = { kind: "year" };
export const month: Transform = { kind: "month" };
export const day: Transform = { kind: "day" };
export const hour: Transform = { kind: "hour" };
export const voidTransform: Transform = { kind: "void" };
export const bucket = (numBuckets: number): Transform => checkedParam("bucket", numBuckets);
export const truncate = (width: number): Transform => checkedParam("truncate", width);

function checkedParam(kind: "bucket" | "truncate", n: number): Transform {
  if (!Number.isInteger(n) || n <= 0 || n > 2147483647) {
    throw new IcebergError("DATA_INVALID", `${kind}[${n}] needs a positive 32-bit integer parameter`);
  }
  return kind === "bucket" ? { kind, numBuckets: n } : { kind, width: n };
}

/** Parses `identity`, `bucket[16]`, `truncate[4]`, `year`, ...; anything else becomes an `unknown` transform. */
export function parseTransform(text: string): Transform {
  const trimmed = text.trim();
  switch (trimmed) {
    case "identity":
    case "year":
    case "month":
    case "day":
    case "hour":
    case "void":
      return { kind: trimmed };
  }
  const param = /^(bucket|truncate)\[\s*(\d+)\s*\]$/.exec(trimmed);
  if (param) return checkedParam(param[1] as "bucket" | "truncate", Number(param[2]));
  return { kind: "unknown", text };
}

export function transformToString(transform: Transform): string {
  switch (transform.kind) {
    case "bucket":
      return `bucket[${transform.numBuckets}]`;
    case "truncate":
      return `truncate[${transform.width}]`;
    case "unknown":
      return transform.text;
    default:
      return transform.kind;
  }
}

export function transformsEqual(a: Transform, b: Transform): boolean {
  return transformToString(a) === transformToString(b);
}

const timestampKinds = new Set(["timestamp", "timestamptz", "timestamp_ns", "timestamptz_ns"]);
const bucketKinds = new Set([
  "int",
  "long",
  "decimal",
  "date",
  "time",
  "string",
  "uuid",
  "fixed",
  "binary",
  ...timestampKinds,
]);
const truncateKinds = new Set(["int", "long", "decimal", "string", "binary"]);

/** Whether the spec allows `transform` on a column of `sourceType`. */
export function canTransform(transform: Transform, sourceType: IcebergType): boolean {
  switch (transform.kind) {
    case "identity":
      return isPrimitive(sourceType);
    case "bucket":
      return bucketKinds.has(sourceType.kind);
    case "truncate":
      return truncateKinds.has(sourceType.kind);
    case "year":
    case "month":
    case "day":
      return sourceType.kind === "date" || timestampKinds.has(sourceType.kind);
    case "hour":
      return timestampKinds.has(sourceType.kind);
    case "void":
      return true;
    case "unknown":
      return false;
  }
}

/** The type of the transform's output for a `sourceType` column: the partition field's type. */
export function resultType(transform: Transform, sourceType: IcebergType): IcebergType {
  if (!canTransform(transform, sourceType) && transform.kind !== "unknown") {
    throw new IcebergError(
      "DATA_INVALID",
      `transform ${transformToString(transform)} cannot be applied to a ${typeToString(sourceType)} column`,
    );
  }
  switch (transform.kind) {
    case "identity":
    case "truncate":
    case "void":
      return sourceType;
    case "bucket":
    case "year":
    case "month":
    case "hour":
      return primitive("int");
    case "day":
      return primitive("date");
    case "unknown":
      // Unknown transforms are read as opaque strings so their partition values can still be carried.
      return primitive("string");
  }
}

/**
 * Whether `a <= b` implies `transform(a) <= transform(b)`, so that bounds on the source column bound the
 * partition values (what file pruning needs).
 */
export function preservesOrder(transform: Transform): boolean {
  switch (transform.kind) {
    case "identity":
    case "truncate":
    case "year":
    case "month":
    case "day":
    case "hour":
      return true;
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Hashing (Appendix B).

/** Murmur3 x86 32-bit, seed 0, as a signed 32-bit integer like the spec's test values. */
export function murmur3Hash(bytes: Uint8Array): number {
  return murmurhash.v3(bytes, 0) | 0;
}

function hashLong(value: bigint): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigInt64(0, value, true);
  return murmur3Hash(new Uint8Array(view.buffer));
}

/**
 * The spec's 32-bit hash of one value of `type` (Appendix B). Ints hash as longs and nanosecond timestamps
 * as microseconds so that promoting a column does not move rows between buckets. The spec's `hashInt`
 * (date, boolean) is the int widened to a long too: its test values (`2017-11-16`, `true`) only match so.
 */
export function hashValue(type: PrimitiveType, value: PrimitiveValue): number {
  switch (type.kind) {
    case "int":
    case "date":
      return hashLong(BigInt(expectIntValue(type, value)));
    case "long":
    case "time":
    case "timestamp":
    case "timestamptz":
      return hashLong(expectLongValue(type, value));
    case "timestamp_ns":
    case "timestamptz_ns":
      return hashLong(floorDiv(expectLongValue(type, value), 1000n));
    case "decimal":
      return murmur3Hash(decimalToMinBytes(expectBigInt(type, value)));
    case "string":
      return murmur3Hash(new TextEncoder().encode(expectString(type, value)));
    case "uuid":
      return murmur3Hash(uuidToBytes(expectString(type, value)));
    case "fixed":
    case "binary":
      return murmur3Hash(expectBytes(type, value));
    case "boolean":
      return hashLong(value === true ? 1n : 0n);
    case "float":
    case "double": {
      const number = expectNumber(type, value);
      const view = new DataView(new ArrayBuffer(8));
      // DataView writes the canonical NaN (0x7ff8000000000000); -0 must hash like 0.
      view.setFloat64(0, number === 0 ? 0 : number, true);
      return murmur3Hash(new Uint8Array(view.buffer));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Applying transforms.

const MICROS_PER_HOUR = 3_600_000_000n;
const MICROS_PER_DAY = 86_400_000_000n;

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

function positiveMod(a: bigint, b: bigint): bigint {
  return ((a % b) + b) % b;
}

function wrongValue(type: IcebergType, value: unknown): IcebergError {
  const shown = typeof value === "bigint" ? `${value}n` : String(value);
  return new IcebergError("DATA_INVALID", `${typeToString(type)} value has the wrong JS type: ${shown}`);
}

function expectBigInt(type: IcebergType, value: unknown): bigint {
  if (typeof value !== "bigint") throw wrongValue(type, value);
  return value;
}

function expectNumber(type: IcebergType, value: unknown): number {
  if (typeof value !== "number") throw wrongValue(type, value);
  return value;
}

function expectString(type: IcebergType, value: unknown): string {
  if (typeof value !== "string") throw wrongValue(type, value);
  return value;
}

function expectBytes(type: IcebergType, value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw wrongValue(type, value);
  return value;
}

/** µs since the epoch of a date (days) or timestamp (µs or ns) value. */
function toMicros(type: PrimitiveType, value: PrimitiveValue): bigint {
  if (type.kind === "date") return BigInt(expectIntValue(type, value)) * MICROS_PER_DAY;
  const raw = expectLongValue(type, value);
  return type.kind.endsWith("_ns") ? floorDiv(raw, 1000n) : raw;
}

function epochDays(type: PrimitiveType, value: PrimitiveValue): number {
  if (type.kind === "date") return expectIntValue(type, value);
  return Number(floorDiv(toMicros(type, value), MICROS_PER_DAY));
}

/**
 * Applies `transform` to one value of `sourceType` (in the representation `PrimitiveValue` documents);
 * null stays null. The result is in the representation of `resultType(transform, sourceType)`.
 */
export function applyTransform(
  transform: Transform,
  sourceType: IcebergType,
  value: PrimitiveValue | null | undefined,
): PrimitiveValue | null {
  if (transform.kind === "unknown") {
    throw new IcebergError(
      "FEATURE_UNSUPPORTED",
      `cannot compute partition values for unknown transform '${transform.text}'; replace it in the spec`,
    );
  }
  resultType(transform, sourceType); // rejects a transform the source type does not allow
  if (value === null || value === undefined || transform.kind === "void") return null;
  const type = sourceType as PrimitiveType;
  switch (transform.kind) {
    case "identity":
      return value;
    case "bucket":
      return (hashValue(type, value) & 0x7fffffff) % transform.numBuckets;
    case "truncate":
      return truncateValue(type, transform.width, value);
    case "year":
      return civilFromDays(epochDays(type, value)).year - 1970;
    case "month": {
      const { year: y, month: m } = civilFromDays(epochDays(type, value));
      return (y - 1970) * 12 + (m - 1);
    }
    case "day":
      return epochDays(type, value);
    case "hour":
      return Number(floorDiv(toMicros(type, value), MICROS_PER_HOUR));
  }
}

function truncateValue(type: PrimitiveType, width: number, value: PrimitiveValue): PrimitiveValue {
  switch (type.kind) {
    case "int": {
      const v = expectIntValue(type, value);
      return v - (((v % width) + width) % width);
    }
    case "long": {
      const v = expectLongValue(type, value);
      return v - positiveMod(v, BigInt(width));
    }
    case "decimal": {
      // The width applies to the unscaled value: W=50 at scale 2 truncates to multiples of 0.50.
      const v = expectBigInt(type, value);
      return v - positiveMod(v, BigInt(width));
    }
    case "string": {
      const text = expectString(type, value);
      const codePoints = Array.from(text);
      return codePoints.length <= width ? text : codePoints.slice(0, width).join("");
    }
    case "binary":
      return expectBytes(type, value).slice(0, width);
    default:
      throw wrongValue(type, value);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Human-readable partition values, as the reference implementation writes them into data file paths.

/**
 * The text of a transformed value in a partition path: `2017-11-16` for day, `2017-11-16-22` for hour,
 * `2017-11` for month, base64 for binary, `null` for null. `sourceType` is the column's type.
 */
export function toHumanString(
  transform: Transform,
  sourceType: IcebergType,
  transformed: PrimitiveValue | null,
): string {
  if (transformed === null) return "null";
  switch (transform.kind) {
    case "year":
      return formatYear(1970 + expectNumber(sourceType, transformed));
    case "month": {
      const months = expectNumber(sourceType, transformed);
      const y = 1970 + Math.floor(months / 12);
      return `${formatYear(y)}-${String((((months % 12) + 12) % 12) + 1).padStart(2, "0")}`;
    }
    case "day":
      return daysToIsoDate(expectNumber(sourceType, transformed));
    case "hour": {
      const hours = expectNumber(sourceType, transformed);
      const days = Math.floor(hours / 24);
      return `${daysToIsoDate(days)}-${String(hours - days * 24).padStart(2, "0")}`;
    }
    case "bucket":
      return String(transformed);
    case "unknown":
      return String(transformed);
    default:
      return valueToHumanString(resultType(transform, sourceType) as PrimitiveType, transformed);
  }
}

function formatYear(y: number): string {
  if (y < 0) return `-${String(-y).padStart(4, "0")}`;
  return String(y).padStart(4, "0");
}

/** The human form of an untransformed value (identity/truncate partitions). */
export function valueToHumanString(type: PrimitiveType, value: PrimitiveValue): string {
  switch (type.kind) {
    case "date":
      return daysToIsoDate(expectIntValue(type, value));
    case "time":
      return humanTime(expectLongValue(type, value));
    case "timestamp":
    case "timestamptz":
    case "timestamp_ns":
    case "timestamptz_ns": {
      const ns = type.kind.endsWith("_ns");
      const iso = timestampToIso(expectLongValue(type, value), ns ? "ns" : "us", false);
      const trimmed = trimFraction(iso);
      return type.kind.startsWith("timestamptz") ? `${trimmed}+00:00` : trimmed;
    }
    case "decimal":
      return decimalToString(expectBigInt(type, value), type.scale);
    case "fixed":
    case "binary":
      return Buffer.from(expectBytes(type, value)).toString("base64");
    default:
      return value instanceof Uint8Array ? bytesToHex(value) : String(value);
  }
}

/** ISO local date-time with the fraction shortened as java.time prints it (no trailing zeros). */
function trimFraction(iso: string): string {
  // timestampToIso always writes a fraction, so trailing zeros can only be fraction digits.
  return iso.replace(/0+$/, "").replace(/\.$/, "");
}

/** java.time's LocalTime text: `hh:mm`, then `:ss` and a 3/6/9-digit fraction only when non-zero. */
function humanTime(micros: bigint): string {
  const seconds = micros / 1_000_000n;
  const fraction = micros % 1_000_000n;
  const hh = String(seconds / 3600n).padStart(2, "0");
  const mm = String((seconds / 60n) % 60n).padStart(2, "0");
  const ss = seconds % 60n;
  let text = `${hh}:${mm}`;
  if (ss === 0n && fraction === 0n) return text;
  text += `:${String(ss).padStart(2, "0")}`;
  if (fraction === 0n) return text;
  return fraction % 1000n === 0n
    ? `${text}.${String(fraction / 1000n).padStart(3, "0")}`
    : `${text}.${String(fraction).padStart(6, "0")}`;
}
