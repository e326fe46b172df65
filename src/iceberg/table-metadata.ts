/**
 * Table metadata (spec "Table Metadata", format v2): the immutable model of one `*.metadata.json`, its
 * exact JSON form, lookups (current schema, spec, snapshot of a ref, snapshot as of a time), and metadata
 * file naming `NNNNN-<uuid>.metadata.json`.
 *
 * A table with a commit a second holds thousands of snapshots, and every commit writes them all again:
 * each snapshot's text in the file is serialized once and kept beside the (immutable, shared from one
 * metadata version to the next) snapshot object, so a commit serializes only what it changed.
 */
import { randomUUID } from "node:crypto";
import { IcebergError } from "./errors.ts";
import {
  asArray,
  asObject,
  asString,
  asStringMap,
  parseJson,
  RawJson,
  stringifyJson,
  toBigInt,
  toSafeInt,
} from "./json.ts";
import {
  type PartitionSpec,
  partitionSpecFromJson,
  partitionSpecToJson,
  UNPARTITIONED_SPEC,
} from "./partitioning.ts";
import { type Schema, schemaFromJson, schemaToJson } from "./schema.ts";
import {
  MAIN_BRANCH,
  type Snapshot,
  type SnapshotRef,
  snapshotFromJson,
  snapshotRefFromJson,
  snapshotRefToJson,
  snapshotToJson,
} from "./snapshot.ts";
import { type SortOrder, sortOrderFromJson, sortOrderToJson, UNSORTED_ORDER } from "./sort-order.ts";

export interface SnapshotLogEntry {
  snapshotId: bigint;
  timestampMs: number;
}

export interface MetadataLogEntry {
  metadataFile: string;
  timestampMs: number;
}

export interface TableMetadata {
  formatVersion: 2;
  tableUuid: string;
  location: string;
  lastSequenceNumber: bigint;
  lastUpdatedMs: number;
  lastColumnId: number;
  schemas: Schema[];
  currentSchemaId: number;
  partitionSpecs: PartitionSpec[];
  defaultSpecId: number;
  lastPartitionId: number;
  properties: Record<string, string>;
  snapshots: Snapshot[];
  refs: Record<string, SnapshotRef>;
  snapshotLog: SnapshotLogEntry[];
  metadataLog: MetadataLogEntry[];
  sortOrders: SortOrder[];
  defaultSortOrderId: number;
  /** Statistics files are carried through untouched (Floe does not write Puffin yet). */
  statistics: unknown[];
  partitionStatistics: unknown[];
}

export function currentSchema(metadata: TableMetadata): Schema {
  return schemaById(metadata, metadata.currentSchemaId);
}

export function schemaById(metadata: TableMetadata, schemaId: number): Schema {
  const schema = metadata.schemas.find((s) => s.schemaId === schemaId);
  if (!schema) throw new IcebergError("DATA_INVALID", `table ${metadata.location} has no schema ${schemaId}`);
  return schema;
}

export function specById(metadata: TableMetadata, specId: number): PartitionSpec {
  const spec = metadata.partitionSpecs.find((s) => s.specId === specId);
  if (!spec)
    throw new IcebergError("DATA_INVALID", `table ${metadata.location} has no partition spec ${specId}`);
  return spec;
}

export function defaultSpec(metadata: TableMetadata): PartitionSpec {
  return specById(metadata, metadata.defaultSpecId);
}

export function defaultSortOrder(metadata: TableMetadata): SortOrder {
  return metadata.sortOrders.find((o) => o.orderId === metadata.defaultSortOrderId) ?? UNSORTED_ORDER;
}

export function snapshotById(metadata: TableMetadata, snapshotId: bigint): Snapshot | undefined {
  // Newest last: the snapshots a commit looks up (a branch head, its parent, the one just added) are
  // found in a step or two even when the table holds thousands.
  return metadata.snapshots.findLast((s) => s.snapshotId === snapshotId);
}

/** The snapshot a branch or tag points at; undefined for a ref that does not exist (or an empty table). */
export function snapshotForRef(metadata: TableMetadata, ref: string = MAIN_BRANCH): Snapshot | undefined {
  const target = metadata.refs[ref];
  return target ? snapshotById(metadata, target.snapshotId) : undefined;
}

export function currentSnapshot(metadata: TableMetadata): Snapshot | undefined {
  return snapshotForRef(metadata, MAIN_BRANCH);
}

/**
 * The snapshot that was current on main at `timestampMs` (time travel `AS OF`), from the snapshot log:
 * the last entry at or before the time.
 */
