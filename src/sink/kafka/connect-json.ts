/**
 * Kafka Connect JsonConverter text → JS values, without losing 64-bit integers (int64 columns, LSNs,
 * µs timestamps beyond 2^53, ±infinity as int64 max/min), and {@link EnvelopeReader}, which splits a
 * `{"schema":…,"payload":…}` envelope so a schema that repeats on every record is parsed once.
 *
 * Integers are numbers when they fit a double exactly and bigints otherwise; other numbers are
 * numbers. Most records hold no unsafe integer, and for those the native `JSON.parse` is exact and
 * several times faster than lossless-json, so the slow parser runs only when a digit run could exceed
 * 2^53 (a conservative test: digit runs inside strings count too).
 */
import { parse } from "lossless-json";

const MAX_SAFE_DIGITS = String(Number.MAX_SAFE_INTEGER);
const LONG_DIGIT_RUN = /\d{16,}/g;

function mayHoldUnsafeInteger(text: string): boolean {
  LONG_DIGIT_RUN.lastIndex = 0;
  for (let match = LONG_DIGIT_RUN.exec(text); match !== null; match = LONG_DIGIT_RUN.exec(text)) {
    const digits = match[0];
    if (digits.length > MAX_SAFE_DIGITS.length || digits > MAX_SAFE_DIGITS) return true;
  }
  return false;
}

function parseNumber(text: string): number | bigint {
  if (/^-?\d+$/.test(text)) {
    const value = Number(text);
    return Number.isSafeInteger(value) ? value : BigInt(text);
  }
  return Number(text);
}

/** Parses JSON text; throws the parser's SyntaxError on malformed input. */
export function parseConnectJson(text: string): unknown {
  if (!mayHoldUnsafeInteger(text)) return JSON.parse(text);
  return parse(text, null, parseNumber);
}

/** The two halves of a JsonConverter envelope as text, when the record is in the usual layout. */
export interface EnvelopeText {
  schemaText: string;
  payloadText: string;
}

const SCHEMA_PREFIX = '{"schema":';
const PAYLOAD_INFIX = ',"payload":';

/**
 * Splits `{"schema":S,"payload":P}` (JsonConverter's and Floe's compact layout, schema first) into S
 * and P without parsing them; undefined for any other layout, which the caller parses whole.
 */
export function splitEnvelope(text: string): EnvelopeText | undefined {
  if (!text.startsWith(SCHEMA_PREFIX)) return undefined;
  const schemaEnd = endOfValue(text, SCHEMA_PREFIX.length);
  if (schemaEnd < 0 || !text.startsWith(PAYLOAD_INFIX, schemaEnd)) return undefined;
  let end = text.length;
  while (end > 0 && isJsonSpace(text.charCodeAt(end - 1))) end--;
  if (text.charCodeAt(end - 1) !== 0x7d /* } */) return undefined;
  const payloadStart = schemaEnd + PAYLOAD_INFIX.length;
  if (payloadStart >= end - 1) return undefined;
  return {
    schemaText: text.slice(SCHEMA_PREFIX.length, schemaEnd),
    payloadText: text.slice(payloadStart, end - 1),
  };
}

function isJsonSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

/**
 * The index just past the object, array or `null` starting at `start`, or -1. Strings are skipped
 * with their escapes, so braces inside them do not count.
 */
function endOfValue(text: string, start: number): number {
  if (text.startsWith("null", start)) return start + 4;
  const first = text.charCodeAt(start);
  if (first !== 0x7b /* { */ && first !== 0x5b /* [ */) return -1;
  let depth = 0;
  for (let index = start; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === 0x22 /* " */) {
      index++;
      while (index < text.length) {
        const inner = text.charCodeAt(index);
        if (inner === 0x5c /* \ */) index += 2;
        else if (inner === 0x22) break;
        else index++;
      }
    } else if (code === 0x7b || code === 0x5b) {
      depth++;
    } else if (code === 0x7d /* } */ || code === 0x5d /* ] */) {
      depth--;
      if (depth === 0) return index + 1;
    }
  }
  return -1;
}

/** A Connect schema seen before: its text, its bytes (to recognize it without decoding) and parsed form. */
export interface SchemaEntry<Compiled> {
  readonly text: string;
  readonly bytes: Buffer;
  readonly schema: unknown;
  /** What the caller derived from the schema (filled in lazily, kept with the entry). */
  compiled?: Compiled;
}

/** One record key or value: its payload, and its schema when JsonConverter wrote one. */
export interface ConnectPart<Compiled> {
  schema: SchemaEntry<Compiled> | undefined;
  payload: unknown;
}

