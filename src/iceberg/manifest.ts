/**
 * Manifests (spec "Manifests"): the Avro file listing data or delete files of one partition spec, with the
 * spec's header metadata. Encoding also produces the manifest's `manifest_file` summary for the manifest
 * list; decoding applies sequence number and snapshot id inheritance from that summary.
 */
import {
  type AvroCodec,
  type AvroFieldInfo,
  decodeAvroFile,
  encodeAvroFile,
  fieldsById,
  nonNullBranch,
  recordReader,
  toSafeNumber,
} from "./avro.ts";
import {
  avroCompatibleName,
  avroToPrimitive,
  decimalRequiredBytes,
  ManifestEntryFieldId,
  manifestEntryAvroSchema,
} from "./avro-schemas.ts";
import { decimalFromBytes, uuidFromBytes, uuidToBytes } from "./conversions.ts";
import {
  type DataFile,
  DataFileContent,
  type FileFormat,
  type ManifestEntry,
  ManifestEntryStatus,
  type PartitionData,
  type PartitionValue,
} from "./data-file.ts";
import { IcebergError } from "./errors.ts";
import { ManifestContent, type ManifestFile } from "./manifest-list.ts";
import { PartitionSummaryBuilder, type PartitionValueComparator } from "./partition-summary.ts";
import type { PartitionFieldJson } from "./partitioning.ts";
import type { NestedField, PrimitiveType, StructType } from "./types.ts";

export interface ManifestWriteOptions {
  /** Where the caller will store the bytes: becomes `manifest_path` in the summary. */
  path: string;
  /** The snapshot committing this manifest: `added_snapshot_id`. */
  snapshotId: bigint;
  content: ManifestContent;
  /** The table schema's id and JSON (Appendix C) at the time of writing. */
  schemaId: number;
  schemaJson: object;
  partitionSpecId: number;
  partitionFields: readonly PartitionFieldJson[];
  /** The spec's partition type: one field per partition field, ids from the spec (≥ 1000). */
  partitionType: StructType;
  codec?: AvroCodec;
  /** Orders partition values for the bounds in the summary; by decoded value and type by default. */
  comparePartitionValues?: PartitionValueComparator;
  syncMarker?: Uint8Array;
}

export interface EncodedManifest {
  bytes: Uint8Array;
  /** The summary for the manifest list; sequence numbers stay unassigned until the list is written. */
  manifestFile: ManifestFile;
}

/** What to inherit null fields from: the manifest's `manifest_file` record in the manifest list. */
export type ManifestInheritance = Pick<ManifestFile, "sequenceNumber" | "addedSnapshotId">;

export interface Manifest {
  formatVersion: number;
  content: ManifestContent;
  schemaId: number | null;
  /** The `schema` header, parsed. */
  schemaJson: unknown;
  partitionSpecId: number;
  partitionFields: PartitionFieldJson[];
  /** The partition type as the file's Avro schema declares it (field ids, types, spec names). */
  partitionType: StructType;
  entries: ManifestEntry[];
}

const FORMAT_NAMES: Record<string, FileFormat> = {
  avro: "avro",
  orc: "orc",
  parquet: "parquet",
  puffin: "puffin",
};

const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** Avro stores decimals as fixed of the precision's size: two's complement, sign-extended. */
function decimalToFixed(unscaled: bigint, size: number): Buffer {
  const out = Buffer.alloc(size);
  let rest = BigInt.asUintN(8 * size, unscaled);
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return out;
}

function partitionValueToAvro(type: PrimitiveType, value: PartitionValue, what: string): unknown {
  if (value === null) return null;
  const fail = () => {
    throw new IcebergError("DATA_INVALID", `${what}: value ${String(value)} does not fit type ${type.kind}`);
  };
  switch (type.kind) {
    case "long":
    case "time":
    case "timestamp":
    case "timestamptz":
    case "timestamp_ns":
    case "timestamptz_ns":
      if (typeof value === "bigint") return value;
      if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
      return fail();
    case "uuid":
      if (typeof value === "string") return asBuffer(uuidToBytes(value));
      if (value instanceof Uint8Array && value.length === 16) return asBuffer(value);
      return fail();
    case "decimal":
      return typeof value === "bigint" ? decimalToFixed(value, decimalRequiredBytes(type.precision)) : fail();
    case "fixed":
    case "binary":
      return value instanceof Uint8Array ? asBuffer(value) : fail();
    default:
      // boolean, int, date, float, double, string: the JS value is the Avro value; avsc checks its type.
      return value;
  }
}

