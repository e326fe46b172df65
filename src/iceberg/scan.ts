/**
 * Scan planning (spec "Scan Planning"): picks the snapshot to read, reads its manifest list and manifests
 * through FileIO, keeps the data files that may match a row filter — manifests by partition summaries and
 * entries by partition tuple, each with the filter projected through its own spec, then files by column
 * metrics — and attaches the delete files that apply to each (delete-file-index.ts).
 *
 * Which schema a scan reads with: the current schema when reading the current snapshot or a branch (a
 * branch's head is written with the table's schema), the snapshot's `schema-id` when time-travelling to a
 * snapshot id, a tag or a timestamp (falling back to the current schema when the snapshot has none). This
 * is what the Java reference does and what pyiceberg does for `snapshot_id`.
 */

import type { FileIO } from "../io/file-io.ts";
import type { PartitionValue } from "./data-file.ts";
import { type DataFile, DataFileContent, ManifestEntryStatus } from "./data-file.ts";
import { DeleteFileIndex, type IndexedDeleteFile } from "./delete-file-index.ts";
import { IcebergError } from "./errors.ts";
import { type BoundExpression, bind, type Expression, evaluate } from "./expressions.ts";
import { decodeManifest } from "./manifest.ts";
import { decodeManifestList, ManifestContent, type ManifestFile } from "./manifest-list.ts";
import { fileMightMatch } from "./metrics-evaluator.ts";
import type { PartitionSpec } from "./partitioning.ts";
import { manifestMightMatch, projectInclusive } from "./projection.ts";
import type { Schema } from "./schema.ts";
import { MAIN_BRANCH, type Snapshot } from "./snapshot.ts";
import {
  currentSchema,
  schemaById,
  snapshotAsOf,
  snapshotById,
  snapshotForRef,
  specById,
  type TableMetadata,
} from "./table-metadata.ts";

/** What scan planning needs of a table: `LoadedTable` from the catalog fits. */
export interface ScanTable {
  metadata: TableMetadata;
  io: FileIO;
}

export interface ScanOptions {
  /** Read this snapshot (time travel). At most one of snapshotId, ref and asOfTimestampMs. */
  snapshotId?: bigint;
  /** Read the head of this branch or tag. */
  ref?: string;
  /** Read the snapshot that was current on main at this time (ms since the epoch). */
  asOfTimestampMs?: number;
  /** Row filter, by column names of the scan's schema. */
  filter?: Expression;
  caseSensitive?: boolean;
  /** Manifests read at once; 8 by default. */
  manifestConcurrency?: number;
}

/** One data file to read, with the deletes to apply to it and the filter rows must still pass. */
export interface FileScanTask {
  dataFile: DataFile;
  /** The data file's data sequence number (after inheritance). */
  dataSequenceNumber: bigint;
  deletes: DataFile[];
  spec: PartitionSpec;
  /** The partition tuple in spec field order. */
  partition: PartitionValue[];
  /** The row filter still to apply to the file's rows; undefined when the scan has no filter. */
  residual?: BoundExpression;
}

/** Counts of what planning read and skipped: what pruning tests assert on. */
export interface ScanMetrics {
  manifests: number;
  manifestsSkipped: number;
  dataFiles: number;
  dataFilesSkippedByPartition: number;
  dataFilesSkippedByMetrics: number;
  deleteFiles: number;
  deleteFilesSkippedByPartition: number;
}

export interface ScanPlan {
  /** Undefined for a table without snapshots (then `tasks` is empty). */
  snapshot: Snapshot | undefined;
  schema: Schema;
  /** The filter bound to `schema`; undefined without a filter. */
  filter: BoundExpression | undefined;
  tasks: FileScanTask[];
  metrics: ScanMetrics;
}

