import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DataFileContent, type ManifestEntry, ManifestEntryStatus } from "../../src/iceberg/data-file.ts";
import { decodeManifest, encodeManifest, type ManifestWriteOptions } from "../../src/iceberg/manifest.ts";
import {
  decodeManifestList,
  encodeManifestList,
  ManifestContent,
  type ManifestFile,
} from "../../src/iceberg/manifest-list.ts";
import { mergeManifestEntries, mergeManifests, planManifestMerge } from "../../src/iceberg/manifest-merge.ts";
import type { StructType } from "../../src/iceberg/types.ts";

const partitionType: StructType = {
  kind: "struct",
  fields: [{ id: 1000, name: "region", required: false, type: { kind: "string" } }],
};

function writeOptions(path: string, snapshotId: bigint): ManifestWriteOptions {
  return {
    path,
    snapshotId,
    content: ManifestContent.DATA,
    schemaId: 0,
    schemaJson: {
      type: "struct",
      "schema-id": 0,
      fields: [{ id: 1, name: "region", required: false, type: "string" }],
    },
    partitionSpecId: 0,
    partitionFields: [{ "source-id": 1, "field-id": 1000, name: "region", transform: "identity" }],
    partitionType,
  };
}

function entry(
  status: ManifestEntry["status"],
  name: string,
  snapshotId: bigint | null,
  seq: bigint | null,
): ManifestEntry {
  return {
    status,
    snapshotId,
    sequenceNumber: seq,
    fileSequenceNumber: seq,
    dataFile: {
      content: DataFileContent.DATA,
      filePath: `file:///t/data/${name}.parquet`,
      fileFormat: "parquet",
      partition: { region: name },
      recordCount: 10,
      fileSizeInBytes: 100,
    },
  };
}

function fakeManifest(path: string, length: number, extra: Partial<ManifestFile> = {}): ManifestFile {
  return {
    manifestPath: path,
    manifestLength: length,
    partitionSpecId: 0,
    content: ManifestContent.DATA,
    sequenceNumber: 1n,
    minSequenceNumber: 1n,
    addedSnapshotId: 1n,
    addedFilesCount: 1,
    existingFilesCount: 0,
    deletedFilesCount: 0,
    addedRowsCount: 1,
    existingRowsCount: 0,
    deletedRowsCount: 0,
    partitions: null,
    keyMetadata: null,
    ...extra,
  };
}

describe("manifest merge planning", () => {
  it("keeps everything while the newest bin has fewer manifests than min-count-to-merge", () => {
    const manifests = Array.from({ length: 5 }, (_, i) => fakeManifest(`m${i}`, 1000));
    const steps = planManifestMerge(manifests, { targetSizeBytes: 1_000_000, minCountToMerge: 10 });
    assert.deepEqual(
      steps.map((s) => s.kind),
      ["keep", "keep", "keep", "keep", "keep"],
    );
  });

  it("merges the newest bin once it reaches min-count-to-merge", () => {
    const manifests = Array.from({ length: 5 }, (_, i) => fakeManifest(`m${i}`, 1000));
    const steps = planManifestMerge(manifests, { targetSizeBytes: 1_000_000, minCountToMerge: 5 });
    assert.equal(steps.length, 1);
    assert.equal(steps[0]?.kind, "merge");
  });

  it("packs old manifests into target-sized merges and leaves large ones alone", () => {
    const manifests = [
      fakeManifest("new", 100),
      fakeManifest("a", 400),
      fakeManifest("b", 400),
      fakeManifest("c", 400),
      fakeManifest("d", 400),
      fakeManifest("huge", 5000),
    ];
    const steps = planManifestMerge(manifests, { targetSizeBytes: 1000, minCountToMerge: 100 });
    const shape = steps.map((s) =>
      s.kind === "keep" ? s.manifest.manifestPath : s.manifests.map((m) => m.manifestPath),
    );
    // From the oldest: [huge], [c, d], then [new, a, b] holds the newest and is below min-count.
    assert.deepEqual(shape, ["new", "a", "b", ["c", "d"], "huge"]);
  });

  it("never merges across partition specs or content", () => {
    const manifests = [
      fakeManifest("d0", 10),
      fakeManifest("x0", 10, { content: ManifestContent.DELETES }),
      fakeManifest("s1", 10, { partitionSpecId: 1 }),
      fakeManifest("d1", 10),
    ];
    const steps = planManifestMerge(manifests, { minCountToMerge: 2 });
    const shape = steps.map((s) =>
      s.kind === "keep" ? s.manifest.manifestPath : s.manifests.map((m) => m.manifestPath),
    );
    assert.deepEqual(shape, [["d0", "d1"], "x0", "s1"]);
  });
});