const SCHEMA_PREFIX_BYTES = Buffer.from(SCHEMA_PREFIX);
const PAYLOAD_INFIX_BYTES = Buffer.from(PAYLOAD_INFIX);

/**
 * Reads JsonConverter keys or values. Schemas are remembered by their text (at most `limit`, the
 * oldest dropped first); the last schema of each topic is compared byte for byte against the next
 * record of that topic, so in the usual case (a topic's records share a schema) only the payload is
 * decoded from UTF-8 and parsed. Throws the parser's error on malformed JSON.
 */
export class EnvelopeReader<Compiled> {
  readonly #entries = new Map<string, SchemaEntry<Compiled>>();
  readonly #lastByTopic = new Map<string, SchemaEntry<Compiled>>();

  constructor(readonly limit: number) {}

  read(topic: string, data: Uint8Array | string): ConnectPart<Compiled> {
    if (typeof data !== "string") {
      const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      const known = this.#lastByTopic.get(topic);
      if (known) {
        const payload = knownSchemaPayload(bytes, known.bytes);
        if (payload !== undefined) return { schema: known, payload: parseConnectJson(payload) };
      }
      return this.#readText(topic, bytes.toString("utf8"));
    }
    return this.#readText(topic, data);
  }

  /** The entry for a schema text, created (and remembered) when new. */
  #entry(text: string, schema?: unknown): SchemaEntry<Compiled> {
    let entry = this.#entries.get(text);
    if (!entry) {
      entry = {
        text,
        bytes: Buffer.from(text),
        schema: schema === undefined ? parseConnectJson(text) : schema,
      };
      if (this.#entries.size >= this.limit) {
        const oldest = this.#entries.keys().next();
        if (!oldest.done) this.#entries.delete(oldest.value);
      }
      this.#entries.set(text, entry);
    }
    return entry;
  }

  #readText(topic: string, text: string): ConnectPart<Compiled> {
    const split = splitEnvelope(text);
    if (split) {
      const payload = parseConnectJson(split.payloadText);
      if (split.schemaText === "null") return { schema: undefined, payload };
      return { schema: this.#remember(topic, this.#entry(split.schemaText)), payload };
    }
    const whole = parseConnectJson(text);
    if (
      whole !== null &&
      typeof whole === "object" &&
      !Array.isArray(whole) &&
      "schema" in whole &&
      "payload" in whole &&
      Object.keys(whole).length === 2
    ) {
      const { schema, payload } = whole as { schema: unknown; payload: unknown };
      if (schema === null) return { schema: undefined, payload };
      const schemaText = JSON.stringify(schema, (_key, item: unknown) =>
        typeof item === "bigint" ? item.toString() : item,
      );
      return { schema: this.#remember(topic, this.#entry(schemaText, schema)), payload };
    }
    return { schema: undefined, payload: whole };
  }

  #remember(topic: string, entry: SchemaEntry<Compiled>): SchemaEntry<Compiled> {
    if (this.#lastByTopic.size >= this.limit && !this.#lastByTopic.has(topic)) this.#lastByTopic.clear();
    this.#lastByTopic.set(topic, entry);
    return entry;
  }
}

/** The payload text of `{"schema":<schema>,"payload":P}` when `bytes` holds exactly that schema. */
function knownSchemaPayload(bytes: Buffer, schema: Buffer): string | undefined {
  const payloadStart = SCHEMA_PREFIX_BYTES.length + schema.length + PAYLOAD_INFIX_BYTES.length;
  if (bytes.length <= payloadStart) return undefined;
  if (bytes.compare(SCHEMA_PREFIX_BYTES, 0, SCHEMA_PREFIX_BYTES.length, 0, SCHEMA_PREFIX_BYTES.length) !== 0)
    return undefined;
  const schemaEnd = SCHEMA_PREFIX_BYTES.length + schema.length;
  if (bytes.compare(schema, 0, schema.length, SCHEMA_PREFIX_BYTES.length, schemaEnd) !== 0) return undefined;
  if (bytes.compare(PAYLOAD_INFIX_BYTES, 0, PAYLOAD_INFIX_BYTES.length, schemaEnd, payloadStart) !== 0)
    return undefined;
  let end = bytes.length;
  while (end > payloadStart && isJsonSpace(bytes[end - 1] ?? 0)) end--;
  if (bytes[end - 1] !== 0x7d /* } */) return undefined;
  return bytes.toString("utf8", payloadStart, end - 1);
}