/** Resolves the snapshot and schema a scan reads (see the module comment for the schema rule). */
export function resolveScanSnapshot(
  metadata: TableMetadata,
  options: Pick<ScanOptions, "snapshotId" | "ref" | "asOfTimestampMs"> = {},
): { snapshot: Snapshot | undefined; schema: Schema } {
  const chosen = [options.snapshotId, options.ref, options.asOfTimestampMs].filter((o) => o !== undefined);
  if (chosen.length > 1) {
    throw new IcebergError(
      "DATA_INVALID",
      "choose at most one of snapshotId, ref and asOfTimestampMs for a scan",
    );
  }
  const snapshotSchema = (snapshot: Snapshot) =>
    snapshot.schemaId === undefined ? currentSchema(metadata) : schemaById(metadata, snapshot.schemaId);
  if (options.snapshotId !== undefined) {
    const snapshot = snapshotById(metadata, options.snapshotId);
    if (!snapshot) {
      throw new IcebergError(
        "NOT_FOUND",
        `table ${metadata.location} has no snapshot ${options.snapshotId}; it may have been expired`,
      );
    }
    return { snapshot, schema: snapshotSchema(snapshot) };
  }
  if (options.ref !== undefined) {
    const ref = metadata.refs[options.ref];
    if (!ref) {
      throw new IcebergError(
        "NOT_FOUND",
        `table ${metadata.location} has no branch or tag '${options.ref}' (refs: ${Object.keys(metadata.refs).join(", ") || "none"})`,
      );
    }
    const snapshot = snapshotForRef(metadata, options.ref)!;
    return { snapshot, schema: ref.type === "tag" ? snapshotSchema(snapshot) : currentSchema(metadata) };
  }
  if (options.asOfTimestampMs !== undefined) {
    const snapshot = snapshotAsOf(metadata, options.asOfTimestampMs);
    if (!snapshot) {
      throw new IcebergError(
        "NOT_FOUND",
        `table ${metadata.location} had no snapshot at ${new Date(options.asOfTimestampMs).toISOString()}`,
      );
    }
    return { snapshot, schema: snapshotSchema(snapshot) };
  }
  return { snapshot: snapshotForRef(metadata, MAIN_BRANCH), schema: currentSchema(metadata) };
}

/** Runs `fn` over `items` with at most `limit` calls in flight; results keep the input order. */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

interface LiveEntry {
  file: DataFile;
  dataSequenceNumber: bigint;
  spec: PartitionSpec;
  partition: PartitionValue[];
}