function partitionValueFromAvro(type: PrimitiveType, value: unknown): PartitionValue {
  if (value === null || value === undefined) return null;
  switch (type.kind) {
    case "uuid":
      return uuidFromBytes(value as Uint8Array);
    case "decimal":
      return decimalFromBytes(value as Uint8Array);
    case "fixed":
    case "binary":
      return Uint8Array.from(value as Uint8Array);
    default:
      return value as PartitionValue;
  }
}

function mapToAvro(map: Map<number, number> | undefined): unknown {
  return map === undefined ? null : [...map].map(([key, value]) => ({ key, value: BigInt(value) }));
}

function bytesMapToAvro(map: Map<number, Uint8Array> | undefined): unknown {
  return map === undefined ? null : [...map].map(([key, value]) => ({ key, value: asBuffer(value) }));
}

function checkEntry(entry: ManifestEntry, content: ManifestContent, what: string): void {
  const file = entry.dataFile;
  const isDelete = file.content !== DataFileContent.DATA;
  if (isDelete !== (content === ManifestContent.DELETES)) {
    throw new IcebergError(
      "DATA_INVALID",
      `${what}: ${file.filePath} has content ${file.content} and cannot go into a ` +
        `${content === ManifestContent.DELETES ? "delete" : "data"} manifest`,
    );
  }
  if (
    entry.status !== ManifestEntryStatus.ADDED &&
    (entry.sequenceNumber === null || entry.fileSequenceNumber === null)
  ) {
    // Only ADDED entries inherit; existing and deleted ones must keep the numbers they were given.
    throw new IcebergError(
      "DATA_INVALID",
      `${what}: ${file.filePath} is ${entry.status === ManifestEntryStatus.EXISTING ? "EXISTING" : "DELETED"} ` +
        "but has no sequence_number/file_sequence_number",
    );
  }
  if (file.content === DataFileContent.EQUALITY_DELETES && (file.equalityIds?.length ?? 0) === 0) {
    throw new IcebergError(
      "DATA_INVALID",
      `${what}: equality delete file ${file.filePath} has no equality_ids`,
    );
  }
}

function entryToAvro(entry: ManifestEntry, partitionType: StructType, what: string): unknown {
  const file = entry.dataFile;
  const partition: Record<string, unknown> = {};
  for (const field of partitionType.fields) {
    partition[avroNameOf(field)] = partitionValueToAvro(
      field.type as PrimitiveType,
      file.partition[field.name] ?? null,
      `${what}: ${file.filePath} partition field '${field.name}'`,
    );
  }
  return {
    status: entry.status,
    snapshot_id: entry.snapshotId,
    sequence_number: entry.sequenceNumber,
    file_sequence_number: entry.fileSequenceNumber,
    data_file: {
      content: file.content,
      file_path: file.filePath,
      // Upper case, as the reference implementation writes it; readers compare case-insensitively.
      file_format: file.fileFormat.toUpperCase(),
      partition,
      record_count: BigInt(file.recordCount),
      file_size_in_bytes: BigInt(file.fileSizeInBytes),
      column_sizes: mapToAvro(file.columnSizes),
      value_counts: mapToAvro(file.valueCounts),
      null_value_counts: mapToAvro(file.nullValueCounts),
      nan_value_counts: mapToAvro(file.nanValueCounts),
      lower_bounds: bytesMapToAvro(file.lowerBounds),
      upper_bounds: bytesMapToAvro(file.upperBounds),
      key_metadata: file.keyMetadata === undefined ? null : asBuffer(file.keyMetadata),
      split_offsets: file.splitOffsets?.map((offset) => BigInt(offset)) ?? null,
      equality_ids: file.equalityIds ?? null,
      sort_order_id: file.sortOrderId ?? null,
      referenced_data_file: file.referencedDataFile ?? null,
    },
  };
}

/** The partition record's Avro field name, as avro-schemas.ts derives it from the spec's name. */
const avroNameOf = (field: NestedField): string => avroCompatibleName(field.name);

