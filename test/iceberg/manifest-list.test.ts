import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeAvroFile, encodeAvroFile } from "../../src/iceberg/avro.ts";
import { IcebergError } from "../../src/iceberg/errors.ts";
import {
  assignSequenceNumbers,
  decodeManifestList,
  encodeManifestList,
  ManifestContent,
  type ManifestFile,
} from "../../src/iceberg/manifest-list.ts";

const snapshotId = 0x7fff_ffff_ffff_fff1n; // near 2^63: loses precision as a number
const parentSnapshotId = -0x7fff_ffff_ffff_fff1n;

function manifest(overrides: Partial<ManifestFile> = {}): ManifestFile {
  return {
    manifestPath: "s3://bucket/t/metadata/new-m0.avro",
    manifestLength: 6123,
    partitionSpecId: 0,
    content: ManifestContent.DATA,
    sequenceNumber: null,
    minSequenceNumber: null,
    addedSnapshotId: snapshotId,
    addedFilesCount: 3,
    existingFilesCount: 0,
    deletedFilesCount: 0,
    addedRowsCount: 300,
    existingRowsCount: 0,
    deletedRowsCount: 0,
    partitions: [
      {
        containsNull: false,
        containsNan: false,
        lowerBound: Uint8Array.of(1, 0, 0, 0),
        upperBound: Uint8Array.of(9, 0, 0, 0),
      },
      { containsNull: true, containsNan: null, lowerBound: null, upperBound: null },
    ],
    keyMetadata: null,
    ...overrides,
  };
}

const older = manifest({
  manifestPath: "s3://bucket/t/metadata/old-m0.avro",
  content: ManifestContent.DELETES,
  partitionSpecId: 1,
  sequenceNumber: 4n,
  minSequenceNumber: 2n,
  addedSnapshotId: 77n,
  addedFilesCount: 0,
  existingFilesCount: 5,
  deletedFilesCount: 1,
  addedRowsCount: 0,
  existingRowsCount: 2 ** 40,
  deletedRowsCount: 9,
  partitions: null,
  keyMetadata: Uint8Array.of(1, 2, 3),
});

