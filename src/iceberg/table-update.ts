/**
 * The one commit path (DESIGN principle 2): a table change is a list of requirements, checked against
 * the table's current metadata, plus a list of updates applied to it — the REST catalog's `updateTable`
 * shape, used alike by the embedded catalog, the REST client and `floe serve`. This module owns both
 * lists' model and JSON forms, the requirement check, and applying updates to metadata.
 */
import { IcebergError } from "./errors.ts";
import { asArray, asObject, asString, asStringMap, toBigInt, toSafeInt } from "./json.ts";
import {
  type PartitionSpec,
  partitionFieldsFromJson,
  partitionSpecToJson,
  specsEquivalent,
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
import { type SortOrder, sortOrderFromJson, sortOrdersEquivalent, sortOrderToJson } from "./sort-order.ts";
import { snapshotById, type TableMetadata, validateMetadata } from "./table-metadata.ts";

export type TableRequirement =
  | { type: "assert-create" }
  | { type: "assert-table-uuid"; uuid: string }
  /** `snapshotId: null` asserts the ref does not exist. */
  | { type: "assert-ref-snapshot-id"; ref: string; snapshotId: bigint | null }
  | { type: "assert-last-assigned-field-id"; lastAssignedFieldId: number }
  | { type: "assert-current-schema-id"; currentSchemaId: number }
  | { type: "assert-last-assigned-partition-id"; lastAssignedPartitionId: number }
  | { type: "assert-default-spec-id"; defaultSpecId: number }
  | { type: "assert-default-sort-order-id"; defaultSortOrderId: number };

/** `-1` in set-current-schema / set-default-spec / set-default-sort-order means "the one added last". */
export const LAST_ADDED = -1;

export type TableUpdate =
  | { action: "assign-uuid"; uuid: string }
  | { action: "upgrade-format-version"; formatVersion: number }
  | { action: "add-schema"; schema: Schema }
  | { action: "set-current-schema"; schemaId: number }
  | { action: "add-spec"; spec: PartitionSpec }
  | { action: "set-default-spec"; specId: number }
  | { action: "add-sort-order"; sortOrder: SortOrder }
  | { action: "set-default-sort-order"; sortOrderId: number }
  | { action: "add-snapshot"; snapshot: Snapshot }
  | ({ action: "set-snapshot-ref"; refName: string } & SnapshotRef)
  | { action: "remove-snapshots"; snapshotIds: bigint[] }
  | { action: "remove-snapshot-ref"; refName: string }
  | { action: "set-location"; location: string }
  | { action: "set-properties"; updates: Record<string, string> }
  | { action: "remove-properties"; removals: string[] }
  | { action: "set-statistics"; statistics: Record<string, unknown> }
  | { action: "remove-statistics"; snapshotId: bigint }
  | { action: "set-partition-statistics"; partitionStatistics: Record<string, unknown> }
  | { action: "remove-partition-statistics"; snapshotId: bigint }
  | { action: "remove-partition-specs"; specIds: number[] }
  | { action: "remove-schemas"; schemaIds: number[] };

function conflict(message: string): IcebergError {
  return new IcebergError("COMMIT_CONFLICT", message);
}

/**
 * Checks every requirement against the table as it is now (`undefined` when it does not exist). A failed
 * requirement is a COMMIT_CONFLICT naming what was expected and what was found: the writer re-reads the
 * table, re-validates its change and retries.
 */
export function checkRequirements(
  base: TableMetadata | undefined,
  requirements: readonly TableRequirement[],
): void {
  for (const req of requirements) {
    if (req.type === "assert-create") {
      if (base)
        throw new IcebergError("COMMIT_CONFLICT", "requirement failed: table already exists (assert-create)");
      continue;
    }
    if (!base)
      throw new IcebergError("NOT_FOUND", `requirement ${req.type} failed: the table does not exist`);
    switch (req.type) {
      case "assert-table-uuid":
        if (base.tableUuid !== req.uuid) {
          throw conflict(`requirement failed: table uuid is ${base.tableUuid}, expected ${req.uuid}`);
        }
        break;
      case "assert-ref-snapshot-id": {
        const ref = base.refs[req.ref];
        if (req.snapshotId === null) {
          if (ref)
            throw conflict(
              `requirement failed: ref '${req.ref}' was created concurrently (now ${ref.snapshotId})`,
            );
        } else if (!ref) {
          throw conflict(
            `requirement failed: ref '${req.ref}' is missing, expected snapshot ${req.snapshotId}`,
          );
        } else if (ref.snapshotId !== req.snapshotId) {
          throw conflict(
            `requirement failed: ref '${req.ref}' points at snapshot ${ref.snapshotId}, expected ${req.snapshotId}`,
          );
        }
        break;
      }
      case "assert-last-assigned-field-id":
        if (base.lastColumnId !== req.lastAssignedFieldId) {
          throw conflict(
            `requirement failed: last assigned field id is ${base.lastColumnId}, expected ${req.lastAssignedFieldId}`,
          );
        }
        break;
      case "assert-current-schema-id":
        if (base.currentSchemaId !== req.currentSchemaId) {
          throw conflict(
            `requirement failed: current schema id is ${base.currentSchemaId}, expected ${req.currentSchemaId}`,
          );
        }
        break;
      case "assert-last-assigned-partition-id":
        if (base.lastPartitionId !== req.lastAssignedPartitionId) {
          throw conflict(
            `requirement failed: last assigned partition id is ${base.lastPartitionId}, expected ${req.lastAssignedPartitionId}`,
          );
        }
        break;
      case "assert-default-spec-id":
        if (base.defaultSpecId !== req.defaultSpecId) {
          throw conflict(
            `requirement failed: default spec id is ${base.defaultSpecId}, expected ${req.defaultSpecId}`,
          );
        }
        break;
      case "assert-default-sort-order-id":
        if (base.defaultSortOrderId !== req.defaultSortOrderId) {
          throw conflict(
            `requirement failed: default sort order id is ${base.defaultSortOrderId}, expected ${req.defaultSortOrderId}`,
          );
        }
        break;
    }
  }
}

function invalid(message: string): IcebergError {
  return new IcebergError("DATA_INVALID", message);
}

/**
 * Applies updates in order to `base` and returns new metadata (the input is not modified). For a table
 * being created, pass metadata from `newTableMetadata`. Ids in add-schema/add-spec/add-sort-order are
 * reassigned when an equivalent one exists (it is reused) or when the id is taken.
 */
export function applyUpdates(
  base: TableMetadata,
  updates: readonly TableUpdate[],
  options: { nowMs?: number } = {},
): TableMetadata {
  const now = options.nowMs ?? Date.now();
  const m: TableMetadata = structuredCloneMetadata(base);
  let lastAddedSchemaId: number | undefined;
  let lastAddedSpecId: number | undefined;
  let lastAddedOrderId: number | undefined;
  let changed = false;

  for (const update of updates) {
    changed = true;
    switch (update.action) {
      case "assign-uuid":
        if (m.snapshots.length > 0 && m.tableUuid !== update.uuid) {
          throw invalid(
            `cannot reassign the uuid of table ${m.location} from ${m.tableUuid} to ${update.uuid}`,
          );
        }
        m.tableUuid = update.uuid;
        break;
      case "upgrade-format-version":
        if (update.formatVersion !== 2) {
          throw new IcebergError(
            update.formatVersion > 2 ? "FEATURE_UNSUPPORTED" : "INCOMPATIBLE_CHANGE",
            `cannot change format-version to ${update.formatVersion}; Floe tables are format v2`,
          );
        }
        break;
      case "add-schema": {
        const existing = m.schemas.find((s) => s.sameStructure(update.schema));
        if (existing) {
          lastAddedSchemaId = existing.schemaId;
          break;
        }
        const taken = m.schemas.some((s) => s.schemaId === update.schema.schemaId);
        const schemaId = taken ? Math.max(...m.schemas.map((s) => s.schemaId)) + 1 : update.schema.schemaId;
        const schema = taken ? withSchemaId(update.schema, schemaId) : update.schema;
        m.schemas.push(schema);
        m.lastColumnId = Math.max(m.lastColumnId, schema.highestFieldId());
        lastAddedSchemaId = schemaId;
        break;
      }
      case "set-current-schema": {
        const id = update.schemaId === LAST_ADDED ? lastAddedSchemaId : update.schemaId;
        if (id === undefined)
          throw invalid("set-current-schema -1 needs an add-schema earlier in the same commit");
        if (!m.schemas.some((s) => s.schemaId === id))
          throw invalid(`set-current-schema: no schema with id ${id}`);
        m.currentSchemaId = id;
        break;
      }
      case "add-spec": {
        const existing = m.partitionSpecs.find((s) => specsEquivalent(s, update.spec));
        if (existing) {
          lastAddedSpecId = existing.specId;
          break;
        }
        const taken = m.partitionSpecs.some((s) => s.specId === update.spec.specId);
        const specId = taken ? Math.max(...m.partitionSpecs.map((s) => s.specId)) + 1 : update.spec.specId;
        m.partitionSpecs.push({ ...update.spec, specId });
        m.lastPartitionId = Math.max(m.lastPartitionId, ...update.spec.fields.map((f) => f.fieldId));
        lastAddedSpecId = specId;
        break;
      }
      case "set-default-spec": {
        const id = update.specId === LAST_ADDED ? lastAddedSpecId : update.specId;
        if (id === undefined)
          throw invalid("set-default-spec -1 needs an add-spec earlier in the same commit");
        if (!m.partitionSpecs.some((s) => s.specId === id))
          throw invalid(`set-default-spec: no partition spec ${id}`);
        m.defaultSpecId = id;
        break;
      }
      case "add-sort-order": {
        const existing = m.sortOrders.find((o) => sortOrdersEquivalent(o, update.sortOrder));
        if (existing) {
          lastAddedOrderId = existing.orderId;
          break;
        }
        const taken = m.sortOrders.some((o) => o.orderId === update.sortOrder.orderId);
        const orderId = taken
          ? Math.max(...m.sortOrders.map((o) => o.orderId)) + 1
          : update.sortOrder.orderId;
        m.sortOrders.push({ ...update.sortOrder, orderId });
        lastAddedOrderId = orderId;
        break;
      }
      case "set-default-sort-order": {
        const id = update.sortOrderId === LAST_ADDED ? lastAddedOrderId : update.sortOrderId;
        if (id === undefined)
          throw invalid("set-default-sort-order -1 needs an add-sort-order in the same commit");
        if (!m.sortOrders.some((o) => o.orderId === id))
          throw invalid(`set-default-sort-order: no sort order ${id}`);
        m.defaultSortOrderId = id;
        break;
      }
      case "add-snapshot": {
        const snapshot = update.snapshot;
        if (snapshotById(m, snapshot.snapshotId)) {
          throw conflict(`snapshot ${snapshot.snapshotId} already exists in table ${m.location}`);
        }
        if (snapshot.sequenceNumber <= m.lastSequenceNumber && snapshot.parentSnapshotId !== undefined) {
          throw conflict(
            `snapshot ${snapshot.snapshotId} has sequence number ${snapshot.sequenceNumber}, not above the table's last ${m.lastSequenceNumber}: another commit came first`,
          );
        }
        m.snapshots.push(snapshot);
        if (snapshot.sequenceNumber > m.lastSequenceNumber) m.lastSequenceNumber = snapshot.sequenceNumber;
        m.lastUpdatedMs = Math.max(m.lastUpdatedMs, snapshot.timestampMs);
        break;
      }
      case "set-snapshot-ref": {
        const snapshot = snapshotById(m, update.snapshotId);
        if (!snapshot)
          throw invalid(`set-snapshot-ref '${update.refName}': snapshot ${update.snapshotId} does not exist`);
        if (update.refName === MAIN_BRANCH && update.type !== "branch")
          throw invalid("main must be a branch");
        const { action: _a, refName, ...ref } = update;
        const previous = m.refs[refName];
        m.refs[refName] = ref;
        if (refName === MAIN_BRANCH && previous?.snapshotId !== ref.snapshotId) {
          m.snapshotLog.push({ snapshotId: ref.snapshotId, timestampMs: Math.max(snapshot.timestampMs, 0) });
        }
        break;
      }
      case "remove-snapshots": {
        const removed = new Set(update.snapshotIds);
        m.snapshots = m.snapshots.filter((s) => !removed.has(s.snapshotId));
        for (const [name, ref] of Object.entries(m.refs))
          if (removed.has(ref.snapshotId)) delete m.refs[name];
        m.snapshotLog = m.snapshotLog.filter((e) => !removed.has(e.snapshotId));
        m.statistics = m.statistics.filter((s) => !removed.has(statisticsSnapshotId(s)));
        m.partitionStatistics = m.partitionStatistics.filter((s) => !removed.has(statisticsSnapshotId(s)));
        break;
      }
      case "remove-snapshot-ref":
        delete m.refs[update.refName];
        break;
      case "set-location":
        m.location = update.location.replace(/\/+$/, "");
        break;
      case "set-properties":
        Object.assign(m.properties, update.updates);
        break;
      case "remove-properties":
        for (const key of update.removals) delete m.properties[key];
        break;
      case "set-statistics": {
        const id = statisticsSnapshotId(update.statistics);
        m.statistics = [...m.statistics.filter((s) => statisticsSnapshotId(s) !== id), update.statistics];
        break;
      }
      case "remove-statistics":
        m.statistics = m.statistics.filter((s) => statisticsSnapshotId(s) !== update.snapshotId);
        break;
      case "set-partition-statistics": {
        const id = statisticsSnapshotId(update.partitionStatistics);
        m.partitionStatistics = [
          ...m.partitionStatistics.filter((s) => statisticsSnapshotId(s) !== id),
          update.partitionStatistics,
        ];
        break;
      }
      case "remove-partition-statistics":
        m.partitionStatistics = m.partitionStatistics.filter(
          (s) => statisticsSnapshotId(s) !== update.snapshotId,
        );
        break;
      case "remove-partition-specs":
        if (update.specIds.includes(m.defaultSpecId)) {
          throw invalid(`cannot remove the default partition spec ${m.defaultSpecId}`);
        }
        m.partitionSpecs = m.partitionSpecs.filter((s) => !update.specIds.includes(s.specId));
        break;
      case "remove-schemas":
        if (update.schemaIds.includes(m.currentSchemaId)) {
          throw invalid(`cannot remove the current schema ${m.currentSchemaId}`);
        }
        m.schemas = m.schemas.filter((s) => !update.schemaIds.includes(s.schemaId));
        break;
    }
  }
  if (changed) m.lastUpdatedMs = Math.max(now, m.lastUpdatedMs);
  validateMetadata(m);
  return m;
}

function statisticsSnapshotId(stats: unknown): bigint {
  const obj = asObject(stats, "statistics file");
  return toBigInt(obj["snapshot-id"], "statistics snapshot-id");
}

function withSchemaId(schema: Schema, schemaId: number): Schema {
  return schemaFromJson({ ...schemaToJson(schema), "schema-id": schemaId });
}

function structuredCloneMetadata(m: TableMetadata): TableMetadata {
  // Schemas are immutable class instances and are shared; everything else is copied one level deep.
  return {
    ...m,
    schemas: [...m.schemas],
    partitionSpecs: [...m.partitionSpecs],
    sortOrders: [...m.sortOrders],
    properties: { ...m.properties },
    snapshots: [...m.snapshots],
    refs: { ...m.refs },
    snapshotLog: [...m.snapshotLog],
    metadataLog: [...m.metadataLog],
    statistics: [...m.statistics],
    partitionStatistics: [...m.partitionStatistics],
  };
}

/** Records the metadata file a commit replaced, keeping the newest `maxEntries` (write.metadata.previous-versions-max). */
export function appendMetadataLog(
  metadata: TableMetadata,
  previousMetadataFile: string,
  previousLastUpdatedMs: number,
  maxEntries = Number(metadata.properties["write.metadata.previous-versions-max"] ?? 100),
): TableMetadata {
  const log = [
    ...metadata.metadataLog,
    { metadataFile: previousMetadataFile, timestampMs: previousLastUpdatedMs },
  ];
  return { ...metadata, metadataLog: log.slice(Math.max(0, log.length - maxEntries)) };
}

// ---- JSON forms (REST) ----

export function tableRequirementToJson(req: TableRequirement): Record<string, unknown> {
  switch (req.type) {
    case "assert-create":
      return { type: req.type };
    case "assert-table-uuid":
      return { type: req.type, uuid: req.uuid };
    case "assert-ref-snapshot-id":
      return { type: req.type, ref: req.ref, "snapshot-id": req.snapshotId };
    case "assert-last-assigned-field-id":
      return { type: req.type, "last-assigned-field-id": req.lastAssignedFieldId };
    case "assert-current-schema-id":
      return { type: req.type, "current-schema-id": req.currentSchemaId };
    case "assert-last-assigned-partition-id":
      return { type: req.type, "last-assigned-partition-id": req.lastAssignedPartitionId };
    case "assert-default-spec-id":
      return { type: req.type, "default-spec-id": req.defaultSpecId };
    case "assert-default-sort-order-id":
      return { type: req.type, "default-sort-order-id": req.defaultSortOrderId };
  }
}

export function tableRequirementFromJson(json: unknown): TableRequirement {
  const o = asObject(json, "table requirement");
  switch (o.type) {
    case "assert-create":
      return { type: "assert-create" };
    case "assert-table-uuid":
      return { type: "assert-table-uuid", uuid: asString(o.uuid, "assert-table-uuid uuid") };
    case "assert-ref-snapshot-id":
      return {
        type: "assert-ref-snapshot-id",
        ref: asString(o.ref, "assert-ref-snapshot-id ref"),
        snapshotId:
          o["snapshot-id"] == null ? null : toBigInt(o["snapshot-id"], "assert-ref-snapshot-id snapshot-id"),
      };
    case "assert-last-assigned-field-id":
      return {
        type: "assert-last-assigned-field-id",
        lastAssignedFieldId: toSafeInt(o["last-assigned-field-id"], "last-assigned-field-id"),
      };
    case "assert-current-schema-id":
      return {
        type: "assert-current-schema-id",
        currentSchemaId: toSafeInt(o["current-schema-id"], "current-schema-id"),
      };
    case "assert-last-assigned-partition-id":
      return {
        type: "assert-last-assigned-partition-id",
        lastAssignedPartitionId: toSafeInt(o["last-assigned-partition-id"], "last-assigned-partition-id"),
      };
    case "assert-default-spec-id":
      return {
        type: "assert-default-spec-id",
        defaultSpecId: toSafeInt(o["default-spec-id"], "default-spec-id"),
      };
    case "assert-default-sort-order-id":
      return {
        type: "assert-default-sort-order-id",
        defaultSortOrderId: toSafeInt(o["default-sort-order-id"], "default-sort-order-id"),
      };
    default:
      throw invalid(`unknown table requirement type ${JSON.stringify(o.type)}`);
  }
}

export function tableUpdateToJson(update: TableUpdate): Record<string, unknown> {
  switch (update.action) {
    case "assign-uuid":
      return { action: update.action, uuid: update.uuid };
    case "upgrade-format-version":
      return { action: update.action, "format-version": update.formatVersion };
    case "add-schema":
      return { action: update.action, schema: schemaToJson(update.schema) };
    case "set-current-schema":
      return { action: update.action, "schema-id": update.schemaId };
    case "add-spec":
      return { action: update.action, spec: partitionSpecToJson(update.spec) };
    case "set-default-spec":
      return { action: update.action, "spec-id": update.specId };
    case "add-sort-order":
      return { action: update.action, "sort-order": sortOrderToJson(update.sortOrder) };
    case "set-default-sort-order":
      return { action: update.action, "sort-order-id": update.sortOrderId };
    case "add-snapshot":
      return { action: update.action, snapshot: snapshotToJson(update.snapshot) };
    case "set-snapshot-ref": {
      const { action, refName, ...ref } = update;
      return { action, "ref-name": refName, ...snapshotRefToJson(ref) };
    }
    case "remove-snapshots":
      return { action: update.action, "snapshot-ids": update.snapshotIds };
    case "remove-snapshot-ref":
      return { action: update.action, "ref-name": update.refName };
    case "set-location":
      return { action: update.action, location: update.location };
    case "set-properties":
      return { action: update.action, updates: update.updates };
    case "remove-properties":
      return { action: update.action, removals: update.removals };
    case "set-statistics":
      return { action: update.action, statistics: update.statistics };
    case "remove-statistics":
      return { action: update.action, "snapshot-id": update.snapshotId };
    case "set-partition-statistics":
      return { action: update.action, "partition-statistics": update.partitionStatistics };
    case "remove-partition-statistics":
      return { action: update.action, "snapshot-id": update.snapshotId };
    case "remove-partition-specs":
      return { action: update.action, "spec-ids": update.specIds };
    case "remove-schemas":
      return { action: update.action, "schema-ids": update.schemaIds };
  }
}

export function tableUpdateFromJson(json: unknown): TableUpdate {
  const o = asObject(json, "table update");
  const action = o.action;
  switch (action) {
    case "assign-uuid":
      return { action, uuid: asString(o.uuid, "assign-uuid uuid") };
    case "upgrade-format-version":
      return { action, formatVersion: toSafeInt(o["format-version"], "format-version") };
    case "add-schema":
      return { action, schema: schemaFromJson(o.schema) };
    case "set-current-schema":
      return { action, schemaId: toSafeInt(o["schema-id"], "schema-id") };
    case "add-spec": {
      const spec = asObject(o.spec, "add-spec spec");
      return {
        action,
        spec: {
          specId: spec["spec-id"] === undefined ? 0 : toSafeInt(spec["spec-id"], "spec-id"),
          fields: partitionFieldsFromJson(spec.fields),
        },
      };
    }
    case "set-default-spec":
      return { action, specId: toSafeInt(o["spec-id"], "spec-id") };
    case "add-sort-order":
      return { action, sortOrder: sortOrderFromJson(o["sort-order"]) };
    case "set-default-sort-order":
      return { action, sortOrderId: toSafeInt(o["sort-order-id"], "sort-order-id") };
    case "add-snapshot":
      return { action, snapshot: snapshotFromJson(o.snapshot) };
    case "set-snapshot-ref": {
      const refName = asString(o["ref-name"], "set-snapshot-ref ref-name");
      return { action, refName, ...snapshotRefFromJson(o, refName) };
    }
    case "remove-snapshots":
      return {
        action,
        snapshotIds: asArray(o["snapshot-ids"], "snapshot-ids").map((id) => toBigInt(id, "snapshot-ids")),
      };
    case "remove-snapshot-ref":
      return { action, refName: asString(o["ref-name"], "remove-snapshot-ref ref-name") };
    case "set-location":
      return { action, location: asString(o.location, "set-location location") };
    case "set-properties":
      return { action, updates: asStringMap(o.updates, "set-properties updates") };
    case "remove-properties":
      return { action, removals: asArray(o.removals, "removals").map((r) => asString(r, "removals")) };
    case "set-statistics":
      return { action, statistics: asObject(o.statistics, "statistics") };
    case "remove-statistics":
      return { action, snapshotId: toBigInt(o["snapshot-id"], "snapshot-id") };
    case "set-partition-statistics":
      return { action, partitionStatistics: asObject(o["partition-statistics"], "partition-statistics") };
    case "remove-partition-statistics":
      return { action, snapshotId: toBigInt(o["snapshot-id"], "snapshot-id") };
    case "remove-partition-specs":
      return { action, specIds: asArray(o["spec-ids"], "spec-ids").map((id) => toSafeInt(id, "spec-ids")) };
    case "remove-schemas":
      return {
        action,
        schemaIds: asArray(o["schema-ids"], "schema-ids").map((id) => toSafeInt(id, "schema-ids")),
      };
    case "add-encryption-key":
    case "remove-encryption-key":
      throw new IcebergError(
        "FEATURE_UNSUPPORTED",
        `table update ${action} is not supported: Floe tables are not encrypted`,
      );
    default:
      throw invalid(`unknown table update action ${JSON.stringify(action)}`);
  }
}
