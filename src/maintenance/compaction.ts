/**
 * Compaction (S3 Tables `icebergCompaction`): rewrites a table's small data files and the row-level
 * deletes that apply to them into few files near the target size, as one RewriteFiles commit.
 *
 * Planning picks partitions by evidence, not by a timer: a partition is compacted when it holds at least
 * `minInputFiles` files outside the size band (smaller than `minFileSizeBytes` or larger than
 * `maxFileSizeBytes`), or a data file whose estimated deleted-row ratio reaches `deleteRatioThreshold`,
 * or a data file with at least `deleteFileThreshold` delete files to merge on read. In a chosen partition
 * every such file and every file with deletes is rewritten, bin-packed (first fit decreasing on live
 * bytes) into groups of about the target size.
 *
 * Executing a group reads its live rows (readPlan on the plan narrowed to the group, deletes applied),
 * sorts them by the table's sort order for `sort` (and `auto` when the table has one), and writes them
 * with writeDataFiles. The commit removes the rewritten data files and every delete file that applied
 * only to them (or to nothing live); a delete file that still applies to a data file outside the
 * rewrite stays. The new files keep the data sequence number of the snapshot the plan read, so equality
 * deletes committed meanwhile still apply to them; concurrent position deletes against a rewritten file
 * fail the commit (VALIDATION_FAILED), and compaction then re-plans once on the new head.
 */
import type { Catalog, LoadedTable } from "../catalog/catalog.ts";
import { CatalogError } from "../catalog/errors.ts";
import type { PrimitiveValue } from "../iceberg/conversions.ts";
import { type DataFile, DataFileContent, ManifestEntryStatus } from "../iceberg/data-file.ts";
import { partitionKey } from "../iceberg/delete-file-index.ts";
import { IcebergError } from "../iceberg/errors.ts";
import { compareValues } from "../iceberg/expressions.ts";
import { ManifestContent } from "../iceberg/manifest-list.ts";
import { RewriteFiles } from "../iceberg/operations/rewrite.ts";
import { type Row, writeDataFiles } from "../iceberg/parquet-writer.ts";
import type { PartitionSpec } from "../iceberg/partitioning.ts";
import { readPlan } from "../iceberg/reader.ts";
import { type FileScanTask, planScan, type ScanPlan } from "../iceberg/scan.ts";
import type { Schema } from "../iceberg/schema.ts";
import { readManifestEntries, readManifestList } from "../iceberg/snapshot-producer.ts";
import { isUnsorted, type SortOrder } from "../iceberg/sort-order.ts";
import { defaultSortOrder } from "../iceberg/table-metadata.ts";
import { applyTransform, resultType } from "../iceberg/transforms.ts";
import { isPrimitive, type PrimitiveType } from "../iceberg/types.ts";
import type { CompactionStrategy } from "./config.ts";
import { MaintenanceError } from "./errors.ts";

const MB = 1024 * 1024;

export interface CompactionOptions {
  /** Size of the files compaction writes (S3 Tables `targetFileSizeMB` × 1 MiB); 512 MiB by default. */
  targetFileSizeBytes?: number;
  strategy?: CompactionStrategy;
  /** Files smaller than this are "small"; 75% of the target by default. */
  minFileSizeBytes?: number;
  /** Files larger than this are split; 180% of the target by default. */
  maxFileSizeBytes?: number;
  /** Small (or oversized) files a partition needs before it is compacted for size alone; 5 by default. */
  minInputFiles?: number;
  /** A data file with at least this many delete files applied triggers its partition; 5 by default. */
  deleteFileThreshold?: number;
  /** A data file whose estimated deleted-row ratio reaches this triggers its partition; 0.1 by default. */
  deleteRatioThreshold?: number;
  /** Live input bytes per group (the rows a group holds in memory are about this much); the target by default. */
  maxGroupSizeBytes?: number;
}

interface ResolvedOptions {
  targetFileSizeBytes: number;
  strategy: CompactionStrategy;
  minFileSizeBytes: number;
  maxFileSizeBytes: number;
  minInputFiles: number;
  deleteFileThreshold: number;
  deleteRatioThreshold: number;
  maxGroupSizeBytes: number;
}

