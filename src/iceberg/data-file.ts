/**
 * The spec's `data_file` and `manifest_entry` structs (section "Manifests"): what a manifest says about each
 * data or delete file. Field names follow the spec in camelCase. 64-bit ids and sequence numbers are
 * `bigint`; counts, sizes and offsets are `number` (exact up to 2^53, far beyond any real file).
 */
import type { PrimitiveValue } from "./conversions.ts";
import type { StructType } from "./types.ts";

/** `data_file.content` (field 134). */
export const DataFileContent = {
  DATA: 0,
  POSITION_DELETES: 1,
  EQUALITY_DELETES: 2,
} as const;
export type DataFileContent = (typeof DataFileContent)[keyof typeof DataFileContent];

/** `manifest_entry.status` (field 0). */
export const ManifestEntryStatus = {
  EXISTING: 0,
  ADDED: 1,
  DELETED: 2,
} as const;
export type ManifestEntryStatus = (typeof ManifestEntryStatus)[keyof typeof ManifestEntryStatus];

/** `data_file.file_format` (field 101), lower case as the spec writes it. */
export type FileFormat = "avro" | "orc" | "parquet" | "puffin";

/**
 * A partition value in the representation of the partition field's result type, as conversions.ts defines
 * it (int/date → number, long/time/timestamps → bigint, decimal → unscaled bigint, uuid → string,
 * fixed/binary → Uint8Array, ...); null when the value is null.
 */
export type PartitionValue = PrimitiveValue | null;

/** A partition tuple keyed by partition field name (`partition`, field 102). */
export type PartitionData = Record<string, PartitionValue>;

export interface DataFile {
  content: DataFileContent;
  /** Full URI of the file, with scheme. */
  filePath: string;
  fileFormat: FileFormat;
  partition: PartitionData;
  recordCount: number;
  fileSizeInBytes: number;
  /** Field id → bytes on disk for the column (field 108). */
  columnSizes?: Map<number, number>;
  /** Field id → values including nulls and NaNs (field 109). */
  valueCounts?: Map<number, number>;
  /** Field id → null values (field 110). */
  nullValueCounts?: Map<number, number>;
  /** Field id → NaN values (field 137). */
  nanValueCounts?: Map<number, number>;
  /** Field id → lower bound in the spec's binary single-value serialization (field 125); opaque here. */
  lowerBounds?: Map<number, Uint8Array>;
  /** Field id → upper bound in the spec's binary single-value serialization (field 128); opaque here. */
  upperBounds?: Map<number, Uint8Array>;
  keyMetadata?: Uint8Array;
  /** Ascending split offsets, e.g. Parquet row group offsets (field 132). */
  splitOffsets?: number[];
  /** Field ids that define row equality; required for equality deletes, absent otherwise (field 135). */
  equalityIds?: number[];
  /** Null for position delete files (field 140). */
  sortOrderId?: number;
  /** The one data file all position deletes in this file refer to (field 143). */
  referencedDataFile?: string;
}

export interface ManifestEntry {
  status: ManifestEntryStatus;
  /** Snapshot that added (or, for DELETED, removed) the file; null = inherit from the manifest list. */
  snapshotId: bigint | null;
  /** Data sequence number; null on ADDED entries = inherit the manifest's sequence number when read. */
  sequenceNumber: bigint | null;
  /** Sequence number of the snapshot that added the file; null on ADDED entries = inherit. */
  fileSequenceNumber: bigint | null;
  dataFile: DataFile;
}

export function isDeleteFile(file: DataFile): boolean {
  return file.content !== DataFileContent.DATA;
}

/** Keys positional partition values (partitioning.ts `PartitionValues`, spec order) by field name. */
export function partitionDataFromValues(
  partitionType: StructType,
  values: readonly PartitionValue[],
): PartitionData {
  const data: PartitionData = {};
  partitionType.fields.forEach((field, index) => {
    data[field.name] = values[index] ?? null;
  });
  return data;
}
