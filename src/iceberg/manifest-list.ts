/**
 * Manifest lists (spec "Manifest Lists"): the per-snapshot Avro file of `manifest_file` records, with the
 * snapshot's ids and sequence number in its header. Writing one is where a snapshot's (optimistic)
 * sequence number reaches the manifests it added: they are written with it unassigned and the list fills it
 * in, so a retried commit rewrites only the list.
 */
import {
  type AvroCodec,
  decodeAvroFile,
  encodeAvroFile,
  fieldsById,
  recordReader,
  toSafeNumber,
} from "./avro.ts";
import { ManifestFileFieldId, manifestFileAvroSchema } from "./avro-schemas.ts";
import { IcebergError } from "./errors.ts";
import type { PartitionFieldSummary } from "./partition-summary.ts";

/** `manifest_file.content` (field 517); the manifest header spells it "data" / "deletes". */
export const ManifestContent = {
  DATA: 0,
  DELETES: 1,
} as const;
export type ManifestContent = (typeof ManifestContent)[keyof typeof ManifestContent];

export interface ManifestFile {
  manifestPath: string;
  manifestLength: number;
  partitionSpecId: number;
  content: ManifestContent;
  /** Sequence number of the snapshot that added the manifest; null = unassigned (not yet in a list). */
  sequenceNumber: bigint | null;
  /** Lowest data sequence number of live entries; null = unassigned (all live entries inherit). */
  minSequenceNumber: bigint | null;
  addedSnapshotId: bigint;
  addedFilesCount: number;
  existingFilesCount: number;
  deletedFilesCount: number;
  addedRowsCount: number;
  existingRowsCount: number;
  deletedRowsCount: number;
  /** One summary per partition field of the manifest's spec, in spec order. */
  partitions: PartitionFieldSummary[] | null;
  keyMetadata: Uint8Array | null;
}

export interface ManifestListWriteOptions {
  snapshotId: bigint;
  parentSnapshotId: bigint | null;
  /** The snapshot's sequence number: assigned to every manifest in the list that has none yet. */
  sequenceNumber: bigint;
  codec?: AvroCodec;
  syncMarker?: Uint8Array;
}

export interface ManifestList {
  formatVersion: number;
  snapshotId: bigint | null;
  parentSnapshotId: bigint | null;
  sequenceNumber: bigint | null;
  manifests: ManifestFile[];
}

/**
 * Fills in the snapshot's sequence number where a manifest's is unassigned. Only manifests the committing
 * snapshot added can be unassigned; anything else means an older manifest lost its number.
 */
export function assignSequenceNumbers(
  manifests: readonly ManifestFile[],
  snapshotId: bigint,
  sequenceNumber: bigint,
): ManifestFile[] {
  return manifests.map((manifest) => {
    if (manifest.sequenceNumber !== null && manifest.minSequenceNumber !== null) return manifest;
    if (manifest.addedSnapshotId !== snapshotId) {
      throw new IcebergError(
        "DATA_INVALID",
        `manifest ${manifest.manifestPath} has no sequence number but was added by snapshot ` +
          `${manifest.addedSnapshotId}, not by the committing snapshot ${snapshotId}`,
      );
    }
    return {
      ...manifest,
      sequenceNumber: manifest.sequenceNumber ?? sequenceNumber,
      minSequenceNumber: manifest.minSequenceNumber ?? sequenceNumber,
    };
  });
}

const toBuffer = (bytes: Uint8Array | null): Buffer | null =>
  bytes === null ? null : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** Encodes a v2 manifest list; manifests with unassigned sequence numbers get the snapshot's. */
export function encodeManifestList(
  options: ManifestListWriteOptions,
  manifests: readonly ManifestFile[],
): Uint8Array {
  const assigned = assignSequenceNumbers(manifests, options.snapshotId, options.sequenceNumber);
  const records = assigned.map((m) => ({
    manifest_path: m.manifestPath,
    manifest_length: BigInt(m.manifestLength),
    partition_spec_id: m.partitionSpecId,
    content: m.content,
    sequence_number: m.sequenceNumber,
    min_sequence_number: m.minSequenceNumber,
    added_snapshot_id: m.addedSnapshotId,
    added_files_count: m.addedFilesCount,
    existing_files_count: m.existingFilesCount,
    deleted_files_count: m.deletedFilesCount,
    added_rows_count: BigInt(m.addedRowsCount),
    existing_rows_count: BigInt(m.existingRowsCount),
    deleted_rows_count: BigInt(m.deletedRowsCount),
    partitions:
      m.partitions?.map((p) => ({
        contains_null: p.containsNull,
        contains_nan: p.containsNan,
        lower_bound: toBuffer(p.lowerBound),
        upper_bound: toBuffer(p.upperBound),
      })) ?? null,
    key_metadata: toBuffer(m.keyMetadata),
  }));
  return encodeAvroFile(
    {
      schema: manifestFileAvroSchema(),
      metadata: {
        "snapshot-id": options.snapshotId.toString(),
        // "null" for a root snapshot, as other writers spell the absent parent.
        "parent-snapshot-id":
          options.parentSnapshotId === null ? "null" : options.parentSnapshotId.toString(),
        "sequence-number": options.sequenceNumber.toString(),
        "format-version": "2",
      },
      codec: options.codec ?? "deflate",
      ...(options.syncMarker ? { syncMarker: options.syncMarker } : {}),
    },
    records,
    "manifest list",
  );
}