function resolve(options: CompactionOptions): ResolvedOptions {
  const target = options.targetFileSizeBytes ?? 512 * MB;
  return {
    targetFileSizeBytes: target,
    strategy: options.strategy ?? "auto",
    minFileSizeBytes: options.minFileSizeBytes ?? Math.floor(target * 0.75),
    maxFileSizeBytes: options.maxFileSizeBytes ?? Math.floor(target * 1.8),
    minInputFiles: options.minInputFiles ?? 5,
    deleteFileThreshold: options.deleteFileThreshold ?? 5,
    deleteRatioThreshold: options.deleteRatioThreshold ?? 0.1,
    maxGroupSizeBytes: options.maxGroupSizeBytes ?? target,
  };
}

/** One bin of files of one partition, rewritten together. */
export interface CompactionGroup {
  spec: PartitionSpec;
  partition: FileScanTask["partition"];
  tasks: FileScanTask[];
  /** Input bytes minus the estimated deleted share. */
  liveBytes: number;
}

export interface CompactionPlan {
  /** The table the plan read; the rewrite validates against what was committed after it. */
  table: LoadedTable;
  scan: ScanPlan;
  groups: CompactionGroup[];
  /** Delete files the rewrite removes: every file they apply to is rewritten, or they apply to none. */
  removableDeleteFiles: DataFile[];
  /** The order rows are written in; undefined for bin-packing. */
  sortOrder: SortOrder | undefined;
}

export interface CompactionResult {
  /** Whether a rewrite was committed. */
  committed: boolean;
  strategy: "binpack" | "sort";
  fileGroups: number;
  rewrittenDataFiles: number;
  rewrittenDeleteFiles: number;
  addedDataFiles: number;
  rewrittenBytes: number;
  addedBytes: number;
  /** Re-plans after a concurrent position delete hit a rewritten file (at most 1). */
  retries: number;
  snapshotId?: bigint;
  table: LoadedTable;
}

/** Estimated deleted rows of a task: exact for a position delete file aimed at it alone, shared otherwise. */
function estimatedDeletedRows(task: FileScanTask, applied: Map<string, number>): number {
  let deleted = 0;
  for (const file of task.deletes) {
    if (
      file.content === DataFileContent.POSITION_DELETES &&
      file.referencedDataFile === task.dataFile.filePath
    )
      deleted += file.recordCount;
    else deleted += file.recordCount / Math.max(1, applied.get(file.filePath) ?? 1);
  }
  return Math.min(task.dataFile.recordCount, deleted);
}

/** Every live delete file of the plan's snapshot, including those that apply to no live data file. */
async function liveDeleteFiles(table: LoadedTable, plan: ScanPlan): Promise<DataFile[]> {
  const files: DataFile[] = [];
  for (const manifest of await readManifestList(table, plan.snapshot)) {
    if (manifest.content !== ManifestContent.DELETES) continue;
    if (manifest.addedFilesCount + manifest.existingFilesCount === 0) continue;
    for (const entry of await readManifestEntries(table, manifest)) {
      if (entry.status !== ManifestEntryStatus.DELETED) files.push(entry.dataFile);
    }
  }
  return files;
}

/** The order compaction writes in: the table's default sort order for `sort`/`auto` when it has one. */
export function compactionSortOrder(table: LoadedTable, strategy: CompactionStrategy): SortOrder | undefined {
  if (strategy === "binpack") return undefined;
  const order = defaultSortOrder(table.metadata);
  return isUnsorted(order) ? undefined : order;
}