/** Encodes a v2 manifest and computes its `manifest_file` summary. */
export function encodeManifest(
  options: ManifestWriteOptions,
  entries: Iterable<ManifestEntry>,
): EncodedManifest {
  const what = `manifest ${options.path}`;
  const summary = new PartitionSummaryBuilder(options.partitionType, options.comparePartitionValues);
  const counts = { added: 0, existing: 0, deleted: 0, addedRows: 0, existingRows: 0, deletedRows: 0 };
  let minSequenceNumber: bigint | null = null;
  const partitionType = options.partitionType;

  function* records(): Generator<unknown> {
    for (const entry of entries) {
      checkEntry(entry, options.content, what);
      const rows = entry.dataFile.recordCount;
      switch (entry.status) {
        case ManifestEntryStatus.ADDED:
          counts.added++;
          counts.addedRows += rows;
          break;
        case ManifestEntryStatus.EXISTING:
          counts.existing++;
          counts.existingRows += rows;
          break;
        case ManifestEntryStatus.DELETED:
          counts.deleted++;
          counts.deletedRows += rows;
          break;
      }
      // Live entries only; ADDED ones that inherit will get the list's sequence number, the newest there is.
      if (entry.status !== ManifestEntryStatus.DELETED && entry.sequenceNumber !== null) {
        if (minSequenceNumber === null || entry.sequenceNumber < minSequenceNumber) {
          minSequenceNumber = entry.sequenceNumber;
        }
      }
      summary.update(entry.dataFile.partition);
      yield entryToAvro(entry, partitionType, what);
    }
  }

  const bytes = encodeAvroFile(
    {
      schema: manifestEntryAvroSchema(partitionType),
      metadata: {
        schema: JSON.stringify(options.schemaJson),
        "schema-id": String(options.schemaId),
        "partition-spec": JSON.stringify(options.partitionFields),
        "partition-spec-id": String(options.partitionSpecId),
        "format-version": "2",
        content: options.content === ManifestContent.DELETES ? "deletes" : "data",
      },
      codec: options.codec ?? "deflate",
      ...(options.syncMarker ? { syncMarker: options.syncMarker } : {}),
    },
    records(),
    what,
  );
  return {
    bytes,
    manifestFile: {
      manifestPath: options.path,
      manifestLength: bytes.byteLength,
      partitionSpecId: options.partitionSpecId,
      content: options.content,
      sequenceNumber: null,
      minSequenceNumber,
      addedSnapshotId: options.snapshotId,
      addedFilesCount: counts.added,
      existingFilesCount: counts.existing,
      deletedFilesCount: counts.deleted,
      addedRowsCount: counts.addedRows,
      existingRowsCount: counts.existingRows,
      deletedRowsCount: counts.deletedRows,
      partitions: summary.summaries(),
      keyMetadata: null,
    },
  };
}

function parseJsonHeader(value: string | undefined, key: string, what: string): unknown {
  if (value === undefined) throw new IcebergError("DATA_INVALID", `${what} has no '${key}' header`);
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new IcebergError("DATA_INVALID", `${what}: header '${key}' is not JSON`, { cause: error });
  }
}

function parseIntHeader(value: string | undefined, key: string, what: string): number | null {
  if (value === undefined) return null;
  const parsed = Number(value);
  if (!Number.isInteger(parsed))
    throw new IcebergError("DATA_INVALID", `${what}: header '${key}' is '${value}'`);
  return parsed;
}

export interface ManifestDecodeOptions {
  /** Names the file in error messages. */
  path?: string;
  /**
   * The manifest's record in the manifest list. When given, ADDED entries with null sequence numbers
   * inherit its sequence number and entries with a null snapshot id inherit its added_snapshot_id.
   */
  inherit?: ManifestInheritance;
}

