/**
 * Kafka Connect schemas (the `schema` half of JsonConverter's `schemas.enable=true` output) → Iceberg
 * types and value converters. A column gets the Iceberg type `floe capture`'s mapping gives its
 * PostgreSQL type (src/capture/pg-types.ts `mapping.connect` → `mapping.iceberg`), so a table is created
 * the same through Kafka as by `floe replicate`; Debezium's other logical types (time.precision.mode
 * adaptive/connect, NanoTime, Bits, geometry structs, maps) get their natural Iceberg type.
 *
 * Field ids are numbered like src/replicate/values.ts `eventSchema` (nested ids from 100 001 in the
 * same order), so the two paths produce equal event schemas.
 */

import { decimal, type IcebergType, primitive } from "../../iceberg/types.ts";
import type { EventSchema, SourceColumn } from "../auto-create.ts";
import {
  binaryConverter,
  booleanConverter,
  type Convert,
  dateConverter,
  decimalConverter,
  floatingConverter,
  intConverter,
  listConverter,
  longConverter,
  mapConverter,
  placeholderTest,
  stringConverter,
  structConverter,
  type TimeUnit,
  timeConverter,
  timestampConverter,
  uuidConverter,
  type ValueCodec,
} from "./debezium-values.ts";
import { SchemaProblem } from "./decode-error.ts";

/** A Connect schema as JsonConverter writes it (lenient: only what the mapping reads). */
export interface ConnectSchemaJson {
  type?: unknown;
  optional?: unknown;
  name?: unknown;
  parameters?: unknown;
  field?: unknown;
  fields?: unknown;
  items?: unknown;
  keys?: unknown;
  values?: unknown;
}

/** See src/replicate/values.ts: nested ids start here so they never collide with top-level ids. */
const NESTED_ID_BASE = 100_000;

/** Iceberg's largest decimal precision; wider numerics become strings, as capture maps them. */
const MAX_DECIMAL_PRECISION = 38;

interface Node {
  type: IcebergType;
  convert: Convert;
}

function asSchema(value: unknown, where: string): ConnectSchemaJson {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new SchemaProblem("RECORD_INVALID", `${where}: the Connect schema is not a JSON object`);
  return value as ConnectSchemaJson;
}

function parameter(schema: ConnectSchemaJson, name: string): string | undefined {
  const parameters = schema.parameters as Record<string, unknown> | undefined;
  const value = parameters?.[name];
  return value === undefined || value === null ? undefined : String(value);
}

const TIME_UNITS: Record<string, TimeUnit> = {
  "io.debezium.time.Time": "ms",
  "org.apache.kafka.connect.data.Time": "ms",
  "io.debezium.time.MicroTime": "us",
  "io.debezium.time.NanoTime": "ns",
};

const TIMESTAMP_UNITS: Record<string, TimeUnit> = {
  "io.debezium.time.Timestamp": "ms",
  "org.apache.kafka.connect.data.Timestamp": "ms",
  "io.debezium.time.MicroTimestamp": "us",
  "io.debezium.time.NanoTimestamp": "ns",
};