/** Plans a compaction of the table's main branch as loaded. */
export async function planCompaction(
  table: LoadedTable,
  options: CompactionOptions = {},
): Promise<CompactionPlan> {
  const o = resolve(options);
  const scan = await planScan(table);
  const sortOrder = compactionSortOrder(table, o.strategy);
  const appliedTo = new Map<string, number>();
  for (const task of scan.tasks) {
    for (const file of task.deletes) appliedTo.set(file.filePath, (appliedTo.get(file.filePath) ?? 0) + 1);
  }

  const byPartition = new Map<string, FileScanTask[]>();
  for (const task of scan.tasks) {
    const key = partitionKey(task.spec.specId, task.partition);
    const list = byPartition.get(key);
    if (list) list.push(task);
    else byPartition.set(key, [task]);
  }

  const groups: CompactionGroup[] = [];
  for (const tasks of byPartition.values()) {
    const deletedRatio = (task: FileScanTask) =>
      task.dataFile.recordCount === 0 ? 1 : estimatedDeletedRows(task, appliedTo) / task.dataFile.recordCount;
    const outOfBand = (task: FileScanTask) =>
      task.dataFile.fileSizeInBytes < o.minFileSizeBytes ||
      task.dataFile.fileSizeInBytes > o.maxFileSizeBytes;
    const outOfBandCount = tasks.filter(outOfBand).length;
    const triggered =
      outOfBandCount >= o.minInputFiles ||
      tasks.some(
        (t) =>
          t.deletes.length > 0 &&
          (t.deletes.length >= o.deleteFileThreshold || deletedRatio(t) >= o.deleteRatioThreshold),
      );
    if (!triggered) continue;
    // Sorting a partition's files means rewriting all of them together; bin-packing leaves good files.
    const candidates = tasks.filter((t) => outOfBand(t) || t.deletes.length > 0 || sortOrder !== undefined);
    const live = (t: FileScanTask) =>
      Math.max(1, Math.round(t.dataFile.fileSizeInBytes * (1 - deletedRatio(t))));
    const bins: CompactionGroup[] = [];
    for (const task of [...candidates].sort((a, b) => live(b) - live(a))) {
      const size = live(task);
      const bin = bins.find((b) => b.liveBytes + size <= o.maxGroupSizeBytes);
      if (bin) {
        bin.tasks.push(task);
        bin.liveBytes += size;
      } else {
        bins.push({ spec: task.spec, partition: task.partition, tasks: [task], liveBytes: size });
      }
    }
    for (const bin of bins) {
      const only = bin.tasks[0]!;
      const worthIt =
        bin.tasks.length > 1 || only.deletes.length > 0 || only.dataFile.fileSizeInBytes > o.maxFileSizeBytes;
      if (worthIt) groups.push(bin);
    }
  }

  const rewritten = new Set(groups.flatMap((g) => g.tasks.map((t) => t.dataFile.filePath)));
  const stillNeeded = new Set<string>();
  for (const task of scan.tasks) {
    if (rewritten.has(task.dataFile.filePath)) continue;
    for (const file of task.deletes) stillNeeded.add(file.filePath);
  }
  const removableDeleteFiles =
    scan.snapshot === undefined
      ? []
      : (await liveDeleteFiles(table, scan)).filter((file) => !stillNeeded.has(file.filePath));
  return { table, scan, groups, removableDeleteFiles, sortOrder };
}

/** A comparator of rows by a sort order (transforms applied, direction and null order honoured). */
export function rowComparator(schema: Schema, order: SortOrder): (a: Row, b: Row) => number {
  const keys = order.fields.map((field) => {
    const source = schema.findField(field.sourceId);
    if (!source || !isPrimitive(source.type)) {
      throw new MaintenanceError(
        "UNSUPPORTED_TABLE",
        `sort order ${order.orderId} sorts by field ${field.sourceId}, which is not a primitive column of the current schema`,
      );
    }
    const path = [...(schema.parentIds(field.sourceId) ?? []), field.sourceId].map(
      (id) => schema.findField(id)!.name,
    );
    const sourceType = source.type;
    const type = resultType(field.transform, sourceType) as PrimitiveType;
    const keyOf = (row: Row): PrimitiveValue | null => {
      let value: unknown = row;
      for (const name of path) value = value === null || value === undefined ? null : (value as Row)[name];
      return applyTransform(field.transform, sourceType, (value ?? null) as PrimitiveValue | null);
    };
    return { field, type, keyOf };
  });
  return (a, b) => {
    for (const key of keys) {
      const x = key.keyOf(a);
      const y = key.keyOf(b);
      if (x === null || y === null) {
        if (x === y) continue;
        const nullFirst = key.field.nullOrder === "nulls-first";
        return (x === null) === nullFirst ? -1 : 1;
      }
      const cmp = compareValues(key.type, x, y);
      if (cmp !== 0) return key.field.direction === "asc" ? cmp : -cmp;
    }
    return 0;
  };
}

