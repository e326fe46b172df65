import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { IcebergError } from "../../src/iceberg/errors.ts";
import {
  currentSchema,
  currentSnapshot,
  defaultSpec,
  metadataFileName,
  metadataFileVersion,
  parseTableMetadata,
  serializeTableMetadata,
  snapshotAsOf,
} from "../../src/iceberg/table-metadata.ts";

const fixturePath = new URL("../fixtures/pyiceberg/partitioned-evolved.metadata.json", import.meta.url);
const fixture = readFileSync(fixturePath, "utf8");

test("reads metadata pyiceberg wrote: schemas, specs, 63-bit snapshot ids, refs and logs", () => {
  const m = parseTableMetadata(fixture, "fixture");
  assert.equal(m.formatVersion, 2);
  assert.equal(m.tableUuid, "7e1653a9-88ba-4482-98da-f0a99952aa4f");
  assert.equal(m.lastColumnId, 10);
  assert.equal(m.schemas.length, 2);
  assert.equal(currentSchema(m).findFieldByName("extra")?.id, 10);
  assert.deepEqual(currentSchema(m).identifierFieldIds, [1]);
  assert.deepEqual(
    defaultSpec(m).fields.map((f) => [f.name, f.sourceId, f.fieldId]),
    [
      ["ts_day", 3, 1000],
      ["id_bucket", 1, 1001],
    ],
  );
  // Beyond 2^53: a lossy JSON.parse would have rounded these.
  assert.deepEqual(
    m.snapshots.map((s) => s.snapshotId),
    [5755165340889966350n, 5046905793601075286n],
  );
  assert.equal(currentSnapshot(m)?.snapshotId, 5046905793601075286n);
  assert.equal(currentSnapshot(m)?.parentSnapshotId, 5755165340889966350n);
  assert.equal(m.lastSequenceNumber, 2n);
  assert.equal(snapshotAsOf(m, 1795570864106)?.snapshotId, 5755165340889966350n);
  assert.equal(snapshotAsOf(m, 1795570864105), undefined);
  assert.equal(m.metadataLog.length, 3);
  assert.equal(m.properties.owner, "fixture");
});

test("serialize → parse round-trips exactly, and ids stay digits in the JSON", () => {
  const m = parseTableMetadata(fixture, "fixture");
  const text = serializeTableMetadata(m);
  assert.match(text, /"snapshot-id": 5046905793601075286/);
  assert.deepEqual(parseTableMetadata(text, "round trip"), m);
  // pyiceberg writes `decimal(10, 2)`; the spec's form, which we write, has no space.
  const original = JSON.parse(fixture.replaceAll("decimal(10, 2)", "decimal(10,2)")) as Record<
    string,
    unknown
  >;
  const written = JSON.parse(text) as Record<string, unknown>;
  for (const key of [
    "schemas",
    "partition-specs",
    "sort-orders",
    "last-partition-id",
    "default-spec-id",
    "location",
  ]) {
    assert.deepEqual(written[key], original[key], key);
  }
});

test("a metadata file that does not parse is DATA_INVALID and names the file", () => {
  assert.throws(
    () => parseTableMetadata("{ not json", "s3://b/t/metadata/00001-x.metadata.json"),
    (e: unknown) =>
      e instanceof IcebergError && e.code === "DATA_INVALID" && e.message.includes("00001-x.metadata.json"),
  );
  const broken = JSON.parse(fixture) as Record<string, unknown>;
  broken["current-schema-id"] = 7;
  assert.throws(
    () => parseTableMetadata(JSON.stringify(broken), "broken.metadata.json"),
    (e: unknown) => e instanceof IcebergError && e.code === "DATA_INVALID" && /schema 7/.test(e.message),
  );
  const v3 = { ...(JSON.parse(fixture) as Record<string, unknown>), "format-version": 3 };
  assert.throws(
    () => parseTableMetadata(JSON.stringify(v3)),
    (e: unknown) => e instanceof IcebergError && e.code === "FEATURE_UNSUPPORTED",
  );
});

test("metadata file names are NNNNN-<uuid>.metadata.json", () => {
  const name = metadataFileName(12, "0b1c");
  assert.equal(name, "00012-0b1c.metadata.json");
  assert.equal(metadataFileVersion(`s3://b/t/metadata/${name}`), 12);
  assert.equal(metadataFileVersion("s3://b/t/metadata/v3.metadata.json"), undefined);
});