/** One Connect schema node → Iceberg type (ids from `nextId`, in eventSchema's order) and converter. */
function compileNode(schema: ConnectSchemaJson, nextId: () => number, where: string): Node {
  const name = typeof schema.name === "string" ? schema.name : undefined;
  const connectType = typeof schema.type === "string" ? schema.type.toLowerCase() : undefined;
  if (connectType === undefined)
    throw new SchemaProblem("RECORD_INVALID", `${where}: the Connect schema has no "type"`);
  if (name !== undefined) {
    const byName = compileLogical(name, schema, where);
    if (byName) return byName;
  }
  switch (connectType) {
    case "int8":
    case "int16":
    case "int32":
      return { type: primitive("int"), convert: intConverter() };
    case "int64":
      return { type: primitive("long"), convert: longConverter() };
    case "float":
    case "float32":
      return { type: primitive("float"), convert: floatingConverter("float") };
    case "double":
    case "float64":
      return { type: primitive("double"), convert: floatingConverter("double") };
    case "boolean":
      return { type: primitive("boolean"), convert: booleanConverter() };
    case "string":
      return { type: primitive("string"), convert: stringConverter() };
    case "bytes":
      return { type: primitive("binary"), convert: binaryConverter("base64") };
    case "array": {
      const items = asSchema(schema.items, `${where} (array items)`);
      const elementId = nextId();
      const element = compileNode(items, nextId, `${where}[]`);
      return {
        type: { kind: "list", elementId, elementRequired: items.optional !== true, element: element.type },
        convert: listConverter(element.convert),
      };
    }
    case "map": {
      const keys = asSchema(schema.keys, `${where} (map keys)`);
      const values = asSchema(schema.values, `${where} (map values)`);
      const keyId = nextId();
      const valueId = nextId();
      const key = compileNode(keys, nextId, `${where}.key`);
      const value = compileNode(values, nextId, `${where}.value`);
      return {
        type: {
          kind: "map",
          keyId,
          key: key.type,
          valueId,
          valueRequired: values.optional !== true,
          value: value.type,
        },
        convert: mapConverter(key.convert, value.convert),
      };
    }
    case "struct": {
      const fields = structFields(schema, where).map((field) => {
        const id = nextId();
        const node = compileNode(field.schema, nextId, `${where}.${field.name}`);
        return { id, name: field.name, required: field.schema.optional !== true, node };
      });
      return {
        type: {
          kind: "struct",
          fields: fields.map(({ id, name: fieldName, required, node }) => ({
            id,
            name: fieldName,
            required,
            type: node.type,
          })),
        },
        convert: structConverter(fields.map((field) => ({ name: field.name, convert: field.node.convert }))),
      };
    }
  }
  throw new SchemaProblem(
    "TYPE_UNSUPPORTED",
    `${where}: Connect type "${String(schema.type)}"${name ? ` (${name})` : ""} has no Iceberg type; exclude the column at the source (column.exclude.list) or convert it there`,
  );
}

/** Logical types that change the Iceberg type or how values are read; undefined → map by the Connect type. */
function compileLogical(name: string, schema: ConnectSchemaJson, where: string): Node | undefined {
  const timeUnit = TIME_UNITS[name];
  if (timeUnit) return { type: primitive("time"), convert: timeConverter(timeUnit) };
  const timestampUnit = TIMESTAMP_UNITS[name];
  if (timestampUnit)
    return { type: primitive("timestamp"), convert: timestampConverter("us", timestampUnit, "timestamp") };
  switch (name) {
    case "io.debezium.time.Date":
    case "org.apache.kafka.connect.data.Date":
      return { type: primitive("date"), convert: dateConverter() };
    case "io.debezium.time.ZonedTimestamp":
      return { type: primitive("timestamptz"), convert: timestampConverter("us", "us", "timestamptz") };
    case "io.debezium.data.Uuid":
      return { type: primitive("uuid"), convert: uuidConverter() };
    case "io.debezium.data.VariableScaleDecimal":
      // Capture's mapping for unconstrained numeric (precise mode).
      return {
        type: decimal(MAX_DECIMAL_PRECISION, 18),
        convert: decimalConverter({
          precision: MAX_DECIMAL_PRECISION,
          scale: 18,
          textForm: "unscaled-base64",
        }),
      };
    case "org.apache.kafka.connect.data.Decimal": {
      const scaleText = parameter(schema, "scale");
      const scale = Number(scaleText);
      if (scaleText === undefined || !Number.isInteger(scale) || scale < 0)
        throw new SchemaProblem(
          "RECORD_INVALID",
          `${where}: Connect Decimal needs a non-negative integer "scale" parameter, got ${JSON.stringify(scaleText ?? null)}`,
        );
      const precisionText = parameter(schema, "connect.decimal.precision");
      const precision = precisionText === undefined ? MAX_DECIMAL_PRECISION : Number(precisionText);
      if (!Number.isInteger(precision) || precision < 1)
        throw new SchemaProblem(
          "RECORD_INVALID",
          `${where}: Connect Decimal's "connect.decimal.precision" must be a positive integer, got ${JSON.stringify(precisionText)}`,
        );
      // Wider than Iceberg's decimals (or scale > precision): a string column with the decimal text.
      if (precision > MAX_DECIMAL_PRECISION || scale > Math.min(precision, MAX_DECIMAL_PRECISION))
        return {
          type: primitive("string"),
          convert: decimalConverter({ precision, scale, textForm: "unscaled-base64", asText: true }),
        };
      return {
        type: decimal(precision, scale),
        convert: decimalConverter({ precision, scale, textForm: "unscaled-base64" }),
      };
    }
  }
  return undefined;
}

