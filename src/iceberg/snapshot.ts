/**
 * Snapshots and snapshot references (spec "Snapshots", "Snapshot References"): the model, its JSON form,
 * and the summary properties every writer maintains (added/removed/total files, records, deletes).
 */
import { IcebergError } from "./errors.ts";
import { asObject, asString, asStringMap, toBigInt, toSafeInt } from "./json.ts";

export type SnapshotOperation = "append" | "replace" | "overwrite" | "delete";

export interface Snapshot {
  snapshotId: bigint;
  parentSnapshotId?: bigint;
  sequenceNumber: bigint;
  timestampMs: number;
  manifestList: string;
  /** `operation` plus string properties (added-data-files, total-records, Floe's source position, ...). */
  summary: { operation: SnapshotOperation } & Record<string, string>;
  schemaId?: number;
  /** v3 row lineage; carried through when present. */
  firstRowId?: bigint;
  addedRows?: bigint;
}

export type SnapshotRefType = "branch" | "tag";

export interface SnapshotRef {
  snapshotId: bigint;
  type: SnapshotRefType;
  /** Branches only: snapshots on the branch younger than this are kept by expiry. */
  maxSnapshotAgeMs?: number;
  /** Branches only: keep at least this many snapshots of the branch. */
  minSnapshotsToKeep?: number;
  /** How long the ref itself is kept (never for main). */
  maxRefAgeMs?: number;
}

export const MAIN_BRANCH = "main";

const operations = new Set(["append", "replace", "overwrite", "delete"]);

export function snapshotFromJson(json: unknown): Snapshot {
  const obj = asObject(json, "snapshot");
  const snapshotId = toBigInt(obj["snapshot-id"], "snapshot-id");
  const summary = asStringMap(obj.summary ?? {}, `snapshot ${snapshotId} summary`);
  const operation = summary.operation ?? "";
  if (!operations.has(operation)) {
    throw new IcebergError("DATA_INVALID", `snapshot ${snapshotId} has unknown operation '${operation}'`);
  }
  const snapshot: Snapshot = {
    snapshotId,
    sequenceNumber:
      obj["sequence-number"] === undefined ? 0n : toBigInt(obj["sequence-number"], "sequence-number"),
    timestampMs: toSafeInt(obj["timestamp-ms"], `snapshot ${snapshotId} timestamp-ms`),
    manifestList: asString(obj["manifest-list"], `snapshot ${snapshotId} manifest-list`),
    summary: { ...summary, operation: operation as SnapshotOperation },
  };
  if (obj["parent-snapshot-id"] !== undefined && obj["parent-snapshot-id"] !== null) {
    snapshot.parentSnapshotId = toBigInt(obj["parent-snapshot-id"], "parent-snapshot-id");
  }
  if (obj["schema-id"] !== undefined && obj["schema-id"] !== null) {
    snapshot.schemaId = toSafeInt(obj["schema-id"], "schema-id");
  }
  if (obj["first-row-id"] !== undefined) snapshot.firstRowId = toBigInt(obj["first-row-id"], "first-row-id");
  if (obj["added-rows"] !== undefined) snapshot.addedRows = toBigInt(obj["added-rows"], "added-rows");
  return snapshot;
}

export function snapshotToJson(snapshot: Snapshot): Record<string, unknown> {
  const json: Record<string, unknown> = { "snapshot-id": snapshot.snapshotId };
  if (snapshot.parentSnapshotId !== undefined) json["parent-snapshot-id"] = snapshot.parentSnapshotId;
  json["sequence-number"] = snapshot.sequenceNumber;
  json["timestamp-ms"] = snapshot.timestampMs;
  json["manifest-list"] = snapshot.manifestList;
  json.summary = snapshot.summary;
  if (snapshot.schemaId !== undefined) json["schema-id"] = snapshot.schemaId;
  if (snapshot.firstRowId !== undefined) json["first-row-id"] = snapshot.firstRowId;
  if (snapshot.addedRows !== undefined) json["added-rows"] = snapshot.addedRows;
  return json;
}

export function snapshotRefFromJson(json: unknown, name: string): SnapshotRef {
  const obj = asObject(json, `ref '${name}'`);
  const type = obj.type;
  if (type !== "branch" && type !== "tag") {
    throw new IcebergError(
      "DATA_INVALID",
      `ref '${name}' has type ${JSON.stringify(type)}; expected branch or tag`,
    );
  }
  const ref: SnapshotRef = { snapshotId: toBigInt(obj["snapshot-id"], `ref '${name}' snapshot-id`), type };
  if (obj["max-snapshot-age-ms"] != null)
    ref.maxSnapshotAgeMs = toSafeInt(obj["max-snapshot-age-ms"], "max-snapshot-age-ms");
  if (obj["min-snapshots-to-keep"] != null) {
    ref.minSnapshotsToKeep = toSafeInt(obj["min-snapshots-to-keep"], "min-snapshots-to-keep");
  }
  if (obj["max-ref-age-ms"] != null) ref.maxRefAgeMs = toSafeInt(obj["max-ref-age-ms"], "max-ref-age-ms");
  return ref;
}