export function snapshotAsOf(metadata: TableMetadata, timestampMs: number): Snapshot | undefined {
  let found: bigint | undefined;
  for (const entry of metadata.snapshotLog) {
    if (entry.timestampMs <= timestampMs) found = entry.snapshotId;
  }
  return found === undefined ? undefined : snapshotById(metadata, found);
}

/** The chain of snapshots from `snapshot` back through its parents that are still in the metadata. */
export function ancestorsOf(metadata: TableMetadata, snapshot: Snapshot | undefined): Snapshot[] {
  const chain: Snapshot[] = [];
  let current = snapshot;
  while (current) {
    chain.push(current);
    current =
      current.parentSnapshotId === undefined ? undefined : snapshotById(metadata, current.parentSnapshotId);
  }
  return chain;
}

/** Metadata of a new table: schema, spec and sort order get fresh ids; everything else empty. */
export function newTableMetadata(args: {
  location: string;
  schema: Schema;
  spec?: PartitionSpec;
  sortOrder?: SortOrder;
  properties?: Record<string, string>;
  tableUuid?: string;
  nowMs?: number;
}): TableMetadata {
  const spec = args.spec ?? UNPARTITIONED_SPEC;
  const sortOrder = args.sortOrder ?? UNSORTED_ORDER;
  return {
    formatVersion: 2,
    tableUuid: args.tableUuid ?? randomUUID(),
    location: args.location.replace(/\/+$/, ""),
    lastSequenceNumber: 0n,
    lastUpdatedMs: args.nowMs ?? Date.now(),
    lastColumnId: args.schema.highestFieldId(),
    schemas: [args.schema],
    currentSchemaId: args.schema.schemaId,
    partitionSpecs: [spec],
    defaultSpecId: spec.specId,
    lastPartitionId: spec.fields.reduce((max, f) => Math.max(max, f.fieldId), 999),
    properties: { ...(args.properties ?? {}) },
    snapshots: [],
    refs: {},
    snapshotLog: [],
    metadataLog: [],
    sortOrders: [sortOrder],
    defaultSortOrderId: sortOrder.orderId,
    statistics: [],
    partitionStatistics: [],
  };
}

export function tableMetadataToJson(metadata: TableMetadata): Record<string, unknown> {
  return metadataJson(metadata, {
    snapshots: metadata.snapshots.map(snapshotToJson),
    snapshotLog: metadata.snapshotLog.map(snapshotLogEntryToJson),
  });
}

function snapshotLogEntryToJson(entry: SnapshotLogEntry): Record<string, unknown> {
  return { "snapshot-id": entry.snapshotId, "timestamp-ms": entry.timestampMs };
}

/** The JSON form with the two long arrays given (as values, or as text already serialized). */
function metadataJson(
  metadata: TableMetadata,
  long: { snapshots: unknown; snapshotLog: unknown },
): Record<string, unknown> {
  const current = metadata.refs[MAIN_BRANCH]?.snapshotId;
  return {
    "format-version": metadata.formatVersion,
    "table-uuid": metadata.tableUuid,
    location: metadata.location,
    "last-sequence-number": metadata.lastSequenceNumber,
    "last-updated-ms": metadata.lastUpdatedMs,
    "last-column-id": metadata.lastColumnId,
    "current-schema-id": metadata.currentSchemaId,
    schemas: metadata.schemas.map(schemaToJson),
    "default-spec-id": metadata.defaultSpecId,
    "partition-specs": metadata.partitionSpecs.map(partitionSpecToJson),
    "last-partition-id": metadata.lastPartitionId,
    "default-sort-order-id": metadata.defaultSortOrderId,
    "sort-orders": metadata.sortOrders.map(sortOrderToJson),
    properties: metadata.properties,
    // Java writes -1 for "no current snapshot"; every reader we test accepts it.
    "current-snapshot-id": current ?? -1,
    refs: Object.fromEntries(
      Object.entries(metadata.refs).map(([name, ref]) => [name, snapshotRefToJson(ref)]),
    ),
    snapshots: long.snapshots,
    statistics: metadata.statistics,
    "partition-statistics": metadata.partitionStatistics,
    "snapshot-log": long.snapshotLog,
    "metadata-log": metadata.metadataLog.map((e) => ({
      "metadata-file": e.metadataFile,
      "timestamp-ms": e.timestampMs,
    })),
  };
}

