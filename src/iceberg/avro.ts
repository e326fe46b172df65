/**
 * The one place Floe touches avsc: typed Avro schema JSON, and the Avro object container file format
 * (header with key/value metadata, blocks, sync markers; `null` and `deflate` codecs) read and written
 * synchronously in memory. Manifests and manifest lists are built on top of it.
 *
 * The container framing is done here rather than with avsc's stream encoder so that (a) the header carries
 * the exact schema JSON we pass in — avsc's own schema export drops Iceberg's `field-id` attributes — and
 * (b) encode/decode are plain functions over bytes; the caller does I/O through FileIO. Compiled avsc
 * types are kept per schema text: every manifest of a table has the same few schemas, and compiling
 * one costs more than encoding a small manifest.
 */
import { randomBytes } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import avsc from "avsc";
import { IcebergError } from "./errors.ts";

export type AvroPrimitiveName = "null" | "boolean" | "int" | "long" | "float" | "double" | "bytes" | "string";

export interface AvroRecordField {
  name: string;
  type: AvroSchema;
  default?: null;
  doc?: string;
  "field-id"?: number;
}

export interface AvroRecordSchema {
  type: "record";
  name: string;
  fields: AvroRecordField[];
}

export interface AvroArraySchema {
  type: "array";
  items: AvroSchema;
  /** `map` marks an Iceberg map stored as an array of key/value records. */
  logicalType?: "map";
  "element-id"?: number;
}

export interface AvroMapSchema {
  type: "map";
  values: AvroSchema;
  "key-id"?: number;
  "value-id"?: number;
}

export interface AvroFixedSchema {
  type: "fixed";
  name: string;
  size: number;
  logicalType?: "decimal" | "uuid";
  precision?: number;
  scale?: number;
}

/** An int or long with a logical type annotation (date, time-micros, timestamp-micros, ...). */
export interface AvroAnnotatedSchema {
  type: "int" | "long";
  logicalType: string;
  "adjust-to-utc"?: boolean;
}

export type AvroSchema =
  | AvroPrimitiveName
  | AvroRecordSchema
  | AvroArraySchema
  | AvroMapSchema
  | AvroFixedSchema
  | AvroAnnotatedSchema
  | AvroSchema[];

export type AvroCodec = "null" | "deflate";

/**
 * avsc decodes Avro longs to JS numbers by default, silently rounding past 2^53. Snapshot ids are random
 * 64-bit values (and sequence numbers, timestamps in nanoseconds, ... are longs too), so every long is
 * mapped to `bigint` instead. Callers convert to `number` where the value is known to be small (counts,
 * sizes) with `toSafeNumber`.
 */
const bigintLong = avsc.types.LongType.__with({
  fromBuffer: (buf: Buffer): bigint => buf.readBigInt64LE(),
  toBuffer: (value: bigint): Buffer => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(value);
    return buf;
  },
  fromJSON: (json: unknown): bigint => BigInt(json as string | number),
  toJSON: (value: bigint): string => value.toString(),
  isValid: (value: unknown): boolean =>
    typeof value === "bigint" && value >= -(2n ** 63n) && value < 2n ** 63n,
  compare: (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0),
});

/** A compiled Avro type: encodes and decodes plain JS values (records as objects, longs as bigint). */
export interface AvroType {
  /** Encodes one value; throws DATA_INVALID naming the offending field path. */
  encode(value: unknown): Buffer;
  /** Decodes one value at `offset`; returns the value and the offset just past it. */
  decode(bytes: Buffer, offset: number): { value: unknown; offset: number };
}

/** Compiled types by schema JSON text, least recently used first out. */
const compiledTypes = new Map<string, avsc.Type>();
const MAX_COMPILED_TYPES = 256;

function compiledType(schema: unknown, schemaText: string, what: string): avsc.Type {
  const cached = compiledTypes.get(schemaText);
  if (cached) {
    compiledTypes.delete(schemaText);
    compiledTypes.set(schemaText, cached);
    return cached;
  }
  let type: avsc.Type;
  try {
    type = avsc.Type.forSchema(schema as avsc.Schema, {
      // Both `"long"` and `{"type": "long", "logicalType": ...}` must decode to bigint.
      typeHook: (s: avsc.Schema) =>
        s === "long" || (typeof s === "object" && s !== null && (s as { type?: unknown }).type === "long")
          ? bigintLong
          : undefined,
    });
  } catch (error) {
    throw new IcebergError("DATA_INVALID", `${what}: invalid Avro schema: ${(error as Error).message}`, {
      cause: error,
    });
  }
  compiledTypes.set(schemaText, type);
  if (compiledTypes.size > MAX_COMPILED_TYPES) compiledTypes.delete(compiledTypes.keys().next().value!);
  return type;
}

