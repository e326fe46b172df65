import assert from "node:assert/strict";
import { test } from "node:test";
import { IcebergError } from "../../src/iceberg/errors.ts";
import { Schema } from "../../src/iceberg/schema.ts";
import type { Snapshot } from "../../src/iceberg/snapshot.ts";
import {
  currentSchema,
  currentSnapshot,
  newTableMetadata,
  type TableMetadata,
} from "../../src/iceberg/table-metadata.ts";
import {
  appendMetadataLog,
  applyUpdates,
  checkRequirements,
  LAST_ADDED,
  type TableRequirement,
  type TableUpdate,
  tableRequirementFromJson,
  tableRequirementToJson,
  tableUpdateFromJson,
  tableUpdateToJson,
} from "../../src/iceberg/table-update.ts";
import { primitive } from "../../src/iceberg/types.ts";

const schema = new Schema(0, [
  { id: 1, name: "id", required: true, type: primitive("long") },
  { id: 2, name: "name", required: false, type: primitive("string") },
]);
const base = newTableMetadata({ location: "file:///w/t", schema, tableUuid: "u-1", nowMs: 1000 });

function snapshot(id: bigint, seq: bigint, parent?: bigint): Snapshot {
  return {
    snapshotId: id,
    ...(parent === undefined ? {} : { parentSnapshotId: parent }),
    sequenceNumber: seq,
    timestampMs: 2000 + Number(seq),
    manifestList: `file:///w/t/metadata/snap-${id}.avro`,
    summary: { operation: "append" },
  };
}

const isCode = (code: string) => (e: unknown) => e instanceof IcebergError && e.code === code;

test("add-snapshot + set-snapshot-ref main moves the table forward and logs it", () => {
  const s1 = snapshot(9007199254740993n, 1n);
  const m1 = applyUpdates(
    base,
    [
      { action: "add-snapshot", snapshot: s1 },
      { action: "set-snapshot-ref", refName: "main", type: "branch", snapshotId: s1.snapshotId },
    ],
    { nowMs: 5000 },
  );
  assert.equal(currentSnapshot(m1)?.snapshotId, 9007199254740993n);
  assert.equal(m1.lastSequenceNumber, 1n);
  assert.deepEqual(m1.snapshotLog, [{ snapshotId: 9007199254740993n, timestampMs: 2001 }]);
  assert.equal(m1.lastUpdatedMs, 5000);
  assert.equal(currentSnapshot(base), undefined, "the input metadata is not modified");

  // A second writer that built on the same base has a stale sequence number: conflict.
  const stale = snapshot(42n, 1n, 9007199254740993n);
  assert.throws(
    () => applyUpdates(m1, [{ action: "add-snapshot", snapshot: stale }]),
    isCode("COMMIT_CONFLICT"),
  );
});

test("add-schema reuses an identical schema, assigns a fresh id otherwise, and -1 means last added", () => {
  const evolved = new Schema(0, [
    ...schema.fields,
    { id: 3, name: "email", required: false, type: primitive("string") },
  ]);
  const m = applyUpdates(base, [
    { action: "add-schema", schema: evolved },
    { action: "set-current-schema", schemaId: LAST_ADDED },
  ]);
  assert.equal(m.currentSchemaId, 1);
  assert.equal(m.lastColumnId, 3);
  assert.equal(currentSchema(m).findFieldByName("email")?.id, 3);
  const again = applyUpdates(m, [
    { action: "add-schema", schema },
    { action: "set-current-schema", schemaId: -1 },
  ]);
  assert.equal(again.schemas.length, 2, "identical schema is not added twice");
  assert.equal(again.currentSchemaId, 0);
  assert.throws(
    () => applyUpdates(base, [{ action: "set-current-schema", schemaId: 5 }]),
    isCode("DATA_INVALID"),
  );
});

