/**
 * Events in Debezium's envelope and their Kafka Connect JSON form (JsonConverter with
 * `schemas.enable` true or false). A change event's value is `{before, after, source, op, ts_ms,
 * transaction}`; its key is the primary key struct (null for a table without one).
 *
 * One deliberate difference from Debezium: an unchanged TOASTed column of an update is left out of
 * `after` and listed in `unchanged_columns`, instead of carrying the placeholder string
 * `__debezium_unavailable_value`, so a sink keeps the stored value rather than overwriting it.
 */
import type { ConnectField, ConnectSchema, EventValue } from "./pg-types.ts";
import { qualifiedName, type SchemaChange, type TableSchema } from "./relation.ts";
import { decodeTextRow, decodeTuple, keyOf, type Row } from "./row-decoder.ts";

export const CONNECTOR_VERSION = "floe-0.1.0";

export type Op = "c" | "u" | "d" | "r" | "t" | "m";

export interface SourceInfo {
  version: string;
  connector: "postgresql";
  name: string;
  ts_ms: number;
  /** "true" for snapshot rows, "last" for the last one of the snapshot, "false" when streaming. */
  snapshot: "true" | "first" | "last" | "false";
  db: string;
  /** JSON of [last committed LSN, this event's LSN] as strings, as Debezium writes it. */
  sequence: string | null;
  schema: string;
  table: string;
  txId: number | null;
  lsn: bigint | null;
  xmin: null;
}

export interface TransactionBlock {
  id: string;
  total_order: number;
  data_collection_order: number;
}

export interface ChangeEvent {
  kind: "change";
  topic: string;
  table: TableSchema;
  key: Row | null;
  value: {
    before: Row | null;
    after: Row | null;
    source: SourceInfo;
    op: Exclude<Op, "m">;
    ts_ms: number;
    transaction: TransactionBlock | null;
  };
  /** Columns of `after` that were not sent because their TOASTed value did not change. */
  unchangedColumns: string[];
  /**
   * Set on both events of a primary-key change (the delete of the old key and the create of the new
   * one, which follow each other), like Debezium's `__debezium.newkey` / `__debezium.oldkey` headers.
   */
  keyChange?: { oldKey: Row; newKey: Row };
}

export interface TombstoneEvent {
  kind: "tombstone";
  topic: string;
  table: TableSchema;
  key: Row | null;
}

export interface TransactionEvent {
  kind: "transaction";
  topic: string;
  status: "BEGIN" | "END";
  id: string;
  eventCount: number | null;
  dataCollections: Array<{ data_collection: string; event_count: number }> | null;
  tsMs: number;
}

export interface LogicalMessageEvent {
  kind: "message";
  topic: string;
  prefix: string;
  content: Buffer;
  transactional: boolean;
  source: SourceInfo;
  tsMs: number;
}

export interface SchemaChangeEvent {
  kind: "schema_change";
  topic: string;
  change: SchemaChange;
}

export type CaptureEvent =
  | ChangeEvent
  | TombstoneEvent
  | TransactionEvent
  | LogicalMessageEvent
  | SchemaChangeEvent;

export function tableTopic(prefix: string, table: { schema: string; table: string }): string {
  return `${prefix}.${table.schema}.${table.table}`;
}

/** Debezium's transaction id: `txId:lsn-of-commit`. */
export function transactionId(xid: number, commitLsn: bigint): string {
  return `${xid}:${commitLsn}`;
}

export function sameKey(a: Row | null, b: Row | null): boolean {
  if (a === null || b === null) return a === b;
  return Object.keys(a).every((column) => toJson(a[column]) === toJson(b[column]));
}

// ---- Kafka Connect JSON ----------------------------------------------------------------------------

export interface JsonOptions {
  /** JsonConverter `schemas.enable`: wrap every key and value in `{schema, payload}`. */
  schemasEnable: boolean;
}

