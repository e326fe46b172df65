/**
 * The Avro schemas of Iceberg's metadata files — `manifest_entry` (with its `data_file` and the partition
 * record derived from the partition spec) and `manifest_file` — with every field id the spec assigns, and
 * the Iceberg → Avro type mapping of the spec's Appendix A for partition values.
 */
import type { AvroArraySchema, AvroRecordField, AvroRecordSchema, AvroSchema } from "./avro.ts";
import { IcebergError } from "./errors.ts";
import type { NestedField, PrimitiveType, StructType } from "./types.ts";

/** Field ids the spec fixes for `manifest_entry` and `data_file`. */
export const ManifestEntryFieldId = {
  status: 0,
  snapshotId: 1,
  dataFile: 2,
  sequenceNumber: 3,
  fileSequenceNumber: 4,
  filePath: 100,
  fileFormat: 101,
  partition: 102,
  recordCount: 103,
  fileSizeInBytes: 104,
  columnSizes: 108,
  valueCounts: 109,
  nullValueCounts: 110,
  lowerBounds: 125,
  upperBounds: 128,
  keyMetadata: 131,
  splitOffsets: 132,
  content: 134,
  equalityIds: 135,
  nanValueCounts: 137,
  sortOrderId: 140,
  referencedDataFile: 143,
} as const;

/** Field ids the spec fixes for `manifest_file` and `field_summary`. */
export const ManifestFileFieldId = {
  manifestPath: 500,
  manifestLength: 501,
  partitionSpecId: 502,
  addedSnapshotId: 503,
  addedFilesCount: 504,
  existingFilesCount: 505,
  deletedFilesCount: 506,
  partitions: 507,
  partitionsElement: 508,
  containsNull: 509,
  lowerBound: 510,
  upperBound: 511,
  addedRowsCount: 512,
  existingRowsCount: 513,
  deletedRowsCount: 514,
  sequenceNumber: 515,
  minSequenceNumber: 516,
  content: 517,
  containsNan: 518,
  keyMetadata: 519,
} as const;

/** Optional fields are `["null", T]` unions defaulting to null, as Appendix A requires. */
const optional = (name: string, fieldId: number, type: AvroSchema): AvroRecordField => ({
  name,
  type: ["null", type],
  default: null,
  "field-id": fieldId,
});

const required = (name: string, fieldId: number, type: AvroSchema): AvroRecordField => ({
  name,
  type,
  "field-id": fieldId,
});

/** An Iceberg map with non-string keys: an Avro array of key/value records with logical type `map`. */
function intKeyedMap(keyId: number, valueId: number, value: AvroSchema): AvroArraySchema {
  return {
    type: "array",
    logicalType: "map",
    items: {
      type: "record",
      name: `k${keyId}_v${valueId}`,
      fields: [
        { name: "key", type: "int", "field-id": keyId },
        { name: "value", type: value, "field-id": valueId },
      ],
    },
  };
}

const list = (elementId: number, items: AvroSchema): AvroArraySchema => ({
  type: "array",
  items,
  "element-id": elementId,
});

/**
 * Avro record names are restricted to [A-Za-z_][A-Za-z0-9_]*; Iceberg names are not. Other characters are
 * replaced by `_x` and their hex code (and a leading digit is prefixed with `_`), the convention Iceberg's
 * reference implementation uses, so the same partition field gets the same Avro name in every engine.
 * Readers go by `field-id`, never by this name.
 */
export function avroCompatibleName(name: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return name;
  let out = "";
  for (const [index, char] of [...name].entries()) {
    const code = char.codePointAt(0) ?? 0;
    if (/[A-Za-z_]/.test(char) || (index > 0 && /[0-9]/.test(char))) out += char;
    else if (/[0-9]/.test(char)) out += `_${char}`;
    else out += `_x${code.toString(16).toUpperCase()}`;
  }
  return out;
}

