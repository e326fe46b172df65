/**
 * Single-value serialization (spec Appendix D): the binary form used for manifest lower/upper bounds, the
 * JSON form used for defaults and partition values, and the truncation of string/binary bounds.
 * Also the date/time text forms those encodings and partition paths need.
 */
import { IcebergError } from "./errors.ts";
import type { IcebergType, PrimitiveType } from "./types.ts";
import { typeToString } from "./types.ts";

/**
 * How Floe holds one primitive value in memory: int/date → number (days for date); long, time, timestamps
 * → bigint (µs, or ns for the `_ns` types); float/double → number; decimal → bigint unscaled (the scale is
 * the type's); string/uuid → string; binary/fixed → Uint8Array; boolean → boolean.
 */
export type PrimitiveValue = boolean | number | bigint | string | Uint8Array;

const MICROS_PER_DAY = 86_400_000_000n;
const NANOS_PER_DAY = 86_400_000_000_000n;
const INT_MIN = -2147483648;
const INT_MAX = 2147483647;
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

function invalid(message: string): IcebergError {
  return new IcebergError("DATA_INVALID", message);
}

// ---------------------------------------------------------------------------------------------------------
// Checked accessors: values come from capture/JSON, so a wrong JS type is a data error, not a crash.

export function expectIntValue(type: PrimitiveType, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < INT_MIN || value > INT_MAX) {
    throw invalid(`${typeToString(type)} value must be a 32-bit integer number, got ${describe(value)}`);
  }
  return value;
}

export function expectLongValue(type: PrimitiveType, value: unknown): bigint {
  // Accepting safe integer numbers keeps callers that read longs from JSON simple.
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value !== "bigint" || value < LONG_MIN || value > LONG_MAX) {
    throw invalid(`${typeToString(type)} value must be a 64-bit bigint, got ${describe(value)}`);
  }
  return value;
}

function expectNumber(type: PrimitiveType, value: unknown): number {
  if (typeof value !== "number") {
    throw invalid(`${typeToString(type)} value must be a number, got ${describe(value)}`);
  }
  return value;
}

function expectString(type: PrimitiveType, value: unknown): string {
  if (typeof value !== "string") {
    throw invalid(`${typeToString(type)} value must be a string, got ${describe(value)}`);
  }
  return value;
}

function expectBytes(type: PrimitiveType, value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw invalid(`${typeToString(type)} value must be a Uint8Array, got ${describe(value)}`);
  }
  if (type.kind === "fixed" && value.length !== type.length) {
    throw invalid(`${typeToString(type)} value must have ${type.length} bytes, got ${value.length}`);
  }
  return value;
}

function describe(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Uint8Array) return `Uint8Array(${value.length})`;
  if (typeof value === "string") return JSON.stringify(value);
  return String(value);
}

// ---------------------------------------------------------------------------------------------------------
// Decimal, uuid and hex helpers shared by the binary and JSON forms and by the bucket hash.

