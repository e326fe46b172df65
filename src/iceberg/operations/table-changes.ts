/**
 * Commits that change a table's definition rather than its data: schema evolution, partition spec
 * evolution, sort order, properties, branches and tags. Each is requirements + updates through
 * `commitWithRetry`; each guards what it read (current schema id, last column id, default spec, ...),
 * so a concurrent definition change makes it recompute on the new metadata instead of clobbering it.
 */
import type { Catalog, LoadedTable } from "../../catalog/catalog.ts";
import { IcebergError } from "../errors.ts";
import { evolvePartitionSpec, type PartitionFieldRequest } from "../partitioning.ts";
import { SchemaUpdate } from "../schema-update.ts";
import type { SnapshotRef } from "../snapshot.ts";
import type { SortOrder } from "../sort-order.ts";
import { currentSchema, snapshotById } from "../table-metadata.ts";
import { LAST_ADDED, type TableRequirement, type TableUpdate } from "../table-update.ts";
import { type CommitOutcome, commitWithRetry, type RetryOptions } from "./commit.ts";

function uuidRequirement(table: LoadedTable): TableRequirement {
  return { type: "assert-table-uuid", uuid: table.metadata.tableUuid };
}

async function commitUpdates(
  catalog: Catalog,
  table: LoadedTable,
  build: (table: LoadedTable) => { requirements: TableRequirement[]; updates: TableUpdate[] },
  options: RetryOptions = {},
): Promise<CommitOutcome<void>> {
  return commitWithRetry(
    catalog,
    table,
    async (current) => {
      const { requirements, updates } = build(current);
      return {
        requirements: [uuidRequirement(current), ...requirements],
        updates,
        writtenFiles: [],
        result: undefined,
      };
    },
    options,
  );
}

/**
 * Evolves the schema: `define` receives a SchemaUpdate on the current schema (re-run on the new schema
 * after a conflict) and records its changes; the result becomes the current schema.
 */
export function updateSchema(
  catalog: Catalog,
  table: LoadedTable,
  define: (update: SchemaUpdate) => void,
  options?: RetryOptions,
) {
  return commitUpdates(
    catalog,
    table,
    (current) => {
      const m = current.metadata;
      const update = new SchemaUpdate(currentSchema(m), m.lastColumnId, {
        newSchemaId: Math.max(...m.schemas.map((x) => x.schemaId)) + 1,
      });
      define(update);
      const { schema } = update.apply();
      return {
        requirements: [
          { type: "assert-current-schema-id", currentSchemaId: current.metadata.currentSchemaId },
          { type: "assert-last-assigned-field-id", lastAssignedFieldId: current.metadata.lastColumnId },
        ],
        updates: [
          { action: "add-schema", schema },
          { action: "set-current-schema", schemaId: LAST_ADDED },
        ],
      };
    },
    options,
  );
}

/** Makes `fields` the default partition spec (reusing field ids of unchanged fields); old files keep theirs. */
export function updatePartitionSpec(
  catalog: Catalog,
  table: LoadedTable,
  fields: PartitionFieldRequest[],
  options?: RetryOptions,
) {
  return commitUpdates(
    catalog,
    table,
    (current) => {
      const m = current.metadata;
      const evolved = evolvePartitionSpec({
        schema: currentSchema(m),
        specs: m.partitionSpecs,
        lastPartitionId: m.lastPartitionId,
        fields,
      });
      return {
        requirements: [
          { type: "assert-default-spec-id", defaultSpecId: m.defaultSpecId },
          { type: "assert-last-assigned-partition-id", lastAssignedPartitionId: m.lastPartitionId },
        ],
        updates: [
          { action: "add-spec", spec: evolved.spec },
          { action: "set-default-spec", specId: LAST_ADDED },
        ],
      };
    },
    options,
  );
}

export function replaceSortOrder(
  catalog: Catalog,
  table: LoadedTable,
  order: SortOrder,
  options?: RetryOptions,
) {
  return commitUpdates(
    catalog,
    table,
    (current) => ({
      requirements: [
        { type: "assert-default-sort-order-id", defaultSortOrderId: current.metadata.defaultSortOrderId },
      ],
      updates: [
        { action: "add-sort-order", sortOrder: order },
        { action: "set-default-sort-order", sortOrderId: LAST_ADDED },
      ],
    }),
    options,
  );
}

export function updateProperties(
  catalog: Catalog,
  table: LoadedTable,
  set: Record<string, string>,
  remove: string[] = [],
  options?: RetryOptions,
) {
  return commitUpdates(
    catalog,
    table,
    () => {
      const updates: TableUpdate[] = [];
      if (Object.keys(set).length > 0) updates.push({ action: "set-properties", updates: set });
      if (remove.length > 0) updates.push({ action: "remove-properties", removals: remove });
      return { requirements: [], updates };
    },
    options,
  );
}

/** Creates or moves a branch or tag to an existing snapshot. */
export function setRef(
  catalog: Catalog,
  table: LoadedTable,
  name: string,
  ref: SnapshotRef,
  options?: RetryOptions,
) {
  return commitUpdates(
    catalog,
    table,
    (current) => {
      if (!snapshotById(current.metadata, ref.snapshotId)) {
        throw new IcebergError(
          "NOT_FOUND",
          `cannot point ${ref.type} '${name}' at snapshot ${ref.snapshotId}: it does not exist`,
        );
      }
      return {
        requirements: [
          {
            type: "assert-ref-snapshot-id",
            ref: name,
            snapshotId: current.metadata.refs[name]?.snapshotId ?? null,
          },
        ],
        updates: [{ action: "set-snapshot-ref", refName: name, ...ref }],
      };
    },
    options,
  );
}

export function removeRef(catalog: Catalog, table: LoadedTable, name: string, options?: RetryOptions) {
  return commitUpdates(
    catalog,
    table,
    () => {
      if (name === "main") throw new IcebergError("INCOMPATIBLE_CHANGE", "the main branch cannot be removed");
      return { requirements: [], updates: [{ action: "remove-snapshot-ref", refName: name }] };
    },
    options,
  );
}
