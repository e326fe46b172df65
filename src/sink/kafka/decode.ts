/**
 * Debezium change events as Kafka Connect JSON (`schemas.enable=true`) → the sink's input: the source
 * table, a {@link Change} in Floe's value representation, and the table shape (Iceberg types from the
 * Connect schema's types and logical names, primary key from the key schema) for auto-create and DDL.
 *
 * Covers the types `floe capture` emits (src/capture/pg-types.ts) and Debezium's defaults for them;
 * values are converted by the same function direct mode uses (src/replicate/values.ts), so a column
 * lands the same way through Kafka as without it. Integers are parsed without precision loss.
 * A record without the schema envelope needs the target table's schema (not supported yet: error).
 */
import { isSafeNumber, parse } from "lossless-json";
import type { IcebergType as CaptureIcebergType, EventValue } from "../../capture/pg-types.ts";
import type { IcebergType } from "../../iceberg/types.ts";
import { sinkType, sinkValue } from "../../replicate/values.ts";
import type { EventSchema } from "../auto-create.ts";
import type { ChangeOp, Row } from "../change.ts";
import { SinkError } from "../errors.ts";
import type { DecodedRecord, SourceRecord } from "./worker.ts";

interface ConnectField {
  type: string;
  optional?: boolean;
  name?: string;
  field?: string;
  parameters?: Record<string, string>;
  fields?: ConnectField[];
  items?: ConnectField;
}

/** Debezium's placeholder for an unchanged TOASTed value (genuine Debezium; Floe lists them instead). */
export const UNAVAILABLE_VALUE_PLACEHOLDER = "__debezium_unavailable_value";

const NESTED_ID_BASE = 100_000;

function parseJson(text: string, where: string): unknown {
  try {
    return parse(text, null, (value: string) => {
      if (/^-?\d+$/.test(value)) return isSafeNumber(value) ? Number(value) : BigInt(value);
      return Number(value);
    });
  } catch (error) {
    throw new SinkError("CHANGE_INVALID", `${where}: not JSON (${(error as Error).message})`);
  }
}

/** Connect field → the Iceberg type capture would give the column (spec JSON form). */
function captureType(field: ConnectField, where: string): CaptureIcebergType {
  switch (field.name) {
    case "io.debezium.time.Date":
    case "org.apache.kafka.connect.data.Date":
      return "date";
    case "io.debezium.time.MicroTime":
      return "time";
    case "io.debezium.time.MicroTimestamp":
      return "timestamp";
    case "io.debezium.time.ZonedTimestamp":
      return "timestamptz";
    case "io.debezium.data.Uuid":
      return "uuid";
    case "io.debezium.data.VariableScaleDecimal":
      return "decimal(38,18)";
    case "org.apache.kafka.connect.data.Decimal": {
      const scale = Number(field.parameters?.scale ?? "0");
      const precision = Number(field.parameters?.["connect.decimal.precision"] ?? "38");
      return `decimal(${precision},${scale})`;
    }
  }
  switch (field.type) {
    case "int8":
    case "int16":
    case "int32":
      return "int";
    case "int64":
      return "long";
    case "float":
    case "float32":
      return "float";
    case "double":
    case "float64":
      return "double";
    case "boolean":
      return "boolean";
    case "string":
      return "string";
    case "bytes":
      return "binary";
    case "array":
      if (!field.items) break;
      return { type: "list", "element-required": false, element: captureType(field.items, where) };
    case "struct":
      return {
        type: "struct",
        fields: (field.fields ?? []).map((f) => ({
          name: f.field ?? "",
          required: false,
          type: captureType(f, where),
        })),
      };
  }
  throw new SinkError(
    "SCHEMA_INCOMPATIBLE",
    `${where}: Connect type ${field.type}${field.name ? ` (${field.name})` : ""} has no Iceberg mapping`,
  );
}

interface CachedSchema {
  eventSchema: EventSchema;
  types: Map<string, IcebergType>;
}