/** The unscaled value as two's-complement big-endian in the fewest bytes that hold it (at least one). */
export function decimalToMinBytes(unscaled: bigint): Uint8Array {
  let length = 1;
  while (unscaled < -(1n << BigInt(8 * length - 1)) || unscaled >= 1n << BigInt(8 * length - 1)) length++;
  const bytes = new Uint8Array(length);
  let rest = BigInt.asUintN(8 * length, unscaled);
  for (let i = length - 1; i >= 0; i--) {
    bytes[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return bytes;
}

/** Reads two's-complement big-endian bytes of any length as a signed integer. */
export function decimalFromBytes(bytes: Uint8Array): bigint {
  if (bytes.length === 0) throw invalid("a decimal needs at least one byte");
  let result = 0n;
  for (const byte of bytes) result = (result << 8n) | BigInt(byte);
  return BigInt.asIntN(8 * bytes.length, result);
}

/** `unscaled` × 10^-scale as the spec's decimal string: `14.20` for (1420, 2). */
export function decimalToString(unscaled: bigint, scale: number): string {
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString();
  if (scale === 0) return (negative ? "-" : "") + digits;
  const padded = digits.padStart(scale + 1, "0");
  const text = `${padded.slice(0, padded.length - scale)}.${padded.slice(padded.length - scale)}`;
  return (negative ? "-" : "") + text;
}

/** Parses `14.2`, `-0.05` or `2E+20` as an unscaled value at `scale`; digits beyond the scale are an error. */
export function decimalFromString(text: string, scale: number): bigint {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (!match || (match[2] === "" && (match[3] ?? "") === "")) {
    throw invalid(`'${text}' is not a decimal number`);
  }
  const digits = `${match[2]}${match[3] ?? ""}`;
  // The value is digits × 10^-(fraction digits - exponent); shift that to the wanted scale.
  const valueScale = (match[3] ?? "").length - Number(match[4] ?? "0");
  let unscaled = BigInt(digits);
  if (valueScale <= scale) {
    unscaled *= 10n ** BigInt(scale - valueScale);
  } else {
    const divisor = 10n ** BigInt(valueScale - scale);
    if (unscaled % divisor !== 0n) {
      throw invalid(`'${text}' has more than ${scale} digits after the decimal point`);
    }
    unscaled /= divisor;
  }
  return match[1] === "-" ? -unscaled : unscaled;
}

function checkDecimalPrecision(type: { precision: number; scale: number }, unscaled: bigint): void {
  const magnitude = unscaled < 0n ? -unscaled : unscaled;
  if (magnitude >= 10n ** BigInt(type.precision)) {
    throw invalid(
      `${decimalToString(unscaled, type.scale)} does not fit decimal(${type.precision},${type.scale})`,
    );
  }
}

const uuidPattern = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** The 16 big-endian bytes of a uuid string (Appendix B, note 4). */
export function uuidToBytes(uuid: string): Uint8Array {
  if (!uuidPattern.test(uuid)) throw invalid(`'${uuid}' is not a uuid`);
  return hexToBytes(uuid.replaceAll("-", ""));
}

export function uuidFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw invalid(`a uuid has 16 bytes, got ${bytes.length}`);
  const hex = bytesToHex(bytes);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function bytesToHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw invalid(`'${hex}' is not a hex string`);
  return new Uint8Array(Buffer.from(hex, "hex"));
}

// ---------------------------------------------------------------------------------------------------------
// Dates and times. Days and µs since the epoch are the stored forms; text is for JSON and partition paths.

function pad(value: number | bigint, width: number): string {
  return value.toString().padStart(width, "0");
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** Civil (year, month 1-12, day) of a day count since 1970-01-01, proleptic Gregorian. */
export function civilFromDays(days: number): { year: number; month: number; day: number } {
  const date = new Date(days * 86_400_000);
  if (Number.isNaN(date.getTime())) throw invalid(`date ${days} days from 1970-01-01 is out of range`);
  return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() };
}

function daysFromCivil(year: number, month: number, day: number, text: string): number {
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  date.setUTCFullYear(year, month - 1, day);
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    throw invalid(`'${text}' is not a valid date`);
  }
  return Math.round(date.getTime() / 86_400_000);
}

function formatYear(year: number): string {
  if (year < 0) return `-${pad(-year, 4)}`;
  return year > 9999 ? `+${year}` : pad(year, 4);
}

/** `2017-11-16` for 17486. */
export function daysToIsoDate(days: number): string {
  const { year, month, day } = civilFromDays(days);
  return `${formatYear(year)}-${pad(month, 2)}-${pad(day, 2)}`;
}

export function isoDateToDays(text: string): number {
  const match = /^([+-]?\d{4,})-(\d{2})-(\d{2})$/.exec(text);
  if (!match) throw invalid(`'${text}' is not an ISO-8601 date (yyyy-mm-dd)`);
  return daysFromCivil(Number(match[1]), Number(match[2]), Number(match[3]), text);
}

