/**
 * The first stage of `floe sink` over Kafka: one Kafka record in Debezium's format (Kafka Connect
 * JsonConverter JSON, with or without `schemas.enable`) → a row change in the sink's value
 * representation, a transaction boundary, a tombstone, or a record to skip. Reads what `floe capture`
 * writes (src/capture/envelope.ts) and what Debezium's PostgreSQL connector writes with its default and
 * alternative type modes; values come out as direct mode makes them (debezium-values.ts), types as
 * capture maps them (connect-schema.ts). A record it cannot read is a {@link DecodeError} naming topic,
 * partition, offset and the column, for the worker's dead-letter topic (dead-letter.ts).
 *
 * With schemas the table's shape comes with every record (`eventSchema`, for auto-create and DDL);
 * without them the caller passes the target table's schema and values are read by its types and the
 * connector settings in {@link DebeziumDecoderOptions}.
 */
import { Schema } from "../../iceberg/schema.ts";
import type { EventSchema } from "../auto-create.ts";
import type { Change, ChangeOp, Row } from "../change.ts";
import { type ConnectPart, EnvelopeReader, type SchemaEntry } from "./connect-json.ts";
import { type CompiledRow, compileRow, envelopeRowSchema, eventSchemaOf } from "./connect-schema.ts";
import {
  type BinaryForm,
  codecForType,
  showValue,
  type TimeUnit,
  type ValueCodec,
  type ValueEncoding,
} from "./debezium-values.ts";
import { DecodeError, type RecordLocation, SchemaProblem, ValueProblem } from "./decode-error.ts";

/** A Kafka record as the decoder reads it (the worker's records, with or without headers, fit). */
export interface KafkaRecord extends RecordLocation {
  key: Uint8Array | string | null;
  /** null (or empty) = a tombstone. */
  value: Uint8Array | string | null;
}

/** The table a change belongs to, as PostgreSQL names it. */
export interface SourceTable {
  schema: string;
  table: string;
}

/** Debezium's `transaction` block of a change event (`provide.transaction.metadata`). */
export interface TransactionBlock {
  /** `txId:commitLsn` for PostgreSQL. */
  id: string;
  /** Position of the event among all events of the transaction (1-based). */
  totalOrder: number;
  /** Position among the transaction's events of the same table (1-based). */
  dataCollectionOrder: number;
}

export interface DebeziumChange {
  kind: "change";
  source: SourceTable;
  op: ChangeOp;
  /** Primary key columns (from the record key); empty for tables without one and for truncates. */
  key: Row;
  before?: Row;
  after?: Row;
  /** Columns left out of `after` because the source did not send their unchanged TOASTed value. */
  unchangedColumns: string[];
  /** `source.lsn`: the event's position in the WAL. */
  lsn: bigint | undefined;
  /** `source.txId`: the PostgreSQL transaction id. */
  txId: number | undefined;
  transaction: TransactionBlock | undefined;
  /** `source.ts_ms`: when the change was committed (snapshot rows: when they were read), ms since the epoch. */
  commitTimeMs: number;
  /** True for snapshot reads (`source.snapshot` true/first/last/incremental). */
  snapshot: boolean;
  /**
   * The table's shape (Iceberg types, primary key) when the record carries a Connect schema; records
   * with the same schema share one object, so comparing by identity finds schema changes cheaply.
   */
  eventSchema: EventSchema | undefined;
}

/** A delete's follow-up record (null value), kept for log compaction; the delete already did the work. */
export interface DebeziumTombstone {
  kind: "tombstone";
  /** From the topic name `<prefix>.<schema>.<table>`, when it has that form. */
  source: SourceTable | undefined;
  /** The deleted row's key; values are raw JSON when neither a key schema nor a target schema says their types. */
  key: Row | null;
}

/** A record of the transaction-metadata topic (`<prefix>.transaction`). */
export interface DebeziumTransaction {
  kind: "transaction";
  status: "BEGIN" | "END";
  id: string;
  /** END: how many change events the transaction produced; undefined for BEGIN. */
  eventCount: number | undefined;
  /** END: events per table, `data_collection` being `schema.table`; empty for BEGIN. */
  dataCollections: Array<{ dataCollection: string; eventCount: number }>;
  tsMs: number | undefined;
}

export type SkipReason = "heartbeat" | "message" | "schema-change";

/** A record that carries no row change: a heartbeat, a logical decoding message, a schema-change record. */
export interface DebeziumSkip {
  kind: "skip";
  reason: SkipReason;
}