/** Decodes a manifest (v1 or v2; v3 fields Floe does not model are skipped). */
export function decodeManifest(bytes: Uint8Array, options: ManifestDecodeOptions = {}): Manifest {
  const what = `manifest ${options.path ?? "(in memory)"}`;
  const file = decodeAvroFile(bytes, what);
  const meta = file.metadata;
  const formatVersion = parseIntHeader(meta.get("format-version"), "format-version", what) ?? 1;
  const contentName = meta.get("content") ?? "data";
  if (contentName !== "data" && contentName !== "deletes") {
    throw new IcebergError("DATA_INVALID", `${what}: header 'content' is '${contentName}'`);
  }
  const content = contentName === "deletes" ? ManifestContent.DELETES : ManifestContent.DATA;
  const partitionFieldsJson = parseJsonHeader(meta.get("partition-spec"), "partition-spec", what);
  if (!Array.isArray(partitionFieldsJson)) {
    throw new IcebergError("DATA_INVALID", `${what}: header 'partition-spec' is not a JSON array of fields`);
  }
  const partitionFields = partitionFieldsJson as PartitionFieldJson[];

  const id = ManifestEntryFieldId;
  const entryFields = fieldsById(file.schema, `${what} manifest_entry schema`);
  const dataFileField = entryFields.get(id.dataFile);
  if (dataFileField === undefined)
    throw new IcebergError("DATA_INVALID", `${what}: schema has no data_file (2)`);
  const dataFileFields = fieldsById(dataFileField.schema, `${what} data_file schema`);
  const partitionField = dataFileFields.get(id.partition);
  if (partitionField === undefined)
    throw new IcebergError("DATA_INVALID", `${what}: schema has no partition (102)`);
  const partitionSchema = partitionField.schema as { fields?: Array<Record<string, unknown>> };

  // The partition type, read back from the Avro schema; names come from the spec by field id.
  const specNames = new Map(partitionFields.map((f) => [f["field-id"], f.name]));
  const partitionAvroNames: string[] = [];
  const partitionType: StructType = {
    kind: "struct",
    fields: (partitionSchema.fields ?? []).map((field, index): NestedField => {
      const avroName = String(field.name);
      const fieldId = typeof field["field-id"] === "number" ? field["field-id"] : 1000 + index;
      partitionAvroNames.push(avroName);
      return {
        id: fieldId,
        name: specNames.get(fieldId) ?? avroName,
        required: false,
        type: avroToPrimitive(nonNullBranch(field.type), `${what} partition field '${avroName}'`),
      };
    }),
  };

  const getEntry = recordReader(entryFields);
  const getFile = recordReader(dataFileFields);
  const mapField = (fieldId: number): Map<number, AvroFieldInfo> | undefined => {
    const schema = dataFileFields.get(fieldId)?.schema as { items?: unknown } | undefined;
    return schema?.items === undefined ? undefined : fieldsById(schema.items, `${what} map ${fieldId}`);
  };
  const mapSchemas = new Map<number, Map<number, AvroFieldInfo> | undefined>();
  const readMap = <V>(
    record: unknown,
    fieldId: number,
    convert: (value: unknown) => V,
  ): Map<number, V> | undefined => {
    const raw = getFile(record, fieldId);
    if (raw === null || raw === undefined) return undefined;
    if (!mapSchemas.has(fieldId)) mapSchemas.set(fieldId, mapField(fieldId));
    const kv = mapSchemas.get(fieldId);
    const out = new Map<number, V>();
    for (const pair of raw as Array<Record<string, unknown>>) {
      // Key and value are the element record's first and second fields (Appendix A), whatever their names.
      const [keyName, valueName] = kv === undefined ? ["key", "value"] : [...kv.values()].map((f) => f.name);
      out.set(pair[keyName ?? "key"] as number, convert(pair[valueName ?? "value"]));
    }
    return out;
  };

  const inherit = options.inherit;
  const entries = file.records.map((record, index): ManifestEntry => {
    const where = `${what} entry ${index}`;
    const status = getEntry(record, id.status);
    if (status !== 0 && status !== 1 && status !== 2) {
      throw new IcebergError("DATA_INVALID", `${where}: status is ${String(status)}`);
    }
    const fileRecord = getEntry(record, id.dataFile);
    const filePath = getFile(fileRecord, id.filePath);
    if (typeof filePath !== "string") throw new IcebergError("DATA_INVALID", `${where}: no file_path`);
    const formatName = String(getFile(fileRecord, id.fileFormat)).toLowerCase();
    const fileFormat = FORMAT_NAMES[formatName];
    if (fileFormat === undefined) {
      throw new IcebergError("DATA_INVALID", `${where}: ${filePath} has unknown file_format '${formatName}'`);
    }
    const fileContent = (getFile(fileRecord, id.content) ?? DataFileContent.DATA) as number;
    if (fileContent !== 0 && fileContent !== 1 && fileContent !== 2) {
      throw new IcebergError("DATA_INVALID", `${where}: ${filePath} has unknown content ${fileContent}`);
    }
    const rawPartition = (getFile(fileRecord, id.partition) ?? {}) as Record<string, unknown>;
    const partition: PartitionData = {};
    partitionType.fields.forEach((field, i) => {
      partition[field.name] = partitionValueFromAvro(
        field.type as PrimitiveType,
        rawPartition[partitionAvroNames[i] ?? field.name],
      );
    });
    const toNumber = (value: unknown, name: string) =>
      typeof value === "bigint" ? toSafeNumber(value, `${where} ${name}`) : (value as number);

    const dataFile: DataFile = {
      content: fileContent,
      filePath,
      fileFormat,
      partition,
      recordCount: toNumber(getFile(fileRecord, id.recordCount), "record_count"),
      fileSizeInBytes: toNumber(getFile(fileRecord, id.fileSizeInBytes), "file_size_in_bytes"),
    };
    const counts = (fieldId: number, name: string) => readMap(fileRecord, fieldId, (v) => toNumber(v, name));
    const bounds = (fieldId: number) => readMap(fileRecord, fieldId, (v) => Uint8Array.from(v as Uint8Array));
    const columnSizes = counts(id.columnSizes, "column_sizes");
    if (columnSizes) dataFile.columnSizes = columnSizes;
    const valueCounts = counts(id.valueCounts, "value_counts");
    if (valueCounts) dataFile.valueCounts = valueCounts;
    const nullValueCounts = counts(id.nullValueCounts, "null_value_counts");
    if (nullValueCounts) dataFile.nullValueCounts = nullValueCounts;
    const nanValueCounts = counts(id.nanValueCounts, "nan_value_counts");
    if (nanValueCounts) dataFile.nanValueCounts = nanValueCounts;
    const lowerBounds = bounds(id.lowerBounds);
    if (lowerBounds) dataFile.lowerBounds = lowerBounds;
    const upperBounds = bounds(id.upperBounds);
    if (upperBounds) dataFile.upperBounds = upperBounds;
    const keyMetadata = getFile(fileRecord, id.keyMetadata);
    if (keyMetadata instanceof Uint8Array) dataFile.keyMetadata = Uint8Array.from(keyMetadata);
    const splitOffsets = getFile(fileRecord, id.splitOffsets);
    if (Array.isArray(splitOffsets))
      dataFile.splitOffsets = splitOffsets.map((o) => toNumber(o, "split_offsets"));
    const equalityIds = getFile(fileRecord, id.equalityIds);
    // Some writers (pyiceberg) declare equality_ids as a list of longs.
    if (Array.isArray(equalityIds))
      dataFile.equalityIds = equalityIds.map((v: unknown) => toNumber(v, "equality_ids"));
    const sortOrderId = getFile(fileRecord, id.sortOrderId);
    if (typeof sortOrderId === "number") dataFile.sortOrderId = sortOrderId;
    const referencedDataFile = getFile(fileRecord, id.referencedDataFile);
    if (typeof referencedDataFile === "string") dataFile.referencedDataFile = referencedDataFile;

    const longOrNull = (value: unknown): bigint | null => (typeof value === "bigint" ? value : null);
    let snapshotId = longOrNull(getEntry(record, id.snapshotId));
    let sequenceNumber = longOrNull(getEntry(record, id.sequenceNumber));
    let fileSequenceNumber = longOrNull(getEntry(record, id.fileSequenceNumber));
    if (formatVersion < 2) {
      // v1 manifests have no sequence numbers: all files are at sequence number 0.
      sequenceNumber ??= 0n;
      fileSequenceNumber ??= 0n;
    }
    if (inherit !== undefined) {
      snapshotId ??= inherit.addedSnapshotId;
      // Inherit only into ADDED entries (the spec), or from a manifest at sequence number 0 (v1 upgrades).
      if (
        inherit.sequenceNumber !== null &&
        (status === ManifestEntryStatus.ADDED || inherit.sequenceNumber === 0n)
      ) {
        sequenceNumber ??= inherit.sequenceNumber;
        fileSequenceNumber ??= inherit.sequenceNumber;
      }
    }
    return { status, snapshotId, sequenceNumber, fileSequenceNumber, dataFile };
  });

  return {
    formatVersion,
    content,
    schemaId: parseIntHeader(meta.get("schema-id"), "schema-id", what),
    schemaJson: parseJsonHeader(meta.get("schema"), "schema", what),
    partitionSpecId: parseIntHeader(meta.get("partition-spec-id"), "partition-spec-id", what) ?? 0,
    partitionFields,
    partitionType,
    entries,
  };
}
