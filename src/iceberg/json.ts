/**
 * JSON for Iceberg metadata without losing 64-bit integers. Snapshot ids are random 63-bit longs that a
 * plain `JSON.parse` would round; integers beyond 2^53 are read as `bigint` and bigints are written back
 * as plain digits. Both directions run on the engine's native JSON (several times faster than a JS-level
 * parser on a metadata file of thousands of snapshots): digit runs that could be unsafe integers are
 * protected as marked strings before `JSON.parse` and turned into bigints after; bigints are written as
 * marked strings and the marks removed after `JSON.stringify`. The mark holds a NUL and a per-process
 * random nonce, so no string in a document can be taken for one.
 */
import { randomBytes } from "node:crypto";
import { IcebergError } from "./errors.ts";

const NONCE = randomBytes(8).toString("hex");
/** The prefix of a marked string, as a JS string (what `JSON.parse` yields and the replacer returns). */
const MARK = `\u0000floe-${NONCE}:`;
/** The same prefix as it appears inside JSON text (`JSON.stringify` escapes NUL as `\u0000`). */
const MARK_IN_TEXT = `\\u0000floe-${NONCE}:`;
/** A marked bigint (`…:123`) or raw fragment (`…:r7`) in `JSON.stringify` output, quotes included. */
const MARKED_VALUE = new RegExp(`"\\\\u0000floe-${NONCE}:(?:(-?\\d+)|r(\\d+))"`, "g");
/**
 * Integer tokens that may not fit a double exactly: 16+ digits, not part of a decimal or exponent.
 * (2^53 has 16 digits; shorter runs are always safe.) Runs inside strings match too and are skipped.
 */
const LONG_INTEGER = /(?<![\d.eE+-])-?\d{16,}(?![.eE\d])/g;

/**
 * The text with every long integer token outside strings replaced by a marked string, or undefined when
 * there is none (then `JSON.parse` is exact as it is). String state is tracked by counting unescaped
 * quotes between candidates, so the cost is one native scan plus work per candidate.
 */
function protectLongIntegers(text: string): string | undefined {
  let out: string[] | undefined;
  let copiedTo = 0;
  let inString = false;
  let quote = text.indexOf('"');
  LONG_INTEGER.lastIndex = 0;
  for (let match = LONG_INTEGER.exec(text); match !== null; match = LONG_INTEGER.exec(text)) {
    while (quote !== -1 && quote < match.index) {
      let backslashes = 0;
      while (text.charCodeAt(quote - 1 - backslashes) === 0x5c /* \ */) backslashes++;
      if (backslashes % 2 === 0) inString = !inString;
      quote = text.indexOf('"', quote + 1);
    }
    if (inString) continue;
    out ??= [];
    out.push(text.slice(copiedTo, match.index), `"${MARK_IN_TEXT}${match[0]}"`);
    copiedTo = match.index + match[0].length;
  }
  if (!out) return undefined;
  out.push(text.slice(copiedTo));
  return out.join("");
}

function integerOf(digits: string): number | bigint {
  const value = Number(digits);
  return Number.isSafeInteger(value) ? value : BigInt(digits);
}

/** Replaces marked strings by their integers, in place. */
function restoreLongIntegers(value: unknown): unknown {
  if (typeof value === "string") {
    return value.charCodeAt(0) === 0 && value.startsWith(MARK) ? integerOf(value.slice(MARK.length)) : value;
  }
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      if (typeof item === "object" || typeof item === "string") {
        const restored = restoreLongIntegers(item);
        if (restored !== item) value[i] = restored;
      }
    }
    return value;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const item = record[key];
    if (typeof item === "object" || typeof item === "string") {
      const restored = restoreLongIntegers(item);
      if (restored !== item) record[key] = restored;
    }
  }
  return value;
}

/**
 * Parses JSON; integers that fit a double exactly are numbers, larger ones bigints, other numbers
 * numbers. `what` names the document in the error (e.g. a metadata file's location).
 */
export function parseJson(text: string, what: string): unknown {
  try {
    const marked = protectLongIntegers(text);
    return marked === undefined ? JSON.parse(text) : restoreLongIntegers(JSON.parse(marked));
  } catch (error) {
    throw new IcebergError("DATA_INVALID", `${what} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * Already-serialized JSON that {@link stringifyJson} writes verbatim where it stands in a value (e.g. a
 * snapshot serialized once and reused by every later metadata file). With indentation the text must
 * already be indented for the place it lands.
 */
export class RawJson {
  constructor(readonly text: string) {}
}

/** `JSON.stringify` with bigints written as digits and {@link RawJson} spliced in. */
export function stringifyJson(value: unknown, indent?: number): string {
  let marked = false;
  const raw: string[] = [];
  const text = JSON.stringify(
    value,
    (_key, item: unknown) => {
      if (typeof item === "bigint") {
        marked = true;
        return `${MARK}${item}`;
      }
      if (item instanceof RawJson) {
        marked = true;
        raw.push(item.text);
        return `${MARK}r${raw.length - 1}`;
      }
      return item;
    },
    indent,
  ) as string | undefined;
  if (text === undefined) throw new IcebergError("DATA_INVALID", "value cannot be serialized to JSON");
  if (!marked) return text;
  const parts: string[] = [];
  let copiedTo = 0;
  MARKED_VALUE.lastIndex = 0;
  for (let match = MARKED_VALUE.exec(text); match !== null; match = MARKED_VALUE.exec(text)) {
    parts.push(text.slice(copiedTo, match.index), match[1] ?? raw[Number(match[2])]!);
    copiedTo = match.index + match[0].length;
  }
  parts.push(text.slice(copiedTo));
  return parts.join("");
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