/** Bytes needed to store any unscaled decimal of this precision in two's complement. */
export function decimalRequiredBytes(precision: number): number {
  const maxUnscaled = 10n ** BigInt(precision) - 1n;
  let bytes = 1;
  while (2n ** BigInt(8 * bytes - 1) - 1n < maxUnscaled) bytes++;
  return bytes;
}

/** The spec's Appendix A mapping of a primitive Iceberg type to Avro. `fixedName` names fixed types. */
export function primitiveToAvro(type: PrimitiveType, fixedName: string): AvroSchema {
  switch (type.kind) {
    case "boolean":
    case "int":
    case "long":
    case "float":
    case "double":
    case "string":
      return type.kind;
    case "binary":
      return "bytes";
    case "date":
      return { type: "int", logicalType: "date" };
    case "time":
      return { type: "long", logicalType: "time-micros" };
    case "timestamp":
      return { type: "long", logicalType: "timestamp-micros", "adjust-to-utc": false };
    case "timestamptz":
      return { type: "long", logicalType: "timestamp-micros", "adjust-to-utc": true };
    case "timestamp_ns":
      return { type: "long", logicalType: "timestamp-nanos", "adjust-to-utc": false };
    case "timestamptz_ns":
      return { type: "long", logicalType: "timestamp-nanos", "adjust-to-utc": true };
    case "uuid":
      return { type: "fixed", name: fixedName, size: 16, logicalType: "uuid" };
    case "fixed":
      return { type: "fixed", name: fixedName, size: type.length };
    case "decimal":
      return {
        type: "fixed",
        name: fixedName,
        size: decimalRequiredBytes(type.precision),
        logicalType: "decimal",
        precision: type.precision,
        scale: type.scale,
      };
  }
}

/** The inverse of `primitiveToAvro`, for reading the partition type back from a manifest's schema. */
export function avroToPrimitive(schema: unknown, what: string): PrimitiveType {
  if (typeof schema === "string") {
    switch (schema) {
      case "boolean":
      case "int":
      case "long":
      case "float":
      case "double":
      case "string":
        return { kind: schema };
      case "bytes":
        return { kind: "binary" };
    }
  } else if (typeof schema === "object" && schema !== null && !Array.isArray(schema)) {
    const s = schema as Record<string, unknown>;
    const utc = s["adjust-to-utc"] === true;
    if (s.type === "int") return s.logicalType === "date" ? { kind: "date" } : { kind: "int" };
    if (s.type === "long") {
      switch (s.logicalType) {
        case "time-micros":
          return { kind: "time" };
        case "timestamp-micros":
          return { kind: utc ? "timestamptz" : "timestamp" };
        case "timestamp-nanos":
          return { kind: utc ? "timestamptz_ns" : "timestamp_ns" };
        default:
          return { kind: "long" };
      }
    }
    if (s.type === "fixed" && typeof s.size === "number") {
      if (s.logicalType === "uuid") return { kind: "uuid" };
      if (s.logicalType === "decimal" && typeof s.precision === "number") {
        return { kind: "decimal", precision: s.precision, scale: typeof s.scale === "number" ? s.scale : 0 };
      }
      return { kind: "fixed", length: s.size };
    }
    if (s.type === "string" || s.type === "bytes" || s.type === "boolean")
      return avroToPrimitive(s.type, what);
    if (s.type === "float" || s.type === "double") return { kind: s.type };
  }
  throw new IcebergError("DATA_INVALID", `${what}: unsupported Avro type ${JSON.stringify(schema)}`);
}

/** The `partition` record (field 102): one optional field per partition field, with its field id. */
export function partitionAvroSchema(partitionType: StructType): AvroRecordSchema {
  return {
    type: "record",
    name: "r102",
    fields: partitionType.fields.map((field: NestedField) => {
      if (field.type.kind === "struct" || field.type.kind === "list" || field.type.kind === "map") {
        throw new IcebergError(
          "DATA_INVALID",
          `partition field '${field.name}' (${field.id}) has nested type ${field.type.kind}`,
        );
      }
      return optional(
        avroCompatibleName(field.name),
        field.id,
        primitiveToAvro(field.type, `fixed_${field.id}`),
      );
    }),
  };
}