describe("manifest list", () => {
  it("round-trips and assigns the snapshot's sequence number to new manifests", () => {
    const bytes = encodeManifestList({ snapshotId, parentSnapshotId, sequenceNumber: 5n }, [
      manifest(),
      older,
    ]);
    const list = decodeManifestList(bytes, "snap-1.avro");
    assert.equal(list.formatVersion, 2);
    assert.equal(list.snapshotId, snapshotId);
    assert.equal(list.parentSnapshotId, parentSnapshotId);
    assert.equal(list.sequenceNumber, 5n);
    assert.deepEqual(list.manifests, [manifest({ sequenceNumber: 5n, minSequenceNumber: 5n }), older]);
  });

  it("keeps a known min sequence number of a new manifest", () => {
    const [assigned] = assignSequenceNumbers([manifest({ minSequenceNumber: 2n })], snapshotId, 8n);
    assert.equal(assigned?.sequenceNumber, 8n);
    assert.equal(assigned?.minSequenceNumber, 2n);
  });

  it("refuses to assign a sequence number to another snapshot's manifest", () => {
    assert.throws(
      () =>
        encodeManifestList({ snapshotId, parentSnapshotId: null, sequenceNumber: 1n }, [
          manifest({ addedSnapshotId: 3n }),
        ]),
      (error: unknown) =>
        error instanceof IcebergError && error.code === "DATA_INVALID" && /new-m0/.test(error.message),
    );
  });

  it("writes header metadata and field ids", () => {
    const bytes = encodeManifestList(
      { snapshotId, parentSnapshotId: null, sequenceNumber: 1n, codec: "null" },
      [manifest()],
    );
    const file = decodeAvroFile(bytes, "test");
    assert.equal(file.metadata.get("snapshot-id"), snapshotId.toString());
    assert.equal(file.metadata.get("parent-snapshot-id"), "null");
    assert.equal(file.metadata.get("sequence-number"), "1");
    assert.equal(file.metadata.get("format-version"), "2");
    assert.equal(decodeManifestList(bytes).parentSnapshotId, null);

    const schema = file.schema as {
      name: string;
      fields: Array<{ name: string; "field-id": number; type: unknown }>;
    };
    assert.equal(schema.name, "manifest_file");
    const ids = Object.fromEntries(schema.fields.map((f) => [f.name, f["field-id"]]));
    assert.deepEqual(ids, {
      manifest_path: 500,
      manifest_length: 501,
      partition_spec_id: 502,
      content: 517,
      sequence_number: 515,
      min_sequence_number: 516,
      added_snapshot_id: 503,
      added_files_count: 504,
      existing_files_count: 505,
      deleted_files_count: 506,
      added_rows_count: 512,
      existing_rows_count: 513,
      deleted_rows_count: 514,
      partitions: 507,
      key_metadata: 519,
    });
    const partitions = schema.fields.find((f) => f.name === "partitions")?.type as [
      "null",
      { type: string; "element-id": number; items: { fields: Array<{ name: string; "field-id": number }> } },
    ];
    assert.equal(partitions[1]["element-id"], 508);
    assert.deepEqual(
      partitions[1].items.fields.map((f) => [f.name, f["field-id"]]),
      [
        ["contains_null", 509],
        ["contains_nan", 518],
        ["lower_bound", 510],
        ["upper_bound", 511],
      ],
    );
  });

  it("reports garbage as DATA_INVALID naming the file", () => {
    assert.throws(
      () => decodeManifestList(Uint8Array.of(1, 2, 3), "s3://b/snap.avro"),
      (error: unknown) =>
        error instanceof IcebergError && error.code === "DATA_INVALID" && /snap\.avro/.test(error.message),
    );
  });

  it("reads a v1 manifest list by field id, with the spec's v2 defaults", () => {
    // v1 writers named the counts added_data_files_count, ... and had no content or sequence numbers.
    const bytes = encodeAvroFile(
      {
        schema: {
          type: "record",
          name: "manifest_file",
          fields: [
            { name: "manifest_path", type: "string", "field-id": 500 },
            { name: "manifest_length", type: "long", "field-id": 501 },
            { name: "partition_spec_id", type: "int", "field-id": 502 },
            { name: "added_snapshot_id", type: ["null", "long"], default: null, "field-id": 503 },
            { name: "added_data_files_count", type: ["null", "int"], default: null, "field-id": 504 },
            { name: "existing_data_files_count", type: ["null", "int"], default: null, "field-id": 505 },
            { name: "deleted_data_files_count", type: ["null", "int"], default: null, "field-id": 506 },
            { name: "added_rows_count", type: ["null", "long"], default: null, "field-id": 512 },
            { name: "existing_rows_count", type: ["null", "long"], default: null, "field-id": 513 },
            { name: "deleted_rows_count", type: ["null", "long"], default: null, "field-id": 514 },
          ],
        },
        metadata: { "snapshot-id": "12", "format-version": "1" },
      },
      [
        {
          manifest_path: "m.avro",
          manifest_length: 10n,
          partition_spec_id: 0,
          added_snapshot_id: 12n,
          added_data_files_count: 1,
          existing_data_files_count: 2,
          deleted_data_files_count: 0,
          added_rows_count: 5n,
          existing_rows_count: 6n,
          deleted_rows_count: 0n,
        },
      ],
      "v1 list",
    );
    const list = decodeManifestList(bytes);
    assert.equal(list.formatVersion, 1);
    assert.equal(list.sequenceNumber, null);
    const [m] = list.manifests;
    assert.deepEqual(
      [
        m?.content,
        m?.sequenceNumber,
        m?.minSequenceNumber,
        m?.addedFilesCount,
        m?.existingFilesCount,
        m?.existingRowsCount,
      ],
      [ManifestContent.DATA, 0n, 0n, 1, 2, 6],
    );
  });
});