export type DebeziumEvent = DebeziumChange | DebeziumTombstone | DebeziumTransaction | DebeziumSkip;

/** The target table, for records without schemas: an Iceberg schema or the event schema it was made from. */
export type TargetSchema = Schema | EventSchema;

/** How the connector wrote values; only read for records without a Connect schema. */
export interface DebeziumDecoderOptions {
  /** Debezium's `unavailable.value.placeholder`; null turns placeholder detection off. */
  unavailableValuePlaceholder?: string | null;
  /** `decimal.handling.mode`: how a decimal column's string values are spelled. Default precise. */
  decimalHandlingMode?: "precise" | "double" | "string";
  /** `binary.handling.mode`. Default bytes (base64 in JSON). */
  binaryHandlingMode?: "bytes" | "base64" | "base64-url-safe" | "hex";
  /**
   * `time.precision.mode`: adaptive (default; time and timestamp columns of precision 4–6, PostgreSQL's
   * default, are µs) and adaptive_time_microseconds read numbers as µs, connect as ms.
   */
  timePrecisionMode?: "adaptive" | "adaptive_time_microseconds" | "connect";
  /** Schemas remembered (value and key schemas by their JSON text); the oldest is dropped beyond this. */
  schemaCacheSize?: number;
}

export const DEFAULT_UNAVAILABLE_VALUE_PLACEHOLDER = "__debezium_unavailable_value";

const OPS = new Set<string>(["c", "u", "d", "r", "t"]);

type Json = Record<string, unknown>;

interface TargetCodecs {
  columns: Map<string, ValueCodec>;
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function isEmpty(data: Uint8Array | string | null): boolean {
  return data === null || data.length === 0;
}

function numberOf(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "string" && /^-?\d+$/.test(value)) return Number(value);
  return undefined;
}

function bigintOf(value: unknown): bigint | undefined {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
  if (typeof value === "string" && /^-?\d+$/.test(value)) return BigInt(value);
  return undefined;
}

/** `<prefix>.<schema>.<table>` → schema and table (the prefix may itself contain dots). */
export function sourceFromTopic(topic: string): SourceTable | undefined {
  const parts = topic.split(".");
  if (parts.length < 3) return undefined;
  const schema = parts[parts.length - 2];
  const table = parts[parts.length - 1];
  return schema && table ? { schema, table } : undefined;
}

export class DebeziumDecoder {
  readonly #placeholder: string | null;
  readonly #encoding: ValueEncoding;
  /** Value (envelope) and key schemas; an entry's `compiled` is its row struct, once a change needed it. */
  readonly #values: EnvelopeReader<CompiledRow>;
  readonly #keys: EnvelopeReader<CompiledRow>;
  readonly #targets = new WeakMap<object, TargetCodecs>();

