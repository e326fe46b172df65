/**
 * The canonical form of a row that `floe verify` hashes on both sides. A value is first brought into
 * Floe's value representation (src/iceberg/parquet-writer.ts header) — PostgreSQL's through the
 * pipeline's own conversions (capture's type mapping, then src/replicate/values.ts), Iceberg's as the
 * reader returns it — and then encoded here under the Iceberg column's type, so the same value reads
 * the same whichever side it came from:
 *
 * - integers of every width, dates, times and timestamps: their integer (int and long agree, so a
 *   promoted column still matches); decimals: the unscaled integer at the column's scale, whether it
 *   arrives as a bigint or as the reader's `"12.50"`;
 * - `float`: the float32 the column stores (PostgreSQL's `real` text, read as a double, is rounded the
 *   way Parquet rounds it); `double`: the float64 bits. NaN is one value and -0 equals 0, as SQL's
 *   equality says (PostgreSQL: `'NaN' = 'NaN'` and `-0 = 0` are true);
 * - strings as they are (json/jsonb as PostgreSQL prints them, which is what the pipeline stores), uuids
 *   in lower case, binary as hex, lists and structs element by element, maps sorted by key.
 *
 * Every encoded value carries a type tag and its length, so the concatenation of a row's values is
 * unambiguous (`["ab","c"]` and `["a","bc"]` differ, NULL differs from `"N"`). A value whose encoding is
 * longer than {@link LONG_PART} characters is replaced by its SHA-256, which keeps per-row state small
 * (roll-forward keeps the parts of changed rows) without changing what compares equal.
 */
import { createHash } from "node:crypto";
import { decimalFromString, decimalToString, timestampToIso } from "../iceberg/conversions.ts";
import type { IcebergType, NestedField } from "../iceberg/types.ts";
import { encodeKey } from "../sink/key-index.ts";

/** One compared column: its name on both sides and the Iceberg type values are encoded under. */
export interface HashColumn {
  name: string;
  type: IcebergType;
}

/** Encodings longer than this are replaced by their hash (see the module comment). */
export const LONG_PART = 64;

const floatView = new DataView(new ArrayBuffer(8));

function tagged(tag: string, body: string): string {
  return `${tag}${body.length}:${body}`;
}

function floatBits(value: number, single: boolean): string {
  // SQL equality: every NaN is the same value, and -0 = 0.
  if (Number.isNaN(value)) return "nan";
  const number = value === 0 ? 0 : value;
  if (single) {
    floatView.setFloat32(0, number);
    return floatView.getUint32(0).toString(16);
  }
  floatView.setFloat64(0, number);
  return floatView.getBigUint64(0).toString(16);
}

function unscaledDecimal(value: unknown, scale: number): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "number") return decimalFromString(value.toFixed(scale), scale);
  return decimalFromString(String(value), scale);
}

function bytesOf(value: unknown): Buffer {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === "string") return Buffer.from(value, "base64");
  return Buffer.from(String(value));
}

/** The canonical encoding of one value of an Iceberg type (Floe's value representation in, text out). */
export function canonicalValue(type: IcebergType, value: unknown): string {
  if (value === null || value === undefined) return "N";
  switch (type.kind) {
    case "boolean":
      return value === true || value === "true" || value === "t" ? "T" : "F";
    case "int":
    case "long":
    case "date":
    case "time":
    case "timestamp":
    case "timestamptz":
    case "timestamp_ns":
    case "timestamptz_ns":
      return tagged("I", BigInt(value as bigint | number | string).toString());
    case "float":
      return tagged("F", floatBits(Math.fround(Number(value)), true));
    case "double":
      return tagged("D", floatBits(Number(value), false));
    case "decimal":
      return tagged("M", unscaledDecimal(value, type.scale).toString());
    case "string":
      return tagged("S", typeof value === "object" ? JSON.stringify(value) : String(value));
    case "uuid":
      return tagged("U", String(value).toLowerCase());
    case "binary":
    case "fixed":
      return tagged("B", bytesOf(value).toString("hex"));
    case "list": {
      const items = Array.isArray(value) ? value : [];
      return tagged("L", items.map((item: unknown) => canonicalValue(type.element, item)).join(""));
    }
    case "struct": {
      const struct = value as Record<string, unknown>;
      return tagged("R", type.fields.map((field) => canonicalValue(field.type, struct[field.name])).join(""));
    }
    case "map": {
      const entries: Array<[unknown, unknown]> =
        value instanceof Map ? [...value.entries()] : Object.entries(value as Record<string, unknown>);
      const encoded = entries
        .map(([k, v]) => canonicalValue(type.key, k) + canonicalValue(type.value, v))
        .sort();
      return tagged("P", encoded.join(""));
    }
  }
}