test("requirements: each kind passes on a match and fails with COMMIT_CONFLICT naming the mismatch", () => {
  const s1 = snapshot(7n, 1n);
  const m = applyUpdates(base, [
    { action: "add-snapshot", snapshot: s1 },
    { action: "set-snapshot-ref", refName: "main", type: "branch", snapshotId: 7n },
  ]);
  const ok: TableRequirement[] = [
    { type: "assert-table-uuid", uuid: "u-1" },
    { type: "assert-ref-snapshot-id", ref: "main", snapshotId: 7n },
    { type: "assert-ref-snapshot-id", ref: "audit", snapshotId: null },
    { type: "assert-last-assigned-field-id", lastAssignedFieldId: 2 },
    { type: "assert-current-schema-id", currentSchemaId: 0 },
    { type: "assert-last-assigned-partition-id", lastAssignedPartitionId: 999 },
    { type: "assert-default-spec-id", defaultSpecId: 0 },
    { type: "assert-default-sort-order-id", defaultSortOrderId: 0 },
  ];
  checkRequirements(m, ok);
  checkRequirements(undefined, [{ type: "assert-create" }]);
  assert.throws(() => checkRequirements(m, [{ type: "assert-create" }]), isCode("COMMIT_CONFLICT"));
  assert.throws(
    () => checkRequirements(m, [{ type: "assert-ref-snapshot-id", ref: "main", snapshotId: 6n }]),
    (e: unknown) =>
      isCode("COMMIT_CONFLICT")(e) && /points at snapshot 7, expected 6/.test((e as Error).message),
  );
  assert.throws(
    () => checkRequirements(m, [{ type: "assert-ref-snapshot-id", ref: "main", snapshotId: null }]),
    isCode("COMMIT_CONFLICT"),
  );
  assert.throws(
    () => checkRequirements(m, [{ type: "assert-current-schema-id", currentSchemaId: 1 }]),
    isCode("COMMIT_CONFLICT"),
  );
  assert.throws(
    () => checkRequirements(undefined, [{ type: "assert-table-uuid", uuid: "u-1" }]),
    isCode("NOT_FOUND"),
  );
  for (const req of ok) assert.deepEqual(tableRequirementFromJson(tableRequirementToJson(req)), req);
});

test("remove-snapshots drops the snapshots, refs to them and their log entries", () => {
  const m = applyUpdates(base, [
    { action: "add-snapshot", snapshot: snapshot(1n, 1n) },
    { action: "set-snapshot-ref", refName: "main", type: "branch", snapshotId: 1n },
    { action: "add-snapshot", snapshot: snapshot(2n, 2n, 1n) },
    { action: "set-snapshot-ref", refName: "main", type: "branch", snapshotId: 2n },
    { action: "set-snapshot-ref", refName: "v1", type: "tag", snapshotId: 1n },
  ]);
  const expired = applyUpdates(m, [{ action: "remove-snapshots", snapshotIds: [1n] }]);
  assert.deepEqual(
    expired.snapshots.map((s) => s.snapshotId),
    [2n],
  );
  assert.deepEqual(Object.keys(expired.refs), ["main"]);
  assert.deepEqual(
    expired.snapshotLog.map((e) => e.snapshotId),
    [2n],
  );
});

test("updates round-trip through their REST JSON form", () => {
  const updates: TableUpdate[] = [
    { action: "assign-uuid", uuid: "u-2" },
    { action: "add-schema", schema },
    { action: "set-current-schema", schemaId: -1 },
    { action: "add-snapshot", snapshot: snapshot(5046905793601075286n, 3n, 1n) },
    {
      action: "set-snapshot-ref",
      refName: "main",
      type: "branch",
      snapshotId: 5046905793601075286n,
      maxRefAgeMs: 10,
    },
    { action: "remove-snapshots", snapshotIds: [1n] },
    { action: "remove-snapshot-ref", refName: "old" },
    { action: "set-location", location: "s3://b/t" },
    { action: "set-properties", updates: { a: "1" } },
    { action: "remove-properties", removals: ["b"] },
  ];
  for (const update of updates) {
    const back = tableUpdateFromJson(tableUpdateToJson(update));
    if (update.action === "add-schema" && back.action === "add-schema") {
      assert.ok(back.schema.sameStructure(update.schema));
    } else {
      assert.deepEqual(back, update);
    }
  }
  assert.throws(() => tableUpdateFromJson({ action: "add-encryption-key" }), isCode("FEATURE_UNSUPPORTED"));
  assert.throws(() => tableUpdateFromJson({ action: "make-coffee" }), isCode("DATA_INVALID"));
});

test("the metadata log keeps the newest previous-versions-max entries", () => {
  let m: TableMetadata = { ...base, properties: { "write.metadata.previous-versions-max": "2" } };
  for (let i = 1; i <= 3; i++) m = appendMetadataLog(m, `file:///w/t/metadata/0000${i}-x.metadata.json`, i);
  assert.deepEqual(
    m.metadataLog.map((e) => e.timestampMs),
    [2, 3],
  );
});