  constructor(options: DebeziumDecoderOptions = {}) {
    this.#placeholder =
      options.unavailableValuePlaceholder === undefined
        ? DEFAULT_UNAVAILABLE_VALUE_PLACEHOLDER
        : options.unavailableValuePlaceholder;
    const binaryForms: Record<string, BinaryForm> = {
      bytes: "base64",
      base64: "base64",
      "base64-url-safe": "base64url",
      hex: "hex",
    };
    const unit: TimeUnit = options.timePrecisionMode === "connect" ? "ms" : "us";
    this.#encoding = {
      binaryForm: binaryForms[options.binaryHandlingMode ?? "bytes"] ?? "base64",
      timeUnit: unit,
      timestampUnit: unit,
      decimalTextForm: options.decimalHandlingMode === "string" ? "decimal" : "unscaled-base64",
    };
    const cacheSize = options.schemaCacheSize ?? 1000;
    this.#values = new EnvelopeReader(cacheSize);
    this.#keys = new EnvelopeReader(cacheSize);
  }

  /**
   * Decodes one record. `target` is the table the record's changes go to, when it exists; it is read
   * only when the record carries no Connect schema. Throws {@link DecodeError}.
   */
  decode(record: KafkaRecord, target?: TargetSchema): DebeziumEvent {
    if (isEmpty(record.value)) return this.#tombstone(record, target);
    const value = this.#read(this.#values, record, "value");
    const payload = value.payload;
    if (payload === null) return this.#tombstone(record, target);
    if (!isObject(payload))
      throw new DecodeError(
        "RECORD_INVALID",
        record,
        `the value is ${showValue(payload)}, not a Debezium event object; the sink reads Debezium change events written by Kafka Connect's JsonConverter`,
      );
    const op = payload.op;
    if (typeof op === "string") {
      if (op === "m") return { kind: "skip", reason: "message" };
      if (!OPS.has(op))
        throw new DecodeError(
          "RECORD_INVALID",
          record,
          `unknown op ${JSON.stringify(op)}; Debezium change events have op c, u, d, r, t (or m for messages)`,
        );
      return this.#change(record, op as ChangeOp, payload, value.schema, target);
    }
    if (payload.status === "BEGIN" || payload.status === "END") return transactionOf(record, payload);
    if (Array.isArray(payload.changes) || "ddl" in payload || "tableChanges" in payload)
      return { kind: "skip", reason: "schema-change" };
    const keys = Object.keys(payload);
    if (keys.length === 1 && keys[0] === "ts_ms") return { kind: "skip", reason: "heartbeat" };
    throw new DecodeError(
      "RECORD_INVALID",
      record,
      `the value has no "op" and is not a transaction, heartbeat or schema-change record (fields: ${keys.slice(0, 8).join(", ") || "none"}); the sink reads Debezium change events`,
    );
  }

  /** The record's key or value: payload and (when JsonConverter wrote one) its schema. */
  #read(
    reader: EnvelopeReader<CompiledRow>,
    record: KafkaRecord,
    part: "key" | "value",
  ): ConnectPart<CompiledRow> {
    const data = part === "key" ? record.key : record.value;
    try {
      return reader.read(record.topic, data ?? "null");
    } catch (error) {
      throw new DecodeError(
        "RECORD_INVALID",
        record,
        `the ${part} is not JSON (${(error as Error).message}); the sink reads Kafka Connect JsonConverter output (key.converter/value.converter = org.apache.kafka.connect.json.JsonConverter)`,
        { cause: error },
      );
    }
  }

  /** The row struct of a schema (`envelope`: a value's envelope schema; else a key struct), compiled once. */
  #compiled(entry: SchemaEntry<CompiledRow>, envelope: boolean, record: KafkaRecord): CompiledRow {
    if (entry.compiled) return entry.compiled;
    try {
      const rowSchema = envelope ? envelopeRowSchema(entry.schema, "the value schema") : entry.schema;
      entry.compiled = compileRow(
        rowSchema,
        this.#placeholder,
        envelope ? "the row schema" : "the key schema",
      );
    } catch (error) {
      if (error instanceof SchemaProblem) throw new DecodeError(error.code, record, error.message);
      throw error;
    }
    return entry.compiled;
  }

  #targetCodecs(target: TargetSchema): TargetCodecs {
    let codecs = this.#targets.get(target);
    if (!codecs) {
      const fields =
        target instanceof Schema
          ? target.fields.map((field) => ({ name: field.name, type: field.type }))
          : target.columns.map((column) => ({ name: column.name, type: column.type }));
      codecs = {
        columns: new Map(
          fields.map((field) => [field.name, codecForType(field.type, this.#encoding, this.#placeholder)]),
        ),
      };
      this.#targets.set(target, codecs);
    }
    return codecs;
  }

  #change(
    record: KafkaRecord,
    op: ChangeOp,
    payload: Json,
    valueSchema: SchemaEntry<CompiledRow> | undefined,
    target: TargetSchema | undefined,
  ): DebeziumChange {
    const source = isObject(payload.source) ? payload.source : undefined;
    const table =
      typeof source?.schema === "string" && typeof source.table === "string"
        ? { schema: source.schema, table: source.table }
        : sourceFromTopic(record.topic);
    if (!table)
      throw new DecodeError(
        "RECORD_INVALID",
        record,
        `the event has no source.schema/source.table and the topic is not <prefix>.<schema>.<table>; route the table's events to a topic of that form or keep Debezium's source block`,
      );
    const commitTimeMs = numberOf(source?.ts_ms) ?? numberOf(payload.ts_ms);
    if (commitTimeMs === undefined)
      throw new DecodeError("RECORD_INVALID", record, "the event has neither source.ts_ms nor ts_ms");

    const rowSchema = valueSchema ? this.#compiled(valueSchema, true, record) : undefined;
    const needsRows = op !== "t";
    let columns: Map<string, ValueCodec> | undefined = rowSchema?.columns;
    if (!columns && target) columns = this.#targetCodecs(target).columns;
    if (!columns && needsRows)
      throw new DecodeError(
        "SCHEMA_MISSING",
        record,
        `the event for ${table.schema}.${table.table} carries no Connect schema (JsonConverter schemas.enable=false) and the sink has no table to read it by; set key.converter.schemas.enable=true and value.converter.schemas.enable=true on the source connector, or create the Iceberg table first`,
        { source: table },
      );
    const fromSchema = rowSchema !== undefined;

    const unchanged = new Set<string>();
    if (Array.isArray(payload.unchanged_columns)) {
      for (const column of payload.unchanged_columns) {
        if (typeof column !== "string")
          throw new DecodeError("RECORD_INVALID", record, "unchanged_columns must be a list of column names");
        unchanged.add(column);
      }
    }
    const readRow = (row: unknown, part: "before" | "after", collectUnchanged: boolean): Row | undefined => {
      if (row === null || row === undefined) return undefined;
      if (!isObject(row))
        throw new DecodeError("RECORD_INVALID", record, `"${part}" is ${showValue(row)}, not a row object`);
      return this.#readRow(
        row,
        columns!,
        record,
        table,
        fromSchema,
        collectUnchanged ? unchanged : undefined,
      );
    };

    const after = needsRows ? readRow(payload.after, "after", true) : undefined;
    const before = needsRows ? readRow(payload.before, "before", false) : undefined;
    if ((op === "c" || op === "r" || op === "u") && after === undefined)
      throw new DecodeError("RECORD_INVALID", record, `a "${op}" event needs an "after" row, got none`);

    const keyPart = this.#key(record, op, columns, table, fromSchema);
    const transaction = transactionBlockOf(record, payload.transaction);
    const snapshot = source?.snapshot;
    return {
      kind: "change",
      source: table,
      op,
      key: keyPart.row ?? {},
      ...(before ? { before } : {}),
      ...(after ? { after } : {}),
      unchangedColumns: [...unchanged],
      lsn: bigintOf(source?.lsn),
      txId: numberOf(source?.txId),
      transaction,
      commitTimeMs,
      snapshot:
        op === "r" ||
        (snapshot !== undefined && snapshot !== null && snapshot !== false && snapshot !== "false"),
      eventSchema: rowSchema ? eventSchemaOf(rowSchema, keyPart.names) : undefined,
    };
  }

  #readRow(
    row: Json,
    columns: Map<string, ValueCodec>,
    record: KafkaRecord,
    table: SourceTable,
    fromSchema: boolean,
    unchanged: Set<string> | undefined,
  ): Row {
    const out: Row = {};
    for (const name in row) {
      const raw = row[name];
      const codec = columns.get(name);
      if (!codec) throw unknownColumn(record, table, name, fromSchema);
      if (raw !== null && codec.isUnavailable(raw)) {
        unchanged?.add(name);
        continue;
      }
      out[name] = convertColumn(codec, raw, record, name, fromSchema);
    }
    return out;
  }

  /** The record key as a row, and the key's column names (the primary key) in key order. */
  #key(
    record: KafkaRecord,
    op: ChangeOp,
    rowColumns: Map<string, ValueCodec> | undefined,
    table: SourceTable,
    rowsFromSchema: boolean,
  ): { row: Row | undefined; names: string[] } {
    if (isEmpty(record.key) || op === "t") return { row: undefined, names: [] };
    const key = this.#read(this.#keys, record, "key");
    if (key.payload === null) return { row: undefined, names: [] };
    if (!isObject(key.payload))
      throw new DecodeError(
        "RECORD_INVALID",
        record,
        `the key is ${showValue(key.payload)}, not a struct of primary-key columns`,
      );
    let columns = rowColumns;
    let fromSchema = rowsFromSchema;
    let names = Object.keys(key.payload);
    if (key.schema) {
      const keyRow = this.#compiled(key.schema, false, record);
      columns = keyRow.columns;
      fromSchema = true;
      names = [...keyRow.columns.keys()];
    }
    if (!columns) return { row: key.payload as Row, names };
    const row: Row = {};
    for (const name in key.payload) {
      const codec = columns.get(name);
      if (!codec) throw unknownColumn(record, table, name, fromSchema);
      row[name] = convertColumn(codec, key.payload[name], record, name, fromSchema);
    }
    return { row, names };
  }

  #tombstone(record: KafkaRecord, target: TargetSchema | undefined): DebeziumTombstone {
    const source = sourceFromTopic(record.topic);
    if (isEmpty(record.key)) return { kind: "tombstone", source, key: null };
    const rowColumns = target ? this.#targetCodecs(target).columns : undefined;
    const table = source ?? { schema: "?", table: record.topic };
    const { row } = this.#key(record, "d", rowColumns, table, false);
    return { kind: "tombstone", source, key: row ?? null };
  }
}

