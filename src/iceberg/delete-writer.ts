/**
 * Row-level delete files (spec "Row-level Deletes", format v2) written as Parquet through the same DuckDB
 * engine as data files: position deletes (`file_path`, `pos`, sorted) and equality deletes (the equality
 * columns with their table field ids).
 */
import type { FileIO } from "../io/file-io.ts";
import { type DataFile, DataFileContent, partitionDataFromValues } from "./data-file.ts";
import { sqlIdentifier } from "./duckdb.ts";
import { IcebergError } from "./errors.ts";
import {
  intProperty,
  metricsModeResolver,
  parseMetricsMode,
  type Row,
  toDataFile,
  writeParquetGroups,
} from "./parquet-writer.ts";
import {
  isUnpartitioned,
  type PartitionSpec,
  type PartitionValues,
  partitionKey,
  partitionPath,
  partitionType,
} from "./partitioning.ts";
import type { Schema } from "./schema.ts";
import type { NestedField } from "./types.ts";

/** Reserved field ids of position delete files (spec "Reserved Field IDs"). */
export const DELETE_FILE_PATH_FIELD: NestedField = {
  id: 2147483546,
  name: "file_path",
  required: true,
  type: { kind: "string" },
};
export const DELETE_FILE_POS_FIELD: NestedField = {
  id: 2147483545,
  name: "pos",
  required: true,
  type: { kind: "long" },
};

export const DELETE_TARGET_FILE_SIZE_PROPERTY = "write.delete.target-file-size-bytes";
export const DEFAULT_DELETE_TARGET_FILE_SIZE_BYTES = 64 * 1024 * 1024;

/** One deleted row: the data file's full location and the row's 0-based position in it. */
export interface PositionDelete {
  filePath: string;
  pos: bigint | number;
}

interface DeleteWriteOptions {
  schema: Schema;
  spec: PartitionSpec;
  io: FileIO;
  /** Location prefix, usually `<table-location>/data`; the partition path is appended. */
  location: string;
  /** Table properties: `write.delete.target-file-size-bytes`, `write.metadata.metrics.*`. */
  properties?: Readonly<Record<string, string>>;
  targetFileSizeBytes?: number;
  rowGroupRows?: number;
}

export interface WritePositionDeletesOptions extends DeleteWriteOptions {
  /** The partition of the data files the deletes point at (spec order); omit when unpartitioned. */
  partition?: PartitionValues;
  deletes: Iterable<PositionDelete>;
}

function targetSize(options: DeleteWriteOptions): number {
  return (
    options.targetFileSizeBytes ??
    intProperty(
      options.properties ?? {},
      DELETE_TARGET_FILE_SIZE_PROPERTY,
      DEFAULT_DELETE_TARGET_FILE_SIZE_BYTES,
    )
  );
}

function partitionOf(options: DeleteWriteOptions, values: PartitionValues | undefined): PartitionValues {
  const { spec } = options;
  if (values === undefined) {
    if (!isUnpartitioned(spec)) {
      throw new IcebergError(
        "DATA_INVALID",
        `spec ${spec.specId} is partitioned; give the partition the deletes belong to`,
      );
    }
    return spec.fields.map(() => null);
  }
  if (values.length !== spec.fields.length) {
    throw new IcebergError(
      "DATA_INVALID",
      `spec ${spec.specId} has ${spec.fields.length} partition fields, got ${values.length} values`,
    );
  }
  return values;
}

function directoryOf(options: DeleteWriteOptions, values: PartitionValues): string {
  return options.spec.fields.length === 0 ? "" : partitionPath(options.spec, options.schema, values);
}

/**
 * Writes position deletes, sorted by `file_path` then `pos` as the spec requires, with full metrics on
 * both columns (as the reference implementation) and `referencedDataFile` set when every delete points
 * at the same data file.
 */
export async function writePositionDeletes(options: WritePositionDeletesOptions): Promise<DataFile[]> {
  const values = partitionOf(options, options.partition);
  const referenced = new Set<string>();
  const rows: Row[] = [];
  for (const entry of options.deletes) {
    referenced.add(entry.filePath);
    rows.push({ file_path: entry.filePath, pos: entry.pos });
  }
  if (rows.length === 0) return [];
  const full = parseMetricsMode("full");
  const files = await writeParquetGroups([{ directory: directoryOf(options, values), rows }], {
    fields: [DELETE_FILE_PATH_FIELD, DELETE_FILE_POS_FIELD],
    metricsMode: () => full,
    io: options.io,
    location: options.location,
    targetFileSizeBytes: targetSize(options),
    rowGroupRows: options.rowGroupRows,
    orderBy: `${sqlIdentifier("file_path")}, ${sqlIdentifier("pos")}`,
  });
  const partition = partitionDataFromValues(partitionType(options.spec, options.schema), values);
  return files.map((file) => {
    const deleteFile = toDataFile(file, DataFileContent.POSITION_DELETES, partition);
    if (referenced.size === 1) deleteFile.referencedDataFile = [...referenced][0]!;
    return deleteFile;
  });
}