/** `hh:mm:ss` and a fraction of `fractionDigits` digits (6 for µs, 9 for ns); `sub` is in 10^-digits s. */
function formatTimeOfDay(sub: bigint, fractionDigits: number): string {
  const unit = 10n ** BigInt(fractionDigits);
  const seconds = sub / unit;
  const fraction = sub % unit;
  const hh = seconds / 3600n;
  const mm = (seconds / 60n) % 60n;
  const ss = seconds % 60n;
  return `${pad(hh, 2)}:${pad(mm, 2)}:${pad(ss, 2)}.${pad(fraction, fractionDigits)}`;
}

const timePattern = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?$/;

function parseTimeOfDay(text: string, fractionDigits: number, whole: string): bigint {
  const match = timePattern.exec(text);
  if (!match) throw invalid(`'${whole}' is not an ISO-8601 time (hh:mm:ss.ffffff)`);
  const [hh, mm, ss] = [Number(match[1]), Number(match[2]), Number(match[3] ?? "0")];
  const fraction = match[4] ?? "";
  if (hh > 23 || mm > 59 || ss > 59) throw invalid(`'${whole}' is not a valid time of day`);
  if (fraction.length > fractionDigits && /[1-9]/.test(fraction.slice(fractionDigits))) {
    throw invalid(`'${whole}' has more precision than ${fractionDigits} fraction digits`);
  }
  const unit = 10n ** BigInt(fractionDigits);
  const sub = BigInt(fraction.slice(0, fractionDigits).padEnd(fractionDigits, "0"));
  return BigInt(hh * 3600 + mm * 60 + ss) * unit + sub;
}

/** `22:31:08.123456` for µs from midnight. */
export function microsToIsoTime(micros: bigint): string {
  if (micros < 0n || micros >= MICROS_PER_DAY) throw invalid(`time ${micros} µs is not within one day`);
  return formatTimeOfDay(micros, 6);
}

export function isoTimeToMicros(text: string): bigint {
  return parseTimeOfDay(text, 6, text);
}

/**
 * `2017-11-16T22:31:08.123456` for µs (or ns with `precision: "ns"`) since the epoch; with `withZone`
 * the spec's required `+00:00` suffix is appended.
 */
export function timestampToIso(value: bigint, precision: "us" | "ns", withZone: boolean): string {
  const perDay = precision === "us" ? MICROS_PER_DAY : NANOS_PER_DAY;
  const days = floorDiv(value, perDay);
  const ofDay = value - days * perDay;
  const text = `${daysToIsoDate(Number(days))}T${formatTimeOfDay(ofDay, precision === "us" ? 6 : 9)}`;
  return withZone ? `${text}+00:00` : text;
}

/**
 * Parses an ISO-8601 timestamp; a zone offset (`Z`, `+00:00`, `-08:00`) is required when `withZone` and
 * refused otherwise, as the spec's JSON form demands.
 */