/** The `data_file` record (field 2) of format version 2. */
export function dataFileAvroSchema(partitionType: StructType): AvroRecordSchema {
  const id = ManifestEntryFieldId;
  return {
    type: "record",
    name: "r2",
    fields: [
      required("content", id.content, "int"),
      required("file_path", id.filePath, "string"),
      required("file_format", id.fileFormat, "string"),
      required("partition", id.partition, partitionAvroSchema(partitionType)),
      required("record_count", id.recordCount, "long"),
      required("file_size_in_bytes", id.fileSizeInBytes, "long"),
      optional("column_sizes", id.columnSizes, intKeyedMap(117, 118, "long")),
      optional("value_counts", id.valueCounts, intKeyedMap(119, 120, "long")),
      optional("null_value_counts", id.nullValueCounts, intKeyedMap(121, 122, "long")),
      optional("nan_value_counts", id.nanValueCounts, intKeyedMap(138, 139, "long")),
      optional("lower_bounds", id.lowerBounds, intKeyedMap(126, 127, "bytes")),
      optional("upper_bounds", id.upperBounds, intKeyedMap(129, 130, "bytes")),
      optional("key_metadata", id.keyMetadata, "bytes"),
      optional("split_offsets", id.splitOffsets, list(133, "long")),
      optional("equality_ids", id.equalityIds, list(136, "int")),
      optional("sort_order_id", id.sortOrderId, "int"),
      optional("referenced_data_file", id.referencedDataFile, "string"),
    ],
  };
}

/** The `manifest_entry` record: the schema of a v2 manifest file. */
export function manifestEntryAvroSchema(partitionType: StructType): AvroRecordSchema {
  const id = ManifestEntryFieldId;
  return {
    type: "record",
    name: "manifest_entry",
    fields: [
      required("status", id.status, "int"),
      optional("snapshot_id", id.snapshotId, "long"),
      optional("sequence_number", id.sequenceNumber, "long"),
      optional("file_sequence_number", id.fileSequenceNumber, "long"),
      required("data_file", id.dataFile, dataFileAvroSchema(partitionType)),
    ],
  };
}

/** The `field_summary` record (element 508 of `partitions`). */
function fieldSummaryAvroSchema(): AvroRecordSchema {
  const id = ManifestFileFieldId;
  return {
    type: "record",
    name: "r508",
    fields: [
      required("contains_null", id.containsNull, "boolean"),
      optional("contains_nan", id.containsNan, "boolean"),
      optional("lower_bound", id.lowerBound, "bytes"),
      optional("upper_bound", id.upperBound, "bytes"),
    ],
  };
}

/** The `manifest_file` record: the schema of a v2 manifest list. */
export function manifestFileAvroSchema(): AvroRecordSchema {
  const id = ManifestFileFieldId;
  return {
    type: "record",
    name: "manifest_file",
    fields: [
      required("manifest_path", id.manifestPath, "string"),
      required("manifest_length", id.manifestLength, "long"),
      required("partition_spec_id", id.partitionSpecId, "int"),
      required("content", id.content, "int"),
      required("sequence_number", id.sequenceNumber, "long"),
      required("min_sequence_number", id.minSequenceNumber, "long"),
      required("added_snapshot_id", id.addedSnapshotId, "long"),
      required("added_files_count", id.addedFilesCount, "int"),
      required("existing_files_count", id.existingFilesCount, "int"),
      required("deleted_files_count", id.deletedFilesCount, "int"),
      required("added_rows_count", id.addedRowsCount, "long"),
      required("existing_rows_count", id.existingRowsCount, "long"),
      required("deleted_rows_count", id.deletedRowsCount, "long"),
      optional("partitions", id.partitions, list(id.partitionsElement, fieldSummaryAvroSchema())),
      optional("key_metadata", id.keyMetadata, "bytes"),
    ],
  };
}