/**
 * A record's JSON in two parts, so the Kafka producer can keep the constant part as bytes: `head` is
 * null or, with `schemas.enable`, a change or tombstone's cached `{"schema":…,"payload":` (the same for
 * every event of the table), which `body` follows and one `}` closes. {@link serializeKey} and
 * {@link serializeValue} are these parts joined.
 */
export interface JsonParts {
  head: SchemaHead | null;
  body: string;
}

/** The constant start of a change or tombstone record with `schemas.enable`, as text and as UTF-8. */
export interface SchemaHead {
  text: string;
  bytes: Buffer;
}

/** The parts joined: the JSON text {@link serializeKey} / {@link serializeValue} return. */
export function joinJsonParts(parts: JsonParts | null): string | null {
  if (parts === null) return null;
  return parts.head === null ? parts.body : `${parts.head.text}${parts.body}}`;
}

/** The record key as JSON text, or null (a table without a primary key, or a transaction/message event). */
export function serializeKey(event: CaptureEvent, options: JsonOptions): string | null {
  return joinJsonParts(keyJsonParts(event, options));
}

/** The record value as JSON text; null for a tombstone. */
export function serializeValue(event: CaptureEvent, options: JsonOptions): string | null {
  return joinJsonParts(valueJsonParts(event, options));
}

/** {@link serializeKey} in parts. */
export function keyJsonParts(event: CaptureEvent, options: JsonOptions): JsonParts | null {
  switch (event.kind) {
    case "change":
    case "tombstone": {
      if (event.key === null) return null;
      return {
        head: options.schemasEnable ? schemaHeads(event.table, event.topic).key : null,
        body: toJson(event.key),
      };
    }
    case "transaction":
      return {
        head: null,
        body: wrap(
          options,
          {
            type: "struct",
            optional: false,
            name: "io.debezium.connector.common.TransactionMetadataKey",
            fields: [{ type: "string", optional: false, field: "id" }],
          },
          { id: event.id },
        ),
      };
    case "message":
      return {
        head: null,
        body: wrap(
          options,
          {
            type: "struct",
            optional: false,
            name: "io.debezium.connector.postgresql.MessageKey",
            fields: [{ type: "string", optional: true, field: "prefix" }],
          },
          { prefix: event.prefix },
        ),
      };
    case "schema_change":
      return { head: null, body: toJson({ schema: event.change.schema, table: event.change.table }) };
  }
}

/** {@link serializeValue} in parts. */
export function valueJsonParts(event: CaptureEvent, options: JsonOptions): JsonParts | null {
  switch (event.kind) {
    case "tombstone":
      return null;
    case "change": {
      // The payload's fields in envelope order; the source block is shared by the events of a
      // transaction (and of a snapshot chunk), so its JSON is printed once.
      const value = event.value;
      let payload = `{"before":${toJson(value.before)},"after":${toJson(value.after)},"source":${sourceJson(value.source)},"op":"${value.op}","ts_ms":${toJson(value.ts_ms)},"transaction":${transactionJson(value.transaction)}`;
      if (event.unchangedColumns.length > 0)
        payload += `,"unchanged_columns":${toJson(event.unchangedColumns)}`;
      payload += "}";
      return {
        head: options.schemasEnable ? schemaHeads(event.table, event.topic).value : null,
        body: payload,
      };
    }
    case "transaction":
      return {
        head: null,
        body: wrap(options, transactionSchema, {
          status: event.status,
          id: event.id,
          event_count: event.eventCount,
          data_collections: event.dataCollections,
          ts_ms: event.tsMs,
        }),
      };
    case "message":
      return {
        head: null,
        body: wrap(options, messageSchema, {
          op: "m",
          ts_ms: event.tsMs,
          source: sourceValue(event.source),
          message: { prefix: event.prefix, content: event.content.toString("base64") },
        }),
      };
    case "schema_change":
      return {
        head: null,
        body: toJson({
          schema: event.change.schema,
          table: event.change.table,
          changes: event.change.changes as unknown as EventValue,
        }),
      };
  }
}