export function isoToTimestamp(text: string, precision: "us" | "ns", withZone: boolean): bigint {
  const match = /^([+-]?\d{4,}-\d{2}-\d{2})T([0-9:.]+)(Z|[+-]\d{2}:\d{2})?$/.exec(text);
  if (!match) throw invalid(`'${text}' is not an ISO-8601 timestamp`);
  const offset = match[3];
  if (withZone && offset === undefined) throw invalid(`'${text}' needs a zone offset such as +00:00`);
  if (!withZone && offset !== undefined) throw invalid(`'${text}' must not have a zone offset`);
  const digits = precision === "us" ? 6 : 9;
  const unit = 10n ** BigInt(digits);
  let value = BigInt(isoDateToDays(match[1]!)) * 86_400n * unit + parseTimeOfDay(match[2]!, digits, text);
  if (offset !== undefined && offset !== "Z") {
    const sign = offset.startsWith("-") ? -1n : 1n;
    const minutes = BigInt(Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
    value -= sign * minutes * 60n * unit;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------------
// Binary single-value serialization (Appendix D).

/** Encodes a value as the spec's binary single-value form, the form of manifest lower/upper bounds. */
export function toBinary(type: PrimitiveType, value: PrimitiveValue): Uint8Array {
  switch (type.kind) {
    case "boolean":
      if (typeof value !== "boolean")
        throw invalid(`boolean value must be a boolean, got ${describe(value)}`);
      return Uint8Array.of(value ? 1 : 0);
    case "int":
    case "date": {
      const view = new DataView(new ArrayBuffer(4));
      view.setInt32(0, expectIntValue(type, value), true);
      return new Uint8Array(view.buffer);
    }
    case "long":
    case "time":
    case "timestamp":
    case "timestamptz":
    case "timestamp_ns":
    case "timestamptz_ns": {
      const view = new DataView(new ArrayBuffer(8));
      view.setBigInt64(0, expectLongValue(type, value), true);
      return new Uint8Array(view.buffer);
    }
    case "float": {
      const view = new DataView(new ArrayBuffer(4));
      view.setFloat32(0, expectNumber(type, value), true);
      return new Uint8Array(view.buffer);
    }
    case "double": {
      const view = new DataView(new ArrayBuffer(8));
      view.setFloat64(0, expectNumber(type, value), true);
      return new Uint8Array(view.buffer);
    }
    case "string":
      return new TextEncoder().encode(expectString(type, value));
    case "uuid":
      return uuidToBytes(expectString(type, value));
    case "fixed":
    case "binary":
      return expectBytes(type, value).slice();
    case "decimal": {
      const unscaled = expectLongOrDecimal(type, value);
      checkDecimalPrecision(type, unscaled);
      return decimalToMinBytes(unscaled);
    }
  }
}

function expectLongOrDecimal(type: PrimitiveType, value: unknown): bigint {
  if (typeof value !== "bigint") {
    throw invalid(`${typeToString(type)} value must be a bigint unscaled value, got ${describe(value)}`);
  }
  return value;
}

/**
 * Decodes the binary single-value form. Bounds are not rewritten when a column's type is promoted, so the
 * length tells the type at write time (spec "Schema Evolution"): 4-byte long → int, 4-byte double → float,
 * 4-byte timestamp → date; the result is always in the current type's representation.
 */
export function fromBinary(type: PrimitiveType, bytes: Uint8Array): PrimitiveValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const needLength = (...lengths: number[]) => {
    if (!lengths.includes(bytes.length)) {
      throw invalid(
        `${typeToString(type)} bound must have ${lengths.join(" or ")} bytes, got ${bytes.length}`,
      );
    }
  };
  switch (type.kind) {
    case "boolean":
      needLength(1);
      return bytes[0] !== 0;
    case "int":
    case "date":
      needLength(4);
      return view.getInt32(0, true);
    case "long":
      needLength(4, 8);
      return bytes.length === 4 ? BigInt(view.getInt32(0, true)) : view.getBigInt64(0, true);
    case "time":
      needLength(8);
      return view.getBigInt64(0, true);
    case "timestamp":
    case "timestamptz":
    case "timestamp_ns":
    case "timestamptz_ns": {
      needLength(4, 8);
      if (bytes.length === 8) return view.getBigInt64(0, true);
      const perDay = type.kind.endsWith("_ns") ? NANOS_PER_DAY : MICROS_PER_DAY;
      return BigInt(view.getInt32(0, true)) * perDay;
    }
    case "float":
      needLength(4);
      return view.getFloat32(0, true);
    case "double":
      needLength(4, 8);
      return bytes.length === 4 ? view.getFloat32(0, true) : view.getFloat64(0, true);
    case "string":
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    case "uuid":
      return uuidFromBytes(bytes);
    case "fixed":
      needLength(type.length);
      return bytes.slice();
    case "binary":
      return bytes.slice();
    case "decimal":
      return decimalFromBytes(bytes);
  }
}

// ---------------------------------------------------------------------------------------------------------
// JSON single-value serialization (Appendix D).

/**
 * Encodes a value as the spec's JSON single-value form. Nested values: a struct is a JS object keyed by
 * field name (written keyed by field id), a list an array, a map a JS `Map`. A long outside the safe
 * integer range stays a bigint, because `JSON.parse`/`stringify` cannot carry it as a number; the metadata
 * writer must print it as a bare JSON number.
 */
export function toJsonValue(type: IcebergType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (type.kind) {
    case "struct": {
      if (typeof value !== "object") throw invalid(`struct value must be an object, got ${describe(value)}`);
      const record = value as Record<string, unknown>;
      const json: Record<string, unknown> = {};
      for (const field of type.fields) {
        if (record[field.name] !== undefined)
          json[String(field.id)] = toJsonValue(field.type, record[field.name]);
      }
      return json;
    }
    case "list":
      if (!Array.isArray(value)) throw invalid(`list value must be an array, got ${describe(value)}`);
      return value.map((element) => toJsonValue(type.element, element));
    case "map": {
      if (!(value instanceof Map)) throw invalid(`map value must be a Map, got ${describe(value)}`);
      const keys: unknown[] = [];
      const values: unknown[] = [];
      for (const [k, v] of value) {
        keys.push(toJsonValue(type.key, k));
        values.push(toJsonValue(type.value, v));
      }
      return { keys, values };
    }
    case "boolean":
      if (typeof value !== "boolean")
        throw invalid(`boolean value must be a boolean, got ${describe(value)}`);
      return value;
    case "int":
      return expectIntValue(type, value);
    case "long": {
      const long = expectLongValue(type, value);
      return long >= BigInt(Number.MIN_SAFE_INTEGER) && long <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(long)
        : long;
    }
    case "float":
    case "double": {
      const number = expectNumber(type, value);
      if (!Number.isFinite(number)) throw invalid(`${type.kind} ${number} has no JSON single-value form`);
      return number;
    }
    case "decimal": {
      const unscaled = expectLongOrDecimal(type, value);
      checkDecimalPrecision(type, unscaled);
      return decimalToString(unscaled, type.scale);
    }
    case "date":
      return daysToIsoDate(expectIntValue(type, value));
    case "time":
      return microsToIsoTime(expectLongValue(type, value));
    case "timestamp":
    case "timestamptz":
    case "timestamp_ns":
    case "timestamptz_ns":
      return timestampToIso(
        expectLongValue(type, value),
        type.kind.endsWith("_ns") ? "ns" : "us",
        type.kind.startsWith("timestamptz"),
      );
    case "string":
      return expectString(type, value);
    case "uuid":
      return uuidFromBytes(uuidToBytes(expectString(type, value)));
    case "fixed":
    case "binary":
      return bytesToHex(expectBytes(type, value));
  }
}

/** Decodes the JSON single-value form into Floe's in-memory representation (see `toJsonValue`). */
export function fromJsonValue(type: IcebergType, json: unknown): unknown {
  if (json === null || json === undefined) return null;
  const fail = () => invalid(`${JSON.stringify(json)} is not a JSON ${typeToString(type)} value`);
  switch (type.kind) {
    case "struct": {
      if (typeof json !== "object" || Array.isArray(json)) throw fail();
      const record = json as Record<string, unknown>;
      const value: Record<string, unknown> = {};
      for (const field of type.fields) {
        const fieldJson = record[String(field.id)];
        if (fieldJson !== undefined) value[field.name] = fromJsonValue(field.type, fieldJson);
      }
      return value;
    }
    case "list":
      if (!Array.isArray(json)) throw fail();
      return json.map((element) => fromJsonValue(type.element, element));
    case "map": {
      const obj = json as { keys?: unknown; values?: unknown };
      if (typeof json !== "object" || !Array.isArray(obj.keys) || !Array.isArray(obj.values)) throw fail();
      if (obj.keys.length !== obj.values.length) throw invalid("map JSON needs as many keys as values");
      const values = obj.values;
      return new Map(
        obj.keys.map((k, i) => [fromJsonValue(type.key, k), fromJsonValue(type.value, values[i])] as const),
      );
    }
    case "boolean":
      if (typeof json !== "boolean") throw fail();
      return json;
    case "int":
      return expectIntValue(type, json);
    case "long":
      return expectLongValue(type, json);
    case "float":
    case "double":
      if (typeof json !== "number") throw fail();
      return type.kind === "float" ? Math.fround(json) : json;
    case "decimal": {
      if (typeof json !== "string") throw fail();
      const unscaled = decimalFromString(json, type.scale);
      checkDecimalPrecision(type, unscaled);
      return unscaled;
    }
    case "date":
      if (typeof json !== "string") throw fail();
      return isoDateToDays(json);
    case "time": {
      if (typeof json !== "string") throw fail();
      const micros = isoTimeToMicros(json);
      return micros;
    }
    case "timestamp":
    case "timestamptz":
    case "timestamp_ns":
    case "timestamptz_ns":
      if (typeof json !== "string") throw fail();
      return isoToTimestamp(
        json,
        type.kind.endsWith("_ns") ? "ns" : "us",
        type.kind.startsWith("timestamptz"),
      );
    case "string":
      if (typeof json !== "string") throw fail();
      return json;
    case "uuid":
      if (typeof json !== "string") throw fail();
      return uuidFromBytes(uuidToBytes(json));
    case "fixed":
    case "binary": {
      if (typeof json !== "string") throw fail();
      return expectBytes(type, hexToBytes(json));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Bound truncation, as Iceberg's `truncate(16)` metrics mode does for string and binary columns.

export const DEFAULT_BOUND_LENGTH = 16;

/** A lower bound for `value` of at most `length` code points: its prefix, which sorts at or before it. */
export function truncateStringLowerBound(value: string, length = DEFAULT_BOUND_LENGTH): string {
  checkBoundLength(length);
  const codePoints = Array.from(value);
  return codePoints.length <= length ? value : codePoints.slice(0, length).join("");
}

/**
 * An upper bound for `value` of at most `length` code points: the prefix with its last code point
 * incremented (carrying leftwards past U+10FFFF and skipping surrogates), or null when no such bound
 * exists, in which case the writer must store no upper bound.
 */
export function truncateStringUpperBound(value: string, length = DEFAULT_BOUND_LENGTH): string | null {
  checkBoundLength(length);
  const codePoints = Array.from(value, (c) => c.codePointAt(0)!);
  if (codePoints.length <= length) return value;
  for (let i = length - 1; i >= 0; i--) {
    const next = incrementCodePoint(codePoints[i]!);
    if (next !== null) return String.fromCodePoint(...codePoints.slice(0, i), next);
  }
  return null;
}

function incrementCodePoint(codePoint: number): number | null {
  if (codePoint === 0xd7ff) return 0xe000;
  if (codePoint === 0x10ffff) return null;
  return codePoint + 1;
}

export function truncateBinaryLowerBound(value: Uint8Array, length = DEFAULT_BOUND_LENGTH): Uint8Array {
  checkBoundLength(length);
  return value.slice(0, length);
}

/** Like the string form, on bytes: the prefix with its last non-0xff byte incremented, or null. */
export function truncateBinaryUpperBound(
  value: Uint8Array,
  length = DEFAULT_BOUND_LENGTH,
): Uint8Array | null {
  checkBoundLength(length);
  if (value.length <= length) return value.slice();
  for (let i = length - 1; i >= 0; i--) {
    if (value[i]! !== 0xff) {
      const bound = value.slice(0, i + 1);
      bound[i] = value[i]! + 1;
      return bound;
    }
  }
  return null;
}

function checkBoundLength(length: number): void {
  if (!Number.isInteger(length) || length <= 0) {
    throw invalid(`bound truncation length must be a positive integer, got ${length}`);
  }
}