function convertColumn(
  codec: ValueCodec,
  raw: unknown,
  record: KafkaRecord,
  name: string,
  fromSchema: boolean,
): unknown {
  try {
    return codec.convert(raw);
  } catch (problem) {
    if (!(problem instanceof ValueProblem)) throw problem;
    const column = `${name}${problem.path}`;
    const hint = fromSchema
      ? ""
      : "; without a Connect schema values are read by the table's types and the decoder's decimal/binary/time modes, which must match the connector's decimal.handling.mode, binary.handling.mode and time.precision.mode";
    throw new DecodeError("VALUE_INVALID", record, `column "${column}": ${problem.message}${hint}`, {
      column,
      cause: problem,
    });
  }
}

function unknownColumn(
  record: KafkaRecord,
  table: SourceTable,
  name: string,
  fromSchema: boolean,
): DecodeError {
  if (fromSchema)
    return new DecodeError(
      "RECORD_INVALID",
      record,
      `column "${name}" is in the payload but not in the record's Connect schema`,
      { column: name },
    );
  return new DecodeError(
    "COLUMN_UNKNOWN",
    record,
    `column "${name}" is not in table ${table.schema}.${table.table}, and the record carries no Connect schema to add it by; enable schemas on the source connector (key.converter.schemas.enable=true, value.converter.schemas.enable=true) or add the column to the Iceberg table first`,
    { column: name },
  );
}