async function writeGroup(
  plan: CompactionPlan,
  group: CompactionGroup,
  targetFileSizeBytes: number,
): Promise<DataFile[]> {
  const { table, scan, sortOrder } = plan;
  const narrowed: ScanPlan = { ...scan, filter: undefined, tasks: group.tasks };
  const rows = await readPlan(table, narrowed);
  if (rows.length === 0) return [];
  if (sortOrder) rows.sort(rowComparator(scan.schema, sortOrder));
  const options: Parameters<typeof writeDataFiles>[0] = {
    schema: scan.schema,
    spec: group.spec,
    rows,
    io: table.io,
    location: `${table.metadata.location}/data`,
    properties: table.metadata.properties,
    targetFileSizeBytes,
  };
  if (sortOrder) options.sortOrderId = sortOrder.orderId;
  return writeDataFiles(options);
}

/** Writes every group and commits one rewrite; the written files are deleted if the commit fails. */
async function executePlan(
  catalog: Catalog,
  plan: CompactionPlan,
  o: ResolvedOptions,
): Promise<Omit<CompactionResult, "retries" | "strategy">> {
  const empty = {
    committed: false,
    fileGroups: 0,
    rewrittenDataFiles: 0,
    rewrittenDeleteFiles: 0,
    addedDataFiles: 0,
    rewrittenBytes: 0,
    addedBytes: 0,
    table: plan.table,
  };
  if (plan.groups.length === 0 && plan.removableDeleteFiles.length === 0) return empty;
  const written: DataFile[] = [];
  try {
    const rewrite = new RewriteFiles(catalog, plan.table);
    for (const group of plan.groups) {
      const added = await writeGroup(plan, group, o.targetFileSizeBytes);
      written.push(...added);
      rewrite.rewriteFiles(
        group.tasks.map((t) => t.dataFile),
        added,
        group.spec.specId,
      );
    }
    rewrite.rewriteFiles(plan.removableDeleteFiles, []);
    rewrite.set("floe.maintenance", "compaction");
    const outcome = await rewrite.commit();
    const removedData = plan.groups.flatMap((g) => g.tasks.map((t) => t.dataFile));
    return {
      committed: true,
      fileGroups: plan.groups.length,
      rewrittenDataFiles: removedData.length,
      rewrittenDeleteFiles: plan.removableDeleteFiles.length,
      addedDataFiles: written.length,
      rewrittenBytes: [...removedData, ...plan.removableDeleteFiles].reduce(
        (s, f) => s + f.fileSizeInBytes,
        0,
      ),
      addedBytes: written.reduce((s, f) => s + f.fileSizeInBytes, 0),
      snapshotId: outcome.result.snapshotId,
      table: outcome.table,
    };
  } catch (error) {
    // After COMMIT_STATE_UNKNOWN the files may be live: leave them to unreferenced-file removal.
    if (!(error instanceof CatalogError && error.code === "COMMIT_STATE_UNKNOWN"))
      await plan.table.io.deleteMany(written.map((f) => f.filePath)).catch(() => {});
    throw error;
  }
}

/**
 * Compacts the main branch of `identifier`: plans on the current head, rewrites, commits; when a
 * concurrent commit invalidates the rewrite (VALIDATION_FAILED), re-plans once on the new head.
 * Throws MaintenanceError CONCURRENT_CHANGE when the second attempt is invalidated too.
 */
export async function compactTable(
  catalog: Catalog,
  table: LoadedTable,
  options: CompactionOptions = {},
): Promise<CompactionResult> {
  const o = resolve(options);
  let current = table;
  for (let attempt = 0; ; attempt++) {
    const plan = await planCompaction(current, o);
    try {
      const result = await executePlan(catalog, plan, o);
      return { ...result, strategy: plan.sortOrder ? "sort" : "binpack", retries: attempt };
    } catch (error) {
      if (!(error instanceof IcebergError && error.code === "VALIDATION_FAILED")) throw error;
      if (attempt >= 1) {
        throw new MaintenanceError(
          "CONCURRENT_CHANGE",
          `compaction of ${table.metadata.location}: concurrent commits invalidated the rewrite twice (${error.message}); it will run again next pass`,
          { cause: error },
        );
      }
      current = await catalog.loadTable(table.identifier);
    }
  }
}

/** `targetFileSizeMB` of the S3 Tables configuration in bytes. */
export function targetFileSizeBytesOf(targetFileSizeMB: number): number {
  return targetFileSizeMB * MB;
}