/** `schemaText`: the schema's JSON when the caller has it already (the cache key). */
export function compileAvroSchema(
  schema: unknown,
  what: string,
  schemaText: string = JSON.stringify(schema),
): AvroType {
  const type = compiledType(schema, schemaText, what);
  return {
    encode(value) {
      try {
        return type.toBuffer(value);
      } catch (error) {
        // Validate only on failure (it doubles the cost) to name the offending field paths.
        const badPaths: string[] = [];
        type.isValid(value, { errorHook: (path: string[]) => badPaths.push(path.join(".")) });
        throw new IcebergError(
          "DATA_INVALID",
          `${what}: value does not match the Avro schema at ${badPaths.join(", ") || "(root)"}`,
          { cause: error },
        );
      }
    },
    decode(bytes, offset) {
      const result = type.decode(bytes, offset);
      if (result.offset < 0) {
        throw new IcebergError("DATA_INVALID", `${what}: truncated Avro record at byte ${offset}`);
      }
      return { value: result.value as unknown, offset: result.offset };
    },
  };
}

const MAGIC = Buffer.from([0x4f, 0x62, 0x6a, 0x01]); // "Obj" 1
const SYNC_SIZE = 16;
const TARGET_BLOCK_BYTES = 1024 * 1024;

const headerType = compileAvroSchema(
  {
    type: "record",
    name: "org.apache.avro.file.Header",
    fields: [
      { name: "magic", type: { type: "fixed", name: "Magic", size: 4 } },
      { name: "meta", type: { type: "map", values: "bytes" } },
      { name: "sync", type: { type: "fixed", name: "Sync", size: SYNC_SIZE } },
    ],
  },
  "Avro file header",
);
const longType = compileAvroSchema("long", "Avro block header");

export interface AvroFileWriteOptions {
  /** Written verbatim (as JSON) to `avro.schema`, so custom attributes such as `field-id` survive. */
  schema: AvroSchema;
  /** Extra key/value metadata for the header (Iceberg's `schema`, `partition-spec`, ...). */
  metadata: Record<string, string>;
  codec?: AvroCodec;
  /** Fixed sync marker for reproducible output in tests; random otherwise, as the Avro spec suggests. */
  syncMarker?: Uint8Array;
}

export function encodeAvroFile(
  options: AvroFileWriteOptions,
  records: Iterable<unknown>,
  what: string,
): Uint8Array {
  const codec = options.codec ?? "deflate";
  const schemaText = JSON.stringify(options.schema);
  const type = compileAvroSchema(options.schema, what, schemaText);
  const sync = Buffer.from(options.syncMarker ?? randomBytes(SYNC_SIZE));
  if (sync.length !== SYNC_SIZE)
    throw new IcebergError("DATA_INVALID", `${what}: sync marker must be 16 bytes`);
  const meta: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(options.metadata)) meta[key] = Buffer.from(value, "utf8");
  meta["avro.schema"] = Buffer.from(schemaText, "utf8");
  meta["avro.codec"] = Buffer.from(codec, "utf8");

  const chunks: Buffer[] = [headerType.encode({ magic: MAGIC, meta, sync })];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = () => {
    if (pending.length === 0) return;
    const raw = Buffer.concat(pending);
    const body = codec === "deflate" ? deflateRawSync(raw) : raw;
    chunks.push(longType.encode(BigInt(pending.length)), longType.encode(BigInt(body.length)), body, sync);
    pending = [];
    pendingBytes = 0;
  };
  for (const record of records) {
    const encoded = type.encode(record);
    pending.push(encoded);
    pendingBytes += encoded.length;
    if (pendingBytes >= TARGET_BLOCK_BYTES) flush();
  }
  flush();
  const out = Buffer.concat(chunks);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

export interface AvroFile {
  /** The writer's schema, parsed from `avro.schema` (raw JSON, custom attributes included). */
  schema: unknown;
  /** Header metadata other than the `avro.*` keys, decoded as UTF-8. */
  metadata: Map<string, string>;
  records: unknown[];
}