/** Plans a scan: the snapshot, schema and one task per live data file that may hold matching rows. */
export async function planScan(table: ScanTable, options: ScanOptions = {}): Promise<ScanPlan> {
  const { metadata, io } = table;
  const { snapshot, schema } = resolveScanSnapshot(metadata, options);
  const filter =
    options.filter === undefined
      ? undefined
      : bind(options.filter, schema, { caseSensitive: options.caseSensitive ?? true });
  const metrics: ScanMetrics = {
    manifests: 0,
    manifestsSkipped: 0,
    dataFiles: 0,
    dataFilesSkippedByPartition: 0,
    dataFilesSkippedByMetrics: 0,
    deleteFiles: 0,
    deleteFilesSkippedByPartition: 0,
  };
  if (!snapshot) return { snapshot, schema, filter, tasks: [], metrics };

  const list = decodeManifestList(await readFile(io, snapshot.manifestList), snapshot.manifestList);
  const partitionFilters = new Map<number, BoundExpression>();
  const partitionFilterOf = (spec: PartitionSpec): BoundExpression => {
    let projected = partitionFilters.get(spec.specId);
    if (!projected) {
      projected = filter === undefined ? { op: "true" } : projectInclusive(filter, spec);
      partitionFilters.set(spec.specId, projected);
    }
    return projected;
  };

  metrics.manifests = list.manifests.length;
  const wanted = list.manifests.filter((manifest) => {
    const live = manifest.addedFilesCount + manifest.existingFilesCount > 0;
    const spec = specById(metadata, manifest.partitionSpecId);
    const keep = live && manifestMightMatch(partitionFilterOf(spec), spec, manifest.partitions);
    if (!keep) metrics.manifestsSkipped++;
    return keep;
  });

  const perManifest = await mapWithConcurrency(wanted, options.manifestConcurrency ?? 8, (manifest) =>
    readLiveEntries(io, metadata, manifest),
  );

  const dataEntries: LiveEntry[] = [];
  const deleteEntries: IndexedDeleteFile[] = [];
  for (const entries of perManifest) {
    for (const entry of entries) {
      const isData = entry.file.content === DataFileContent.DATA;
      if (isData) metrics.dataFiles++;
      else metrics.deleteFiles++;
      const partitionFilter = partitionFilterOf(entry.spec);
      if (partitionFilter.op !== "true") {
        const byId = new Map(entry.spec.fields.map((f, i) => [f.fieldId, entry.partition[i] ?? null]));
        if (!evaluate(partitionFilter, (id) => byId.get(id) ?? null)) {
          if (isData) metrics.dataFilesSkippedByPartition++;
          else metrics.deleteFilesSkippedByPartition++;
          continue;
        }
      }
      if (isData) {
        if (filter !== undefined && !fileMightMatch(filter, entry.file)) {
          metrics.dataFilesSkippedByMetrics++;
          continue;
        }
        dataEntries.push(entry);
      } else {
        deleteEntries.push({
          file: entry.file,
          dataSequenceNumber: entry.dataSequenceNumber,
          spec: entry.spec,
          partitionValues: entry.partition,
        });
      }
    }
  }

  const index = new DeleteFileIndex(deleteEntries);
  const tasks = dataEntries.map((entry): FileScanTask => {
    const task: FileScanTask = {
      dataFile: entry.file,
      dataSequenceNumber: entry.dataSequenceNumber,
      deletes: index.forDataFile(entry.file, entry.dataSequenceNumber, entry.spec, entry.partition),
      spec: entry.spec,
      partition: entry.partition,
    };
    if (filter !== undefined && filter.op !== "true") task.residual = filter;
    return task;
  });
  return { snapshot, schema, filter, tasks, metrics };
}

async function readFile(io: FileIO, location: string): Promise<Uint8Array> {
  try {
    return await io.read(location);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new IcebergError("IO_FAILED", `cannot read ${location}: ${detail}`, { cause: error });
  }
}

/** The live (ADDED or EXISTING) entries of one manifest, with inherited sequence numbers. */
async function readLiveEntries(
  io: FileIO,
  metadata: TableMetadata,
  manifestFile: ManifestFile,
): Promise<LiveEntry[]> {
  const path = manifestFile.manifestPath;
  const manifest = decodeManifest(await readFile(io, path), { path, inherit: manifestFile });
  const spec = specById(metadata, manifestFile.partitionSpecId);
  const expectDeletes = manifestFile.content === ManifestContent.DELETES;
  // Partition values are keyed by name in the manifest; map them to the table spec's fields by id.
  const nameById = new Map(manifest.partitionType.fields.map((f) => [f.id, f.name]));
  const live: LiveEntry[] = [];
  for (const entry of manifest.entries) {
    if (entry.status === ManifestEntryStatus.DELETED) continue;
    const file = entry.dataFile;
    if ((file.content !== DataFileContent.DATA) !== expectDeletes) {
      throw new IcebergError(
        "DATA_INVALID",
        `manifest ${path} is a ${expectDeletes ? "delete" : "data"} manifest but lists ${file.filePath} with content ${file.content}`,
      );
    }
    if (entry.sequenceNumber === null) {
      throw new IcebergError(
        "DATA_INVALID",
        `manifest ${path}: ${file.filePath} has no data sequence number and none to inherit`,
      );
    }
    const partition = spec.fields.map((field) => {
      const name = nameById.get(field.fieldId) ?? field.name;
      return file.partition[name] ?? null;
    });
    live.push({ file, dataSequenceNumber: entry.sequenceNumber, spec, partition });
  }
  return live;
}