/** Decodes records; the per-topic schema is cached by its JSON text (it repeats on every record). */
export function createDebeziumDecoder(): (record: SourceRecord) => DecodedRecord {
  const cache = new Map<string, CachedSchema>();
  return (record) => {
    const where = `${record.topic}/${record.partition}@${record.offset}`;
    if (record.value === null || record.value.length === 0) return { kind: "skip" }; // tombstone
    const envelope = parseJson(record.value.toString("utf8"), where) as {
      schema?: ConnectField;
      payload?: Record<string, EventValue>;
    };
    if (!envelope || typeof envelope !== "object" || !envelope.schema || !envelope.payload) {
      throw new SinkError(
        "CHANGE_INVALID",
        `${where}: not a Kafka Connect JSON envelope with a schema; set value.converter.schemas.enable=true (and for keys) on the producer`,
      );
    }
    const payload = envelope.payload;
    const op = payload.op;
    if (op === "m" || typeof op !== "string") return { kind: "skip" };
    if (!["c", "u", "d", "r", "t"].includes(op)) {
      throw new SinkError("CHANGE_INVALID", `${where}: unknown op ${JSON.stringify(op)}`);
    }
    const source = payload.source as Record<string, EventValue> | null;
    if (!source || typeof source.table !== "string" || typeof source.schema !== "string") {
      throw new SinkError("CHANGE_INVALID", `${where}: the envelope has no source.schema / source.table`);
    }
    const key = record.key
      ? (parseJson(record.key.toString("utf8"), where) as {
          schema?: ConnectField;
          payload?: Record<string, EventValue>;
        })
      : undefined;
    const schemaText = JSON.stringify(envelope.schema) + JSON.stringify(key?.schema ?? null);
    let cached = cache.get(schemaText);
    if (!cached) {
      const rowSchema = envelope.schema.fields?.find((f) => f.field === "after" || f.field === "before");
      if (!rowSchema?.fields)
        throw new SinkError("CHANGE_INVALID", `${where}: the envelope schema has no row struct`);
      let id = NESTED_ID_BASE;
      const nextId = () => ++id;
      const columns = rowSchema.fields.map((f) => ({
        name: f.field ?? "",
        type: sinkType(captureType(f, `${where} column ${f.field}`), nextId),
        optional: f.optional ?? true,
      }));
      const primaryKey = (key?.schema?.fields ?? []).map((f) => f.field ?? "");
      cached = { eventSchema: { columns, primaryKey }, types: new Map(columns.map((c) => [c.name, c.type])) };
      if (cache.size > 1000) cache.clear();
      cache.set(schemaText, cached);
    }
    const types = cached.types;
    const table = `${source.schema}.${source.table}`;
    const unchanged = new Set<string>(
      Array.isArray(payload.unchanged_columns) ? (payload.unchanged_columns as string[]) : [],
    );
    const convert = (row: EventValue | undefined): Row | undefined => {
      if (row === null || row === undefined || typeof row !== "object" || Array.isArray(row))
        return undefined;
      const out: Row = {};
      for (const [name, value] of Object.entries(row)) {
        if (value === UNAVAILABLE_VALUE_PLACEHOLDER) {
          unchanged.add(name);
          continue;
        }
        const type = types.get(name);
        out[name] = type === undefined ? value : sinkValue(type, value, `${table}.${name}`);
      }
      return out;
    };
    const before = convert(payload.before);
    const after = convert(payload.after);
    const keyRow = convert(key?.payload as EventValue | undefined) ?? {};
    const change = {
      op: op as ChangeOp,
      key: keyRow,
      commitTimeMs: Number(source.ts_ms ?? payload.ts_ms ?? 0),
      ...(before ? { before } : {}),
      ...(after ? { after } : {}),
      ...(unchanged.size > 0 && op === "u" ? { unchangedColumns: [...unchanged] } : {}),
    };
    return {
      kind: "change",
      source: { schema: source.schema, table: source.table },
      change,
      eventSchema: cached.eventSchema,
      ...(source.lsn !== null && source.lsn !== undefined
        ? { lsn: BigInt(source.lsn as number | bigint) }
        : {}),
    };
  };
}