function transactionBlockOf(record: KafkaRecord, block: unknown): TransactionBlock | undefined {
  if (block === null || block === undefined) return undefined;
  const id = isObject(block) ? block.id : undefined;
  const totalOrder = isObject(block) ? numberOf(block.total_order) : undefined;
  const dataCollectionOrder = isObject(block) ? numberOf(block.data_collection_order) : undefined;
  if (typeof id !== "string" || totalOrder === undefined || dataCollectionOrder === undefined)
    throw new DecodeError(
      "RECORD_INVALID",
      record,
      `the transaction block ${showValue(block)} needs id (string), total_order and data_collection_order (integers)`,
    );
  return { id, totalOrder, dataCollectionOrder };
}

function transactionOf(record: KafkaRecord, payload: Json): DebeziumTransaction {
  const status = payload.status as "BEGIN" | "END";
  const id = payload.id;
  if (typeof id !== "string")
    throw new DecodeError("RECORD_INVALID", record, `the transaction ${status} record has no string "id"`);
  const eventCount = payload.event_count === null ? undefined : numberOf(payload.event_count);
  if (payload.event_count !== null && payload.event_count !== undefined && eventCount === undefined)
    throw new DecodeError(
      "RECORD_INVALID",
      record,
      `the transaction ${status} record's event_count is ${showValue(payload.event_count)}, not an integer`,
    );
  const dataCollections: DebeziumTransaction["dataCollections"] = [];
  if (payload.data_collections !== null && payload.data_collections !== undefined) {
    if (!Array.isArray(payload.data_collections))
      throw new DecodeError("RECORD_INVALID", record, "data_collections must be a list");
    for (const entry of payload.data_collections) {
      const name = isObject(entry) ? entry.data_collection : undefined;
      const count = isObject(entry) ? numberOf(entry.event_count) : undefined;
      if (typeof name !== "string" || count === undefined)
        throw new DecodeError(
          "RECORD_INVALID",
          record,
          `data_collections entry ${showValue(entry)} needs data_collection (string) and event_count (integer)`,
        );
      dataCollections.push({ dataCollection: name, eventCount: count });
    }
  }
  if (status === "END" && eventCount === undefined)
    throw new DecodeError(
      "RECORD_INVALID",
      record,
      `the transaction END record for ${id} has no event_count`,
    );
  return { kind: "transaction", status, id, eventCount, dataCollections, tsMs: numberOf(payload.ts_ms) };
}

/** The writers' input for a decoded change (the caller adds the position it orders changes by). */
export function changeOf(event: DebeziumChange): Omit<Change, "position"> {
  return {
    op: event.op,
    key: event.key,
    commitTimeMs: event.commitTimeMs,
    ...(event.before ? { before: event.before } : {}),
    ...(event.after ? { after: event.after } : {}),
    ...(event.unchangedColumns.length > 0 ? { unchangedColumns: event.unchangedColumns } : {}),
  };
}