// A metadata file is indented by two spaces; the snapshots and snapshot-log entries are elements of
// top-level arrays, so each starts at the third level.
const FILE_INDENT = 2;
const ELEMENT_INDENT = " ".repeat(2 * FILE_INDENT);
const ELEMENT_SEPARATOR = `,\n${ELEMENT_INDENT}`;
const ARRAY_CLOSE = Buffer.from(`\n${" ".repeat(FILE_INDENT)}]`);
const BRACKET = Buffer.from("[");
const EMPTY_ARRAY = Buffer.from("[]");
/** Stands for a long array in the file's skeleton: JSON text never holds a raw NUL otherwise. */
const SLOT = "\u0000";

/**
 * UTF-8 text of snapshots and snapshot-log entries as a metadata file holds them, each preceded by the
 * separator `,\n    `, by object: both are immutable and carried by reference from one metadata
 * version to the next.
 */
const elementBytes = new WeakMap<Snapshot | SnapshotLogEntry, Buffer>();

function elementInFile<T extends Snapshot | SnapshotLogEntry>(element: T, toJson: (e: T) => unknown): Buffer {
  let bytes = elementBytes.get(element);
  if (bytes === undefined) {
    const text = stringifyJson(toJson(element), FILE_INDENT).replaceAll("\n", `\n${ELEMENT_INDENT}`);
    bytes = Buffer.from(`${ELEMENT_SEPARATOR}${text}`, "utf8");
    elementBytes.set(element, bytes);
  }
  return bytes;
}

/** Appends a top-level array as `JSON.stringify` indents it: `[`, the first element without its comma. */
function pushArray(chunks: Buffer[], elements: Buffer[]): void {
  if (elements.length === 0) {
    chunks.push(EMPTY_ARRAY);
    return;
  }
  chunks.push(BRACKET, elements[0]!.subarray(1));
  for (let i = 1; i < elements.length; i++) chunks.push(elements[i]!);
  chunks.push(ARRAY_CLOSE);
}

/**
 * The bytes of a `*.metadata.json` file: `tableMetadataToJson` as UTF-8 JSON indented by two spaces,
 * with each snapshot and snapshot-log entry serialized only the first time a version holds it, and
 * the file assembled from bytes (not one string of megabytes built, then encoded).
 */
export function tableMetadataFileBytes(metadata: TableMetadata): Uint8Array {
  const skeleton = stringifyJson(
    metadataJson(metadata, { snapshots: new RawJson(SLOT), snapshotLog: new RawJson(SLOT) }),
    FILE_INDENT,
  ).split(SLOT);
  // JSON.stringify escapes every NUL inside strings, so the two slots are the only raw ones.
  if (skeleton.length !== 3) {
    throw new IcebergError("DATA_INVALID", `metadata of ${metadata.location} did not serialize in one piece`);
  }
  const chunks: Buffer[] = [Buffer.from(skeleton[0]!, "utf8")];
  pushArray(
    chunks,
    metadata.snapshots.map((s) => elementInFile(s, snapshotToJson)),
  );
  chunks.push(Buffer.from(skeleton[1]!, "utf8"));
  pushArray(
    chunks,
    metadata.snapshotLog.map((e) => elementInFile(e, snapshotLogEntryToJson)),
  );
  chunks.push(Buffer.from(skeleton[2]!, "utf8"));
  const file = Buffer.concat(chunks);
  return new Uint8Array(file.buffer, file.byteOffset, file.length);
}

/** The text of a `*.metadata.json` file (see {@link tableMetadataFileBytes}). */
export function serializeTableMetadata(metadata: TableMetadata): string {
  return new TextDecoder().decode(tableMetadataFileBytes(metadata));
}

/** Parses a metadata file's text; `where` (its location) is named in every error. */
export function parseTableMetadata(text: string, where = "table metadata"): TableMetadata {
  return tableMetadataFromJson(parseJson(text, where), where);
}