/** `toJson(block)` of a transaction block (its fields in this order), without the generic walk. */
function transactionJson(block: TransactionBlock | null): string {
  if (block === null) return "null";
  return `{"id":${JSON.stringify(block.id)},"total_order":${toJson(block.total_order)},"data_collection_order":${toJson(block.data_collection_order)}}`;
}

/**
 * A table's key and envelope schemas as the start of a record, computed once per table shape and
 * topic: they are the same for every event of the table (a new Relation message makes a new
 * TableSchema object, so DDL is seen), and building, printing and UTF-8-encoding them per event was
 * most of the cost of `schemas.enable`.
 */
const schemaHeadCache = new WeakMap<TableSchema, Map<string, { key: SchemaHead; value: SchemaHead }>>();

function schemaHeads(table: TableSchema, topic: string): { key: SchemaHead; value: SchemaHead } {
  let perTable = schemaHeadCache.get(table);
  if (!perTable) {
    perTable = new Map();
    schemaHeadCache.set(table, perTable);
  }
  let heads = perTable.get(topic);
  if (heads === undefined) {
    const head = (schema: EventValue): SchemaHead => {
      const text = `{"schema":${toJson(schema)},"payload":`;
      return { text, bytes: Buffer.from(text) };
    };
    heads = { key: head(keySchema(table, topic)), value: head(envelopeSchema(table, topic)) };
    perTable.set(topic, heads);
  }
  return heads;
}

const sourceJsonCache = new WeakMap<SourceInfo, string>();

function sourceJson(source: SourceInfo): string {
  let json = sourceJsonCache.get(source);
  if (json === undefined) {
    json = toJson(sourceValue(source));
    sourceJsonCache.set(source, json);
  }
  return json;
}

function sourceValue(source: SourceInfo): { [field: string]: EventValue } {
  return { ...source };
}

function wrap(options: JsonOptions, schema: ConnectSchema, payload: EventValue): string {
  return options.schemasEnable
    ? toJson({ schema: schema as unknown as EventValue, payload })
    : toJson(payload);
}

/** A row struct's schema: every column in table order, or the columns of `only` in that order (the key). */
function rowSchema(table: TableSchema, name: string, only?: string[]): ConnectSchema {
  const columns = only
    ? only.flatMap((key) => table.columns.filter((column) => column.name === key))
    : table.columns;
  return {
    type: "struct",
    optional: true,
    name,
    fields: columns.map(
      (column): ConnectField => ({
        ...column.mapping.connect,
        optional: column.optional,
        field: column.name,
      }),
    ),
  };
}

function keySchema(table: TableSchema, topic: string): EventValue {
  return { ...rowSchema(table, `${topic}.Key`, table.primaryKey), optional: false } as unknown as EventValue;
}

const sourceSchema: ConnectSchema = {
  type: "struct",
  optional: false,
  name: "io.debezium.connector.postgresql.Source",
  fields: [
    { type: "string", optional: false, field: "version" },
    { type: "string", optional: false, field: "connector" },
    { type: "string", optional: false, field: "name" },
    { type: "int64", optional: false, field: "ts_ms" },
    {
      type: "string",
      optional: true,
      name: "io.debezium.data.Enum",
      version: 1,
      parameters: { allowed: "true,first,last,false,incremental" },
      field: "snapshot",
    },
    { type: "string", optional: false, field: "db" },
    { type: "string", optional: true, field: "sequence" },
    { type: "string", optional: false, field: "schema" },
    { type: "string", optional: false, field: "table" },
    { type: "int64", optional: true, field: "txId" },
    { type: "int64", optional: true, field: "lsn" },
    { type: "int64", optional: true, field: "xmin" },
  ],
};