function structFields(
  schema: ConnectSchemaJson,
  where: string,
): Array<{ name: string; schema: ConnectSchemaJson }> {
  if (!Array.isArray(schema.fields))
    throw new SchemaProblem("RECORD_INVALID", `${where}: the Connect struct schema has no "fields" array`);
  return schema.fields.map((value, index) => {
    const field = asSchema(value, `${where} field ${index}`);
    if (typeof field.field !== "string")
      throw new SchemaProblem("RECORD_INVALID", `${where}: field ${index} of the struct schema has no name`);
    return { name: field.field, schema: field };
  });
}

/** A row struct's columns (the `after`/`before` struct of an envelope, or a key struct). */
export interface CompiledRow {
  /** Column name → codec, in the struct's field order. */
  readonly columns: Map<string, ValueCodec>;
  readonly sourceColumns: SourceColumn[];
  /** Event schemas by primary-key column list, so records with one schema share one object. */
  readonly eventSchemas: Map<string, EventSchema>;
}

/** Compiles a Connect struct schema of a row; top-level column ids are left to sinkSchema (1..n). */
export function compileRow(schema: unknown, placeholder: string | null, where: string): CompiledRow {
  const struct = asSchema(schema, where);
  if (typeof struct.type !== "string" || struct.type.toLowerCase() !== "struct")
    throw new SchemaProblem("RECORD_INVALID", `${where}: the row schema is not a Connect struct`);
  let id = NESTED_ID_BASE;
  const nextId = () => ++id;
  const columns = new Map<string, ValueCodec>();
  const sourceColumns: SourceColumn[] = [];
  for (const field of structFields(struct, where)) {
    const node = compileNode(field.schema, nextId, `${where} column "${field.name}"`);
    columns.set(field.name, {
      type: node.type,
      convert: node.convert,
      isUnavailable: placeholderTest(node.type, placeholder),
    });
    sourceColumns.push({ name: field.name, type: node.type, optional: field.schema.optional === true });
  }
  return { columns, sourceColumns, eventSchemas: new Map() };
}

/** The event schema of `row` with `primaryKey`, one object per key column list. */
export function eventSchemaOf(row: CompiledRow, primaryKey: string[]): EventSchema {
  const cacheKey = primaryKey.join("\u0000");
  let schema = row.eventSchemas.get(cacheKey);
  if (!schema) {
    schema = { columns: row.sourceColumns, primaryKey };
    row.eventSchemas.set(cacheKey, schema);
  }
  return schema;
}

/** The row struct of a Debezium envelope schema: its `after` field, else its `before` field. */
export function envelopeRowSchema(envelope: unknown, where: string): unknown {
  const schema = asSchema(envelope, where);
  const fields = Array.isArray(schema.fields) ? (schema.fields as ConnectSchemaJson[]) : [];
  const row =
    fields.find((field) => field?.field === "after") ?? fields.find((field) => field?.field === "before");
  if (!row)
    throw new SchemaProblem(
      "RECORD_INVALID",
      `${where}: the envelope schema has no "after" or "before" struct, so it is not a Debezium change event schema`,
    );
  return row;
}