export function decodeAvroFile(bytes: Uint8Array, what: string): AvroFile {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new IcebergError("DATA_INVALID", `${what} is not an Avro object container file (bad magic bytes)`);
  }
  const header = headerType.decode(buf, 0);
  const { meta, sync } = header.value as { meta: Record<string, Buffer>; sync: Buffer };
  const schemaBytes = meta["avro.schema"];
  if (schemaBytes === undefined) throw new IcebergError("DATA_INVALID", `${what} has no avro.schema header`);
  const schemaText = schemaBytes.toString("utf8");
  let schema: unknown;
  try {
    schema = JSON.parse(schemaText);
  } catch (error) {
    throw new IcebergError("DATA_INVALID", `${what}: avro.schema header is not JSON`, { cause: error });
  }
  const codec = meta["avro.codec"]?.toString("utf8") ?? "null";
  if (codec !== "null" && codec !== "deflate") {
    throw new IcebergError(
      "FEATURE_UNSUPPORTED",
      `${what} uses Avro codec '${codec}'; Floe reads null and deflate`,
    );
  }
  const metadata = new Map<string, string>();
  for (const [key, value] of Object.entries(meta)) {
    if (!key.startsWith("avro.")) metadata.set(key, value.toString("utf8"));
  }

  const type = compileAvroSchema(schema, what, schemaText);
  const records: unknown[] = [];
  let offset = header.offset;
  while (offset < buf.length) {
    const count = longType.decode(buf, offset);
    const size = longType.decode(buf, count.offset);
    const start = size.offset;
    const end = start + Number(size.value as bigint);
    if (end + SYNC_SIZE > buf.length) throw new IcebergError("DATA_INVALID", `${what}: truncated Avro block`);
    if (!buf.subarray(end, end + SYNC_SIZE).equals(sync)) {
      throw new IcebergError(
        "DATA_INVALID",
        `${what}: Avro block at byte ${offset} does not end with the sync marker`,
      );
    }
    let body = buf.subarray(start, end);
    if (codec === "deflate") {
      try {
        body = inflateRawSync(body);
      } catch (error) {
        throw new IcebergError("DATA_INVALID", `${what}: cannot inflate Avro block at byte ${offset}`, {
          cause: error,
        });
      }
    }
    let position = 0;
    for (let i = 0n; i < (count.value as bigint); i++) {
      const decoded = type.decode(body, position);
      records.push(decoded.value);
      position = decoded.offset;
    }
    offset = end + SYNC_SIZE;
  }
  return { schema, metadata, records };
}

/** Converts a decoded long to a number, refusing values a number cannot hold exactly. */
export function toSafeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new IcebergError("DATA_INVALID", `${what} = ${value} is too large for Floe to handle`);
  }
  return Number(value);
}

export interface AvroFieldInfo {
  name: string;
  /** The field's schema with an optional `["null", T]` union unwrapped to `T`. */
  schema: unknown;
}

/** The non-null branch of an optional union, or the schema itself when it is not a union. */
export function nonNullBranch(schema: unknown): unknown {
  if (!Array.isArray(schema)) return schema;
  const branches = schema.filter((branch) => branch !== "null");
  return branches.length === 1 ? branches[0] : schema;
}

/**
 * Field id → field of a (writer's) Avro record schema. Iceberg readers resolve fields by id, not by name:
 * names differ between writers and versions (v1 manifest lists say `added_data_files_count`).
 */
export function fieldsById(recordSchema: unknown, what: string): Map<number, AvroFieldInfo> {
  const record = nonNullBranch(recordSchema) as { type?: unknown; fields?: unknown };
  if (
    typeof record !== "object" ||
    record === null ||
    record.type !== "record" ||
    !Array.isArray(record.fields)
  ) {
    throw new IcebergError("DATA_INVALID", `${what}: expected an Avro record schema`);
  }
  const byId = new Map<number, AvroFieldInfo>();
  for (const field of record.fields as Array<Record<string, unknown>>) {
    const id = field["field-id"];
    if (typeof id === "number" && typeof field.name === "string") {
      byId.set(id, { name: field.name, schema: nonNullBranch(field.type) });
    }
  }
  return byId;
}

/** Reads a decoded Avro record by Iceberg field id through the writer schema's id → name map. */
export function recordReader(fields: Map<number, AvroFieldInfo>): (record: unknown, id: number) => unknown {
  return (record, id) => {
    const field = fields.get(id);
    return field === undefined ? undefined : (record as Record<string, unknown>)[field.name];
  };
}