export function snapshotRefToJson(ref: SnapshotRef): Record<string, unknown> {
  const json: Record<string, unknown> = { "snapshot-id": ref.snapshotId, type: ref.type };
  if (ref.maxSnapshotAgeMs !== undefined) json["max-snapshot-age-ms"] = ref.maxSnapshotAgeMs;
  if (ref.minSnapshotsToKeep !== undefined) json["min-snapshots-to-keep"] = ref.minSnapshotsToKeep;
  if (ref.maxRefAgeMs !== undefined) json["max-ref-age-ms"] = ref.maxRefAgeMs;
  return json;
}

/** What one snapshot changed, in file and record counts; the summary's added-/deleted-/total- keys. */
export interface SnapshotChanges {
  addedDataFiles: number;
  removedDataFiles: number;
  addedRecords: number;
  removedRecords: number;
  addedFileSizeBytes: number;
  removedFileSizeBytes: number;
  addedPositionDeleteFiles: number;
  removedPositionDeleteFiles: number;
  addedEqualityDeleteFiles: number;
  removedEqualityDeleteFiles: number;
  addedPositionDeletes: number;
  removedPositionDeletes: number;
  addedEqualityDeletes: number;
  removedEqualityDeletes: number;
}

export function emptyChanges(): SnapshotChanges {
  return {
    addedDataFiles: 0,
    removedDataFiles: 0,
    addedRecords: 0,
    removedRecords: 0,
    addedFileSizeBytes: 0,
    removedFileSizeBytes: 0,
    addedPositionDeleteFiles: 0,
    removedPositionDeleteFiles: 0,
    addedEqualityDeleteFiles: 0,
    removedEqualityDeleteFiles: 0,
    addedPositionDeletes: 0,
    removedPositionDeletes: 0,
    addedEqualityDeletes: 0,
    removedEqualityDeletes: 0,
  };
}

const totals: Array<[total: string, added: keyof SnapshotChanges, removed: keyof SnapshotChanges]> = [
  ["total-data-files", "addedDataFiles", "removedDataFiles"],
  ["total-records", "addedRecords", "removedRecords"],
  ["total-files-size", "addedFileSizeBytes", "removedFileSizeBytes"],
  ["total-position-deletes", "addedPositionDeletes", "removedPositionDeletes"],
  ["total-equality-deletes", "addedEqualityDeletes", "removedEqualityDeletes"],
];

const changeKeys: Array<[string, keyof SnapshotChanges]> = [
  ["added-data-files", "addedDataFiles"],
  ["deleted-data-files", "removedDataFiles"],
  ["added-records", "addedRecords"],
  ["deleted-records", "removedRecords"],
  ["added-files-size", "addedFileSizeBytes"],
  ["removed-files-size", "removedFileSizeBytes"],
  ["added-position-delete-files", "addedPositionDeleteFiles"],
  ["removed-position-delete-files", "removedPositionDeleteFiles"],
  ["added-equality-delete-files", "addedEqualityDeleteFiles"],
  ["removed-equality-delete-files", "removedEqualityDeleteFiles"],
  ["added-delete-files", "addedPositionDeleteFiles"],
  ["added-position-deletes", "addedPositionDeletes"],
  ["removed-position-deletes", "removedPositionDeletes"],
  ["added-equality-deletes", "addedEqualityDeletes"],
  ["removed-equality-deletes", "removedEqualityDeletes"],
];

/**
 * The summary of a new snapshot: this snapshot's changes (non-zero keys only) and running totals
 * carried from the parent's summary, plus any extra properties (e.g. Floe's source position).
 */
export function buildSummary(
  operation: SnapshotOperation,
  changes: SnapshotChanges,
  parent: Snapshot | undefined,
  extra: Record<string, string> = {},
): Snapshot["summary"] {
  const summary: Record<string, string> = {};
  for (const [key, field] of changeKeys) {
    let value = changes[field];
    if (key === "added-delete-files")
      value = changes.addedPositionDeleteFiles + changes.addedEqualityDeleteFiles;
    if (value !== 0) summary[key] = String(value);
  }
  summary["total-delete-files"] = String(
    Math.max(
      0,
      Number(parent?.summary["total-delete-files"] ?? 0) +
        changes.addedPositionDeleteFiles +
        changes.addedEqualityDeleteFiles -
        changes.removedPositionDeleteFiles -
        changes.removedEqualityDeleteFiles,
    ),
  );
  for (const [total, added, removed] of totals) {
    const before = Number(parent?.summary[total] ?? 0);
    summary[total] = String(Math.max(0, before + changes[added] - changes[removed]));
  }
  return { ...extra, ...summary, operation };
}
