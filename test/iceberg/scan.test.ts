// Scan planning over manifests built in memory: which files pruning skips, and which delete files apply to
// which data file under the spec's sequence number and partition rules.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { toBinary } from "../../src/iceberg/conversions.ts";
import {
  type DataFile,
  DataFileContent,
  type ManifestEntry,
  ManifestEntryStatus,
} from "../../src/iceberg/data-file.ts";
import { POSITION_DELETE_FILE_PATH_ID } from "../../src/iceberg/delete-file-index.ts";
import { IcebergError } from "../../src/iceberg/errors.ts";
import { and, equal, greaterThan, isNull } from "../../src/iceberg/expressions.ts";
import { encodeManifest } from "../../src/iceberg/manifest.ts";
import { encodeManifestList, ManifestContent, type ManifestFile } from "../../src/iceberg/manifest-list.ts";
import { type PartitionSpec, partitionSpecToJson, partitionType } from "../../src/iceberg/partitioning.ts";
import { planScan, resolveScanSnapshot } from "../../src/iceberg/scan.ts";
import { Schema, schemaToJson } from "../../src/iceberg/schema.ts";
import { newTableMetadata, type TableMetadata } from "../../src/iceberg/table-metadata.ts";
import { identity } from "../../src/iceberg/transforms.ts";
import { LocalFileIO } from "../../src/io/index.ts";