export interface WriteEqualityDeletesOptions extends DeleteWriteOptions {
  /** Field ids of the equality columns (top-level or inside structs). */
  equalityIds: readonly number[];
  /** Rows keyed by column name holding at least the equality columns (and partition sources). */
  rows: Iterable<Row>;
  /** The partition of every row; when omitted, rows are grouped by their own partition values. */
  partition?: PartitionValues;
  sortOrderId?: number;
}

/**
 * Writes equality deletes: the table schema projected to `equalityIds` (struct parents kept, so ids and
 * names match the table), `equalityIds` recorded on each file.
 */
export async function writeEqualityDeletes(options: WriteEqualityDeletesOptions): Promise<DataFile[]> {
  const { schema, spec } = options;
  const fields = projectFields(schema, options.equalityIds);
  const groups: { values: PartitionValues; rows: Row[] }[] = [];
  if (options.partition !== undefined || isUnpartitioned(spec)) {
    groups.push({ values: partitionOf(options, options.partition), rows: [...options.rows] });
  } else {
    const byKey = new Map<string, { values: PartitionValues; rows: Row[] }>();
    for (const row of options.rows) {
      const values = partitionKey(spec, schema, row);
      const key = JSON.stringify(values, (_, v) =>
        typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? [...v] : v,
      );
      let group = byKey.get(key);
      if (group === undefined) {
        group = { values, rows: [] };
        byKey.set(key, group);
        groups.push(group);
      }
      group.rows.push(row);
    }
  }
  const files = await writeParquetGroups(
    groups.map((g) => ({ directory: directoryOf(options, g.values), rows: g.rows })),
    {
      fields,
      metricsMode: metricsModeResolver(options.properties ?? {}),
      io: options.io,
      location: options.location,
      targetFileSizeBytes: targetSize(options),
      rowGroupRows: options.rowGroupRows,
    },
  );
  const type = partitionType(spec, schema);
  return files.map((file) => {
    const deleteFile = toDataFile(
      file,
      DataFileContent.EQUALITY_DELETES,
      partitionDataFromValues(type, groups[file.group]!.values),
    );
    deleteFile.equalityIds = [...options.equalityIds];
    if (options.sortOrderId !== undefined) deleteFile.sortOrderId = options.sortOrderId;
    return deleteFile;
  });
}

/**
 * The schema's fields reduced to `ids` and the structs enclosing them. Equality columns must be
 * primitives outside lists and maps (spec "Equality Delete Files").
 */
function projectFields(schema: Schema, ids: readonly number[]): NestedField[] {
  if (ids.length === 0)
    throw new IcebergError("DATA_INVALID", "equality deletes need at least one equality id");
  const wanted = new Set<number>();
  for (const id of ids) {
    const field = schema.findField(id);
    if (!field)
      throw new IcebergError("DATA_INVALID", `equality id ${id} is not in schema ${schema.schemaId}`);
    const name = schema.findColumnName(id)!;
    if (field.type.kind === "struct" || field.type.kind === "list" || field.type.kind === "map") {
      throw new IcebergError(
        "DATA_INVALID",
        `equality column '${name}' must be a primitive, not ${field.type.kind}`,
      );
    }
    for (const parentId of schema.parentIds(id) ?? []) {
      const kind = schema.findField(parentId)!.type.kind;
      if (kind !== "struct") {
        throw new IcebergError("DATA_INVALID", `equality column '${name}' cannot be inside a ${kind}`);
      }
      wanted.add(parentId);
    }
    wanted.add(id);
  }
  const project = (fields: readonly NestedField[]): NestedField[] =>
    fields
      .filter((f) => wanted.has(f.id))
      .map((f) =>
        f.type.kind === "struct" ? { ...f, type: { kind: "struct", fields: project(f.type.fields) } } : f,
      );
  return project(schema.fields);
}