describe("manifest merge", () => {
  it("turns older ADDED entries into EXISTING, drops old deletes, keeps this snapshot's changes", () => {
    const merged = mergeManifestEntries(
      [
        [
          entry(ManifestEntryStatus.ADDED, "new", 9n, null),
          entry(ManifestEntryStatus.DELETED, "gone-now", 9n, 3n),
        ],
        [
          entry(ManifestEntryStatus.ADDED, "old", 5n, 3n),
          entry(ManifestEntryStatus.EXISTING, "older", 2n, 1n),
          entry(ManifestEntryStatus.DELETED, "gone-before", 5n, 1n),
        ],
      ],
      9n,
    );
    assert.deepEqual(
      merged.map((e) => [e.dataFile.partition.region, e.status, e.sequenceNumber]),
      [
        ["new", ManifestEntryStatus.ADDED, null],
        ["gone-now", ManifestEntryStatus.DELETED, 3n],
        ["old", ManifestEntryStatus.EXISTING, 3n],
        ["older", ManifestEntryStatus.EXISTING, 1n],
      ],
    );
  });

  it("merges manifests through I/O callbacks, preserving inherited sequence numbers", async () => {
    const store = new Map<string, Uint8Array>();
    // Snapshot 5 (sequence number 2) added two files in one manifest and deleted one older file.
    const first = encodeManifest(writeOptions("mem://m-5.avro", 5n), [
      entry(ManifestEntryStatus.ADDED, "a", 5n, null),
      entry(ManifestEntryStatus.ADDED, "b", null, null),
      entry(ManifestEntryStatus.DELETED, "z", 5n, 1n),
    ]);
    store.set("mem://m-5.avro", first.bytes);
    const list5 = decodeManifestList(
      encodeManifestList({ snapshotId: 5n, parentSnapshotId: null, sequenceNumber: 2n }, [
        first.manifestFile,
      ]),
    );
    // Snapshot 6 (sequence number 3) appends one more file.
    const second = encodeManifest(writeOptions("mem://m-6.avro", 6n), [
      entry(ManifestEntryStatus.ADDED, "c", 6n, null),
    ]);
    store.set("mem://m-6.avro", second.bytes);

    let counter = 0;
    const result = await mergeManifests(
      [second.manifestFile, ...list5.manifests],
      { snapshotId: 6n, minCountToMerge: 2 },
      {
        readManifest: async (path) => store.get(path) ?? assert.fail(`no ${path}`),
        writeManifest: async (path, bytes) => {
          store.set(path, bytes);
        },
        newManifestPath: () => `mem://merged-${counter++}.avro`,
      },
    );
    assert.equal(result.length, 1);
    const merged = result[0]!;
    assert.equal(merged.manifestPath, "mem://merged-0.avro");
    assert.equal(merged.addedSnapshotId, 6n);
    assert.deepEqual(
      [merged.addedFilesCount, merged.existingFilesCount, merged.deletedFilesCount],
      [1, 2, 0],
    );
    assert.equal(merged.sequenceNumber, null);
    assert.equal(merged.minSequenceNumber, 2n);

    const list6 = decodeManifestList(
      encodeManifestList({ snapshotId: 6n, parentSnapshotId: 5n, sequenceNumber: 3n }, result),
    );
    const manifestFile = list6.manifests[0]!;
    const entries = decodeManifest(store.get(manifestFile.manifestPath)!, { inherit: manifestFile }).entries;
    assert.deepEqual(
      entries.map((e) => [
        e.dataFile.partition.region,
        e.status,
        e.snapshotId,
        e.sequenceNumber,
        e.fileSequenceNumber,
      ]),
      [
        ["c", ManifestEntryStatus.ADDED, 6n, 3n, 3n],
        ["a", ManifestEntryStatus.EXISTING, 5n, 2n, 2n],
        ["b", ManifestEntryStatus.EXISTING, 5n, 2n, 2n],
      ],
    );
  });
});