function parseLongHeader(value: string | undefined, what: string): bigint | null {
  if (value === undefined || value === "null" || value === "") return null;
  if (!/^-?\d+$/.test(value)) throw new IcebergError("DATA_INVALID", `${what} '${value}' is not an integer`);
  return BigInt(value);
}

const copyBytes = (value: unknown): Uint8Array | null =>
  value instanceof Uint8Array ? Uint8Array.from(value) : null;

/** Decodes a manifest list (v1 or v2); v1 fields missing in the file get the spec's v2 defaults. */
export function decodeManifestList(bytes: Uint8Array, path = "manifest list"): ManifestList {
  const file = decodeAvroFile(bytes, path);
  const formatVersion = Number(file.metadata.get("format-version") ?? "1");
  const id = ManifestFileFieldId;
  const fields = fieldsById(file.schema, `${path} manifest_file schema`);
  const get = recordReader(fields);
  const partitionsSchema = fields.get(id.partitions)?.schema as { items?: unknown } | undefined;
  const getSummary = recordReader(
    partitionsSchema?.items === undefined
      ? new Map()
      : fieldsById(partitionsSchema.items, `${path} field_summary`),
  );

  const manifests = file.records.map((record, index): ManifestFile => {
    const what = `${path} manifest_file ${index}`;
    const long = (fieldId: number, name: string, v1Default?: bigint): bigint => {
      const value = get(record, fieldId);
      if (typeof value === "bigint") return value;
      if ((value === undefined || value === null) && v1Default !== undefined && formatVersion < 2)
        return v1Default;
      throw new IcebergError("DATA_INVALID", `${what}: required field ${name} (${fieldId}) is missing`);
    };
    const count = (fieldId: number, name: string): number => {
      const value = get(record, fieldId);
      if (typeof value === "number") return value;
      if (typeof value === "bigint") return toSafeNumber(value, `${what} ${name}`);
      // Null means "unknown, assume non-zero" in v1; treating it as 0 would make scans skip the manifest.
      throw new IcebergError(
        "FEATURE_UNSUPPORTED",
        `${what}: ${name} (${fieldId}) is null, as v1 manifest lists may leave it; Floe needs the counts`,
      );
    };
    const manifestPath = get(record, id.manifestPath);
    if (typeof manifestPath !== "string") {
      throw new IcebergError("DATA_INVALID", `${what}: required field manifest_path (500) is missing`);
    }
    const partitionSpecId = get(record, id.partitionSpecId);
    if (typeof partitionSpecId !== "number") {
      throw new IcebergError("DATA_INVALID", `${what}: required field partition_spec_id (502) is missing`);
    }
    const content = (get(record, id.content) ?? ManifestContent.DATA) as number;
    if (content !== ManifestContent.DATA && content !== ManifestContent.DELETES) {
      throw new IcebergError("DATA_INVALID", `${what}: unknown manifest content ${content}`);
    }
    const rawPartitions = get(record, id.partitions);
    const partitions = Array.isArray(rawPartitions)
      ? rawPartitions.map(
          (summary): PartitionFieldSummary => ({
            containsNull: getSummary(summary, id.containsNull) === true,
            containsNan: ((value) => (typeof value === "boolean" ? value : null))(
              getSummary(summary, id.containsNan),
            ),
            lowerBound: copyBytes(getSummary(summary, id.lowerBound)),
            upperBound: copyBytes(getSummary(summary, id.upperBound)),
          }),
        )
      : null;
    return {
      manifestPath,
      manifestLength: toSafeNumber(long(id.manifestLength, "manifest_length"), `${what} manifest_length`),
      partitionSpecId,
      content,
      sequenceNumber: long(id.sequenceNumber, "sequence_number", 0n),
      minSequenceNumber: long(id.minSequenceNumber, "min_sequence_number", 0n),
      addedSnapshotId: long(id.addedSnapshotId, "added_snapshot_id"),
      addedFilesCount: count(id.addedFilesCount, "added_files_count"),
      existingFilesCount: count(id.existingFilesCount, "existing_files_count"),
      deletedFilesCount: count(id.deletedFilesCount, "deleted_files_count"),
      addedRowsCount: count(id.addedRowsCount, "added_rows_count"),
      existingRowsCount: count(id.existingRowsCount, "existing_rows_count"),
      deletedRowsCount: count(id.deletedRowsCount, "deleted_rows_count"),
      partitions,
      keyMetadata: copyBytes(get(record, id.keyMetadata)),
    };
  });
  return {
    formatVersion,
    snapshotId: parseLongHeader(file.metadata.get("snapshot-id"), `${path} snapshot-id`),
    parentSnapshotId: parseLongHeader(file.metadata.get("parent-snapshot-id"), `${path} parent-snapshot-id`),
    sequenceNumber: parseLongHeader(file.metadata.get("sequence-number"), `${path} sequence-number`),
    manifests,
  };
}