const dir = mkdtempSync(join(tmpdir(), "floe-scan-unit-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const root = `file://${dir}`;
const io = new LocalFileIO();

const schema = new Schema(0, [
  { id: 1, name: "id", required: false, type: { kind: "long" } },
  { id: 2, name: "category", required: false, type: { kind: "string" } },
]);
const byCategory: PartitionSpec = {
  specId: 0,
  fields: [{ sourceId: 2, fieldId: 1000, name: "category", transform: identity }],
};
const unpartitioned: PartitionSpec = { specId: 1, fields: [] };

const long = (v: bigint) => toBinary({ kind: "long" }, v);

function dataFile(name: string, category: string | null, minId: bigint, maxId: bigint, rows = 10): DataFile {
  return {
    content: DataFileContent.DATA,
    filePath: `${root}/data/${name}.parquet`,
    fileFormat: "parquet",
    partition: category === undefined ? {} : { category },
    recordCount: rows,
    fileSizeInBytes: 100,
    valueCounts: new Map([
      [1, rows],
      [2, rows],
    ]),
    nullValueCounts: new Map([
      [1, 0],
      [2, category === null ? rows : 0],
    ]),
    lowerBounds: new Map([[1, long(minId)]]),
    upperBounds: new Map([[1, long(maxId)]]),
  };
}

function deleteFile(
  name: string,
  content: DataFile["content"],
  partition: DataFile["partition"],
  extra: Partial<DataFile> = {},
): DataFile {
  return {
    content,
    filePath: `${root}/data/${name}.parquet`,
    fileFormat: "parquet",
    partition,
    recordCount: 1,
    fileSizeInBytes: 50,
    ...(content === DataFileContent.EQUALITY_DELETES ? { equalityIds: [1] } : {}),
    ...extra,
  };
}

const entry = (file: DataFile, sequenceNumber: bigint): ManifestEntry => ({
  status: ManifestEntryStatus.EXISTING,
  snapshotId: 1n,
  sequenceNumber,
  fileSequenceNumber: sequenceNumber,
  dataFile: file,
});

async function writeManifest(
  name: string,
  spec: PartitionSpec,
  content: ManifestContent,
  entries: ManifestEntry[],
): Promise<ManifestFile> {
  const path = `${root}/metadata/${name}.avro`;
  const encoded = encodeManifest(
    {
      path,
      snapshotId: 1n,
      content,
      schemaId: 0,
      schemaJson: schemaToJson(schema),
      partitionSpecId: spec.specId,
      partitionFields: partitionSpecToJson(spec).fields,
      partitionType: partitionType(spec, schema),
    },
    entries,
  );
  await io.write(path, encoded.bytes);
  return encoded.manifestFile;
}

const d1 = dataFile("d1", "a", 1n, 10n);
const d2 = dataFile("d2", "b", 11n, 20n);
const d3 = dataFile("d3", "a", 21n, 30n);
const d4 = dataFile("d4", null, 31n, 40n);
const pathBound = (path: string) => new TextEncoder().encode(path);
// Position deletes of partition a: p1 (seq 2) reaches d1 only; p2 (seq 3) has file_path bounds that name d3
// only; p3 (seq 9) names d3 as its referenced data file.
const p1 = deleteFile("p1", DataFileContent.POSITION_DELETES, { category: "a" });
const p2 = deleteFile(
  "p2",
  DataFileContent.POSITION_DELETES,
  { category: "a" },
  {
    lowerBounds: new Map([[POSITION_DELETE_FILE_PATH_ID, pathBound(d3.filePath)]]),
    upperBounds: new Map([[POSITION_DELETE_FILE_PATH_ID, pathBound(d3.filePath)]]),
  },
);
const p3 = deleteFile(
  "p3",
  DataFileContent.POSITION_DELETES,
  { category: "a" },
  { referencedDataFile: d3.filePath },
);
// Equality deletes: e1 in partition a at seq 3 (strictly newer than d1 only); g1 global at seq 2.
const e1 = deleteFile("e1", DataFileContent.EQUALITY_DELETES, { category: "a" });
const g1 = deleteFile("g1", DataFileContent.EQUALITY_DELETES, {});

async function buildTable(): Promise<TableMetadata> {
  const manifests = [
    await writeManifest("data", byCategory, ManifestContent.DATA, [
      entry(d1, 1n),
      entry(d2, 1n),
      entry(d3, 3n),
      entry(d4, 3n),
    ]),
    await writeManifest("deletes-a", byCategory, ManifestContent.DELETES, [
      entry(p1, 2n),
      entry(p2, 3n),
      entry(p3, 9n),
      entry(e1, 3n),
    ]),
    await writeManifest("deletes-global", unpartitioned, ManifestContent.DELETES, [entry(g1, 2n)]),
  ];
  const listPath = `${root}/metadata/snap-1.avro`;
  await io.write(
    listPath,
    encodeManifestList({ snapshotId: 1n, parentSnapshotId: null, sequenceNumber: 9n }, manifests),
  );
  const metadata = newTableMetadata({ location: root, schema, spec: byCategory, nowMs: 1000 });
  metadata.partitionSpecs.push(unpartitioned);
  metadata.snapshots.push({
    snapshotId: 1n,
    sequenceNumber: 9n,
    timestampMs: 2000,
    manifestList: listPath,
    summary: { operation: "overwrite" },
    schemaId: 0,
  });
  metadata.refs.main = { snapshotId: 1n, type: "branch" };
  metadata.snapshotLog.push({ snapshotId: 1n, timestampMs: 2000 });
  metadata.lastSequenceNumber = 9n;
  return metadata;
}

const name = (file: DataFile) => file.filePath.replace(/^.*\//, "").replace(".parquet", "");

describe("planScan", async () => {
  const table = { metadata: await buildTable(), io };

  test("matches delete files by partition, spec and sequence number", async () => {
    const plan = await planScan(table);
    const deletes = Object.fromEntries(plan.tasks.map((t) => [name(t.dataFile), t.deletes.map(name).sort()]));
    assert.deepEqual(deletes, {
      d1: ["e1", "g1", "p1"], // p1: 1 <= 2; e1: 1 < 3; g1 global: 1 < 2
      d2: ["g1"], // partition b: only the global delete
      d3: ["p2", "p3"], // p1 is older (2 < 3); e1 is not strictly newer (3); p2 bounds and p3 reference it
      d4: [], // partition null: no partition a deletes; g1 (2) is older than d4 (3)
    });
    assert.equal(plan.tasks.find((t) => name(t.dataFile) === "d3")?.dataSequenceNumber, 3n);
  });

  test("skips files by partition value, with their deletes", async () => {
    const plan = await planScan(table, { filter: equal("category", "b") });
    assert.deepEqual(
      plan.tasks.map((t) => name(t.dataFile)),
      ["d2"],
    );
    assert.equal(plan.metrics.dataFilesSkippedByPartition, 3);
    // The partition-a delete manifest is dropped whole by its summary.
    assert.equal(plan.metrics.manifestsSkipped, 1);
    assert.deepEqual(plan.tasks[0]!.deletes.map(name), ["g1"]);
  });

  test("skips manifests by their partition summaries", async () => {
    const plan = await planScan(table, { filter: equal("category", "z") });
    assert.deepEqual(plan.tasks, []);
    assert.equal(plan.metrics.manifestsSkipped, 2);
  });

  test("skips files by column bounds and null counts", async () => {
    const byId = await planScan(table, { filter: greaterThan("id", 25n) });
    assert.deepEqual(byId.tasks.map((t) => name(t.dataFile)).sort(), ["d3", "d4"]);
    assert.equal(byId.metrics.dataFilesSkippedByMetrics, 2);
    const nulls = await planScan(table, { filter: isNull("category") });
    assert.deepEqual(
      nulls.tasks.map((t) => name(t.dataFile)),
      ["d4"],
    );
    const both = await planScan(table, { filter: and(equal("category", "a"), equal("id", 5)) });
    assert.deepEqual(
      both.tasks.map((t) => name(t.dataFile)),
      ["d1"],
    );
  });

  test("resolves snapshots and reports bad choices", () => {
    const { metadata } = table;
    assert.equal(resolveScanSnapshot(metadata).snapshot?.snapshotId, 1n);
    assert.equal(resolveScanSnapshot(metadata, { asOfTimestampMs: 2500 }).snapshot?.snapshotId, 1n);
    assert.equal(resolveScanSnapshot(metadata, { ref: "main" }).schema.schemaId, 0);
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return error instanceof IcebergError ? error.code : String(error);
      }
      return "no error";
    };
    assert.equal(
      code(() => resolveScanSnapshot(metadata, { snapshotId: 7n })),
      "NOT_FOUND",
    );
    assert.equal(
      code(() => resolveScanSnapshot(metadata, { asOfTimestampMs: 1500 })),
      "NOT_FOUND",
    );
    assert.equal(
      code(() => resolveScanSnapshot(metadata, { ref: "nope" })),
      "NOT_FOUND",
    );
    assert.equal(
      code(() => resolveScanSnapshot(metadata, { ref: "main", snapshotId: 1n })),
      "DATA_INVALID",
    );
  });

  test("an unknown filter column is DATA_INVALID naming it", async () => {
    await assert.rejects(planScan(table, { filter: equal("nope", 1) }), /column 'nope'/);
  });
});