/** One column's part of the row encoding: the canonical value, or its hash when that is long. */
export function columnPart(type: IcebergType, value: unknown): string {
  const encoded = canonicalValue(type, value);
  if (encoded.length <= LONG_PART) return encoded;
  return `#${createHash("sha256").update(encoded).digest("hex")}`;
}

/** The parts of a row, one per compared column, in column order. */
export function rowParts(columns: readonly HashColumn[], row: Record<string, unknown>): string[] {
  return columns.map((column) => columnPart(column.type, row[column.name]));
}

/** A row's hash: the first 128 bits of SHA-256 over its parts, as 32 hex digits. */
export function rowHash(parts: readonly string[]): string {
  return createHash("sha256").update(parts.join("")).digest("hex").slice(0, 32);
}

const DIGEST_MODULUS = 1n << 128n;

/**
 * Adds `count` copies of a row hash to an order-independent digest: the sum of the row hashes mod 2^128.
 * Unlike XOR, a sum keeps duplicate rows (two equal rows do not cancel out).
 */
export function addToDigest(digest: bigint, hash: string, count = 1): bigint {
  const value = BigInt(`0x${hash}`) * BigInt(count);
  return (((digest + value) % DIGEST_MODULUS) + DIGEST_MODULUS) % DIGEST_MODULUS;
}

export function formatDigest(digest: bigint): string {
  return digest.toString(16).padStart(32, "0");
}

/**
 * The key of a row as the sink's key index writes it (src/sink/key-index.ts `encodeKey`): one canonical
 * JSON array of the key columns, identical for a PostgreSQL row and the Iceberg row of the same key.
 */
export function keyText(keyFields: readonly NestedField[], row: Record<string, unknown>): string {
  return encodeKey(keyFields, row);
}

/** `id=42` or `tenant="a", id=7`: a key for people, from {@link keyText}'s encoding. */
export function displayKey(keyFields: readonly NestedField[], key: string): string {
  let parts: unknown[];
  try {
    parts = JSON.parse(key) as unknown[];
  } catch {
    return key;
  }
  return keyFields
    .map((field, index) => {
      const part = parts[index];
      if (part === null || part === undefined) return `${field.name}=NULL`;
      const quoted = field.type.kind === "string" || field.type.kind === "uuid";
      return `${field.name}=${quoted ? JSON.stringify(part) : String(part)}`;
    })
    .join(", ");
}

const DISPLAY_LENGTH = 60;

function shorten(text: string): string {
  return text.length <= DISPLAY_LENGTH ? text : `${text.slice(0, DISPLAY_LENGTH - 1)}…`;
}

function jsonOf(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === "bigint") return v.toString();
    if (v instanceof Uint8Array) return `\\x${Buffer.from(v).toString("hex")}`;
    if (v instanceof Map) return Object.fromEntries(v);
    return v;
  });
}

/** A short human form of a value for difference reports (timestamps as ISO text, bytes as hex). */
export function displayValue(type: IcebergType, value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  try {
    switch (type.kind) {
      case "timestamp":
      case "timestamptz":
        return timestampToIso(BigInt(value as bigint), "us", type.kind === "timestamptz");
      case "timestamp_ns":
      case "timestamptz_ns":
        return timestampToIso(BigInt(value as bigint), "ns", type.kind === "timestamptz_ns");
      case "date":
        return new Date(Number(value) * 86_400_000).toISOString().slice(0, 10);
      case "decimal":
        return typeof value === "bigint" ? decimalToString(value, type.scale) : String(value);
      case "binary":
      case "fixed":
        return shorten(`\\x${bytesOf(value).toString("hex")}`);
      case "string":
      case "uuid":
        return shorten(JSON.stringify(String(value)));
      case "list":
      case "struct":
      case "map":
        return shorten(jsonOf(value));
      default:
        return shorten(String(value));
    }
  } catch {
    return shorten(jsonOf(value));
  }
}