const transactionBlockSchema: ConnectField = {
  type: "struct",
  optional: true,
  name: "event.block",
  version: 1,
  field: "transaction",
  fields: [
    { type: "string", optional: false, field: "id" },
    { type: "int64", optional: false, field: "total_order" },
    { type: "int64", optional: false, field: "data_collection_order" },
  ],
};

function envelopeSchema(table: TableSchema, topic: string): EventValue {
  const schema: ConnectSchema = {
    type: "struct",
    optional: false,
    name: `${topic}.Envelope`,
    version: 1,
    fields: [
      { ...rowSchema(table, `${topic}.Value`), field: "before" },
      { ...rowSchema(table, `${topic}.Value`), field: "after" },
      { ...sourceSchema, field: "source" },
      { type: "string", optional: false, field: "op" },
      { type: "int64", optional: true, field: "ts_ms" },
      transactionBlockSchema,
      {
        type: "array",
        optional: true,
        items: { type: "string", optional: false },
        field: "unchanged_columns",
      },
    ],
  };
  return schema as unknown as EventValue;
}

const transactionSchema: ConnectSchema = {
  type: "struct",
  optional: false,
  name: "io.debezium.connector.common.TransactionMetadataValue",
  version: 1,
  fields: [
    { type: "string", optional: false, field: "status" },
    { type: "string", optional: false, field: "id" },
    { type: "int64", optional: true, field: "event_count" },
    {
      type: "array",
      optional: true,
      field: "data_collections",
      items: {
        type: "struct",
        optional: false,
        fields: [
          { type: "string", optional: false, field: "data_collection" },
          { type: "int64", optional: false, field: "event_count" },
        ],
      },
    },
    { type: "int64", optional: false, field: "ts_ms" },
  ],
};

const messageSchema: ConnectSchema = {
  type: "struct",
  optional: false,
  name: "io.debezium.connector.postgresql.MessageValue",
  fields: [
    { type: "string", optional: false, field: "op" },
    { type: "int64", optional: true, field: "ts_ms" },
    { ...sourceSchema, field: "source" },
    {
      type: "struct",
      optional: true,
      field: "message",
      name: "io.debezium.connector.postgresql.Message",
      fields: [
        { type: "string", optional: false, field: "prefix" },
        { type: "bytes", optional: true, field: "content" },
      ],
    },
  ],
};

/**
 * JSON.stringify with int64 printed losslessly (bigint → digits) and non-finite floats as the strings
 * "NaN", "Infinity", "-Infinity" (what Jackson writes with QUOTE_NON_NUMERIC_NUMBERS).
 */
export function toJson(value: EventValue | undefined): string {
  // Hand-rolled rather than Object.entries/map/join: this runs for every field of every event.
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return Number.isFinite(value) ? String(value) : `"${value}"`;
    case "bigint":
      return value.toString();
    case "boolean":
      return value ? "true" : "false";
    case "undefined":
      return "null";
  }
  if (value === null) return "null";
  if (Array.isArray(value)) {
    let out = "[";
    for (let index = 0; index < value.length; index++) {
      if (index > 0) out += ",";
      out += toJson(value[index]);
    }
    return `${out}]`;
  }
  let out = "{";
  let first = true;
  for (const field in value) {
    const item = value[field];
    if (item === undefined) continue;
    const name = fieldJson(field);
    out += first ? name : `,${name}`;
    first = false;
    out += toJson(item);
  }
  return `${out}}`;
}

/** `"field":` per field name, printed once: column and envelope field names repeat in every event. */
const fieldJsonCache = new Map<string, string>();

function fieldJson(field: string): string {
  let json = fieldJsonCache.get(field);
  if (json === undefined) {
    json = `${JSON.stringify(field)}:`;
    // Field names are columns and envelope fields (a bounded set); never let the cache grow without end.
    if (fieldJsonCache.size < 10_000) fieldJsonCache.set(field, json);
  }
  return json;
}

export { decodeTextRow, decodeTuple, keyOf, qualifiedName, type Row };
