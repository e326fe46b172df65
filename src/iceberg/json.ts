/**
 * JSON for Iceberg metadata without losing 64-bit integers. Snapshot ids are random 63-bit longs that
 * `JSON.parse` would round; we parse with lossless-json, turning integers beyond 2^53 into `bigint`,
 * and write bigints back as plain digits.
 */
import { isInteger, isSafeNumber, parse, stringify } from "lossless-json";
import { IcebergError } from "./errors.ts";

function parseNumber(text: string): number | bigint {
  if (isSafeNumber(text)) return Number(text);
  if (isInteger(text)) return BigInt(text);
  return Number(text);
}

/** Parses JSON; `what` names the document in the error (e.g. a metadata file's location). */
export function parseJson(text: string, what: string): unknown {
  try {
    return parse(text, null, parseNumber);
  } catch (error) {
    throw new IcebergError("DATA_INVALID", `${what} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

export function stringifyJson(value: unknown, indent?: number): string {
  const text = stringify(value, undefined, indent);
  if (text === undefined) throw new IcebergError("DATA_INVALID", "value cannot be serialized to JSON");
  return text;
}

/** A 64-bit id or counter read from JSON, where it arrives as number or bigint. */
export function toBigInt(value: unknown, what: string): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  throw new IcebergError("DATA_INVALID", `${what} must be an integer, got ${JSON.stringify(String(value))}`);
}

/** A JSON number that must fit a JS number exactly (timestamps in ms, ids < 2^31). */
export function toSafeInt(value: unknown, what: string): number {
  if (typeof value === "number" && Number.isInteger(value)) return value;
  if (
    typeof value === "bigint" &&
    value <= BigInt(Number.MAX_SAFE_INTEGER) &&
    value >= BigInt(Number.MIN_SAFE_INTEGER)
  ) {
    return Number(value);
  }
  throw new IcebergError("DATA_INVALID", `${what} must be an integer, got ${JSON.stringify(String(value))}`);
}

export function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new IcebergError("DATA_INVALID", `${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

export function asArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new IcebergError("DATA_INVALID", `${what} must be a JSON array`);
  return value;
}

export function asString(value: unknown, what: string): string {
  if (typeof value !== "string") throw new IcebergError("DATA_INVALID", `${what} must be a string`);
  return value;
}

export function asStringMap(value: unknown, what: string): Record<string, string> {
  const obj = asObject(value, what);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = typeof v === "string" ? v : String(v);
  return out;
}
