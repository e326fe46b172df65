// The text of a metadata file (serializeTableMetadata), which reuses each snapshot's serialized text from
// one metadata version to the next: it must stay byte for byte what a plain lossless serialization of
// the same metadata gives (lossless-json, indented by two) — as snapshots are added to a table and
// expired from it, on metadata read from another writer's file, and after a parse round trip.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { stringify } from "lossless-json";
import type { Snapshot } from "../../src/iceberg/snapshot.ts";
import {
  parseTableMetadata,
  serializeTableMetadata,
  type TableMetadata,
  tableMetadataToJson,
} from "../../src/iceberg/table-metadata.ts";
import { applyUpdates } from "../../src/iceberg/table-update.ts";

const fixture = readFileSync(
  new URL("../fixtures/pyiceberg/partitioned-evolved.metadata.json", import.meta.url),
  "utf8",
);

const reference = (m: TableMetadata) => stringify(tableMetadataToJson(m), undefined, 2);

function commit(m: TableMetadata, n: number): TableMetadata {
  const parent = m.refs.main?.snapshotId;
  const snapshot: Snapshot = {
    snapshotId: 7_000_000_000_000_000_000n + BigInt(n),
    ...(parent !== undefined ? { parentSnapshotId: parent } : {}),
    sequenceNumber: m.lastSequenceNumber + 1n,
    timestampMs: m.lastUpdatedMs + 1000,
    manifestList: `${m.location}/metadata/snap-${n}.avro`,
    summary: { operation: "append", "added-records": String(n), "floe.source.position": `0/${n}#"\\` },
    schemaId: m.currentSchemaId,
  };
  return applyUpdates(m, [
    { action: "add-snapshot", snapshot },
    { action: "set-snapshot-ref", refName: "main", type: "branch", snapshotId: snapshot.snapshotId },
  ]);
}

test("a metadata file is byte for byte the lossless serialization, as snapshots come and go", () => {
  let m = parseTableMetadata(fixture, "fixture");
  assert.equal(serializeTableMetadata(m), reference(m));
  for (let n = 1; n <= 300; n++) {
    m = commit(m, n);
    if (n % 50 === 0) assert.equal(serializeTableMetadata(m), reference(m), `after ${n} commits`);
  }
  const expired = m.snapshots.slice(0, 120).map((s) => s.snapshotId);
  m = applyUpdates(m, [
    { action: "remove-snapshots", snapshotIds: expired },
    { action: "set-properties", updates: { "write.metadata.previous-versions-max": "5" } },
  ]);
  const text = serializeTableMetadata(m);
  assert.equal(text, reference(m));
  assert.equal(m.snapshots.length, 182);
  // Read back (new snapshot objects, serialized afresh) and written again: the same text.
  const reread = parseTableMetadata(text, "round trip");
  assert.deepEqual(reread, m);
  assert.equal(serializeTableMetadata(reread), text);
  assert.match(
    text,
    /\n {4}\{\n {6}"snapshot-id": 7000000000000000300,\n {6}"parent-snapshot-id": 7000000000000000299,/,
  );
});