export function tableMetadataFromJson(json: unknown, where = "table metadata"): TableMetadata {
  try {
    return readMetadata(asObject(json, where));
  } catch (error) {
    if (error instanceof IcebergError && error.code === "DATA_INVALID" && !error.message.startsWith(where)) {
      throw new IcebergError("DATA_INVALID", `${where}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

function readMetadata(obj: Record<string, unknown>): TableMetadata {
  const formatVersion = toSafeInt(obj["format-version"], "format-version");
  if (formatVersion !== 2) {
    throw new IcebergError(
      "FEATURE_UNSUPPORTED",
      `format-version ${formatVersion} is not supported; Floe reads and writes format v2 tables`,
    );
  }
  const schemas = asArray(obj.schemas, "schemas").map(schemaFromJson);
  const partitionSpecs = asArray(obj["partition-specs"], "partition-specs").map(partitionSpecFromJson);
  const sortOrders = asArray(obj["sort-orders"] ?? [], "sort-orders").map(sortOrderFromJson);
  const snapshots = asArray(obj.snapshots ?? [], "snapshots").map(snapshotFromJson);
  const refs: Record<string, SnapshotRef> = {};
  for (const [name, ref] of Object.entries(asObject(obj.refs ?? {}, "refs")))
    refs[name] = snapshotRefFromJson(ref, name);
  const currentId = obj["current-snapshot-id"];
  if (currentId !== undefined && currentId !== null && toBigInt(currentId, "current-snapshot-id") !== -1n) {
    const id = toBigInt(currentId, "current-snapshot-id");
    if (!refs[MAIN_BRANCH]) refs[MAIN_BRANCH] = { snapshotId: id, type: "branch" };
  }
  const metadata: TableMetadata = {
    formatVersion: 2,
    tableUuid: asString(obj["table-uuid"], "table-uuid"),
    location: asString(obj.location, "location"),
    lastSequenceNumber: toBigInt(obj["last-sequence-number"] ?? 0, "last-sequence-number"),
    lastUpdatedMs: toSafeInt(obj["last-updated-ms"], "last-updated-ms"),
    lastColumnId: toSafeInt(obj["last-column-id"], "last-column-id"),
    schemas,
    currentSchemaId: toSafeInt(obj["current-schema-id"], "current-schema-id"),
    partitionSpecs,
    defaultSpecId: toSafeInt(obj["default-spec-id"], "default-spec-id"),
    lastPartitionId: toSafeInt(obj["last-partition-id"], "last-partition-id"),
    properties: asStringMap(obj.properties ?? {}, "properties"),
    snapshots,
    refs,
    snapshotLog: asArray(obj["snapshot-log"] ?? [], "snapshot-log").map((e) => {
      const entry = asObject(e, "snapshot-log entry");
      return {
        snapshotId: toBigInt(entry["snapshot-id"], "snapshot-log snapshot-id"),
        timestampMs: toSafeInt(entry["timestamp-ms"], "snapshot-log timestamp-ms"),
      };
    }),
    metadataLog: asArray(obj["metadata-log"] ?? [], "metadata-log").map((e) => {
      const entry = asObject(e, "metadata-log entry");
      return {
        metadataFile: asString(entry["metadata-file"], "metadata-log metadata-file"),
        timestampMs: toSafeInt(entry["timestamp-ms"], "metadata-log timestamp-ms"),
      };
    }),
    sortOrders: sortOrders.length > 0 ? sortOrders : [UNSORTED_ORDER],
    defaultSortOrderId: toSafeInt(obj["default-sort-order-id"] ?? 0, "default-sort-order-id"),
    statistics: asArray(obj.statistics ?? [], "statistics"),
    partitionStatistics: asArray(obj["partition-statistics"] ?? [], "partition-statistics"),
  };
  validateMetadata(metadata);
  return metadata;
}

/** Cross-references the spec requires to hold; a violation means the file is corrupt. */
export function validateMetadata(metadata: TableMetadata): void {
  schemaById(metadata, metadata.currentSchemaId);
  specById(metadata, metadata.defaultSpecId);
  if (!metadata.sortOrders.some((o) => o.orderId === metadata.defaultSortOrderId)) {
    throw new IcebergError(
      "DATA_INVALID",
      `default-sort-order-id ${metadata.defaultSortOrderId} is not in sort-orders`,
    );
  }
  for (const [name, ref] of Object.entries(metadata.refs)) {
    if (!snapshotById(metadata, ref.snapshotId)) {
      throw new IcebergError(
        "DATA_INVALID",
        `ref '${name}' points at snapshot ${ref.snapshotId}, which is not in snapshots`,
      );
    }
  }
  for (const snapshot of metadata.snapshots) {
    if (snapshot.sequenceNumber > metadata.lastSequenceNumber) {
      throw new IcebergError(
        "DATA_INVALID",
        `snapshot ${snapshot.snapshotId} has sequence number ${snapshot.sequenceNumber} > last-sequence-number ${metadata.lastSequenceNumber}`,
      );
    }
  }
}

/** `00001-<uuid>.metadata.json` for version 1; versions count up by one per commit. */
export function metadataFileName(version: number, uuid: string = randomUUID()): string {
  return `${String(version).padStart(5, "0")}-${uuid}.metadata.json`;
}

/** The version number of a metadata file name (`00012-….metadata.json` → 12), or undefined. */
export function metadataFileVersion(location: string): number | undefined {
  const match = /(?:^|\/)(\d+)-[^/]*\.metadata\.json$/.exec(location);
  return match ? Number(match[1]) : undefined;
}
