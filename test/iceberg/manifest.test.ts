import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeAvroFile } from "../../src/iceberg/avro.ts";
import {
  type DataFile,
  DataFileContent,
  type ManifestEntry,
  ManifestEntryStatus,
} from "../../src/iceberg/data-file.ts";
import { IcebergError } from "../../src/iceberg/errors.ts";
import { decodeManifest, encodeManifest, type ManifestWriteOptions } from "../../src/iceberg/manifest.ts";
import { ManifestContent } from "../../src/iceberg/manifest-list.ts";
import type { PartitionFieldJson } from "../../src/iceberg/partitioning.ts";
import type { StructType } from "../../src/iceberg/types.ts";

const schemaJson = {
  type: "struct",
  "schema-id": 3,
  fields: [
    { id: 1, name: "id", required: true, type: "long" },
    { id: 2, name: "ts", required: false, type: "timestamptz" },
    { id: 3, name: "region", required: false, type: "string" },
    { id: 4, name: "amount", required: false, type: "decimal(10,2)" },
  ],
};

const partitionFields: PartitionFieldJson[] = [
  { "source-id": 2, "field-id": 1000, name: "ts_day", transform: "day" },
  { "source-id": 3, "field-id": 1001, name: "region", transform: "identity" },
  { "source-id": 1, "field-id": 1002, name: "id-bucket", transform: "bucket[16]" },
  { "source-id": 2, "field-id": 1003, name: "ts", transform: "identity" },
  { "source-id": 4, "field-id": 1004, name: "amount", transform: "identity" },
];

const partitionType: StructType = {
  kind: "struct",
  fields: [
    { id: 1000, name: "ts_day", required: false, type: { kind: "date" } },
    { id: 1001, name: "region", required: false, type: { kind: "string" } },
    { id: 1002, name: "id-bucket", required: false, type: { kind: "int" } },
    { id: 1003, name: "ts", required: false, type: { kind: "timestamptz" } },
    { id: 1004, name: "amount", required: false, type: { kind: "decimal", precision: 10, scale: 2 } },
  ],
};

const bigSnapshotId = 9_007_199_254_740_993n; // 2^53 + 1: not representable as a number
const negativeSnapshotId = -8_070_450_532_247_928_832n;

function options(overrides: Partial<ManifestWriteOptions> = {}): ManifestWriteOptions {
  return {
    path: "s3://bucket/t/metadata/m1.avro",
    snapshotId: bigSnapshotId,
    content: ManifestContent.DATA,
    schemaId: 3,
    schemaJson,
    partitionSpecId: 7,
    partitionFields,
    partitionType,
    ...overrides,
  };
}

function dataFile(name: string, overrides: Partial<DataFile> = {}): DataFile {
  return {
    content: DataFileContent.DATA,
    filePath: `s3://bucket/t/data/${name}.parquet`,
    fileFormat: "parquet",
    partition: { ts_day: 19_000, region: "eu", "id-bucket": 3, ts: 1_700_000_000_000_000n, amount: -12_345n },
    recordCount: 100,
    fileSizeInBytes: 4096,
    ...overrides,
  };
}

function added(file: DataFile): ManifestEntry {
  return {
    status: ManifestEntryStatus.ADDED,
    snapshotId: null,
    sequenceNumber: null,
    fileSequenceNumber: null,
    dataFile: file,
  };
}

const fullFile = dataFile("full", {
  columnSizes: new Map([
    [1, 800],
    [2, 1200],
  ]),
  valueCounts: new Map([
    [1, 100],
    [2, 100],
  ]),
  nullValueCounts: new Map([
    [1, 0],
    [2, 5],
  ]),
  nanValueCounts: new Map([[4, 0]]),
  lowerBounds: new Map([
    [1, Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0)],
    [3, new TextEncoder().encode("a")],
  ]),
  upperBounds: new Map([[1, Uint8Array.of(0xff, 0, 0, 0, 0, 0, 0, 0)]]),
  keyMetadata: Uint8Array.of(9, 9),
  splitOffsets: [4, 2048],
  sortOrderId: 1,
});

describe("manifest", () => {
  it("round-trips entries with every data_file field", () => {
    const entries: ManifestEntry[] = [
      added(fullFile),
      {
        status: ManifestEntryStatus.EXISTING,
        snapshotId: negativeSnapshotId,
        sequenceNumber: 4n,
        fileSequenceNumber: 5n,
        dataFile: dataFile("old", {
          partition: { ts_day: null, region: null, "id-bucket": null, ts: null, amount: null },
        }),
      },
    ];
    for (const codec of ["deflate", "null"] as const) {
      const { bytes } = encodeManifest(options({ codec }), entries);
      const manifest = decodeManifest(bytes);
      assert.deepEqual(manifest.entries, entries);
      assert.equal(manifest.formatVersion, 2);
      assert.equal(manifest.content, ManifestContent.DATA);
      assert.equal(manifest.schemaId, 3);
      assert.equal(manifest.partitionSpecId, 7);
      assert.deepEqual(manifest.schemaJson, schemaJson);
      assert.deepEqual(manifest.partitionFields, partitionFields);
      assert.deepEqual(manifest.partitionType, partitionType);
    }
  });

  it("writes the spec's header metadata and field ids in the embedded Avro schema", () => {
    const { bytes } = encodeManifest(options({ content: ManifestContent.DELETES }), [
      added(dataFile("eq", { content: DataFileContent.EQUALITY_DELETES, equalityIds: [1] })),
    ]);
    const file = decodeAvroFile(bytes, "test");
    assert.equal(file.metadata.get("format-version"), "2");
    assert.equal(file.metadata.get("content"), "deletes");
    assert.equal(file.metadata.get("schema-id"), "3");
    assert.equal(file.metadata.get("partition-spec-id"), "7");
    assert.deepEqual(JSON.parse(file.metadata.get("schema") ?? ""), schemaJson);
    assert.deepEqual(JSON.parse(file.metadata.get("partition-spec") ?? ""), partitionFields);

    // biome-ignore lint/suspicious/noExplicitAny: walking raw schema JSON in a test
    const schema = file.schema as any;
    assert.equal(schema.name, "manifest_entry");
    // biome-ignore lint/suspicious/noExplicitAny: raw schema JSON
    const field = (record: any, name: string) => record.fields.find((f: any) => f.name === name);
    assert.equal(field(schema, "status")["field-id"], 0);
    assert.equal(field(schema, "snapshot_id")["field-id"], 1);
    assert.deepEqual(field(schema, "snapshot_id").type, ["null", "long"]);
    assert.equal(field(schema, "snapshot_id").default, null);
    assert.equal(field(schema, "sequence_number")["field-id"], 3);
    assert.equal(field(schema, "file_sequence_number")["field-id"], 4);
    const dataFileField = field(schema, "data_file");
    assert.equal(dataFileField["field-id"], 2);
    const df = dataFileField.type;
    const ids = Object.fromEntries(
      df.fields.map((f: { name: string; "field-id": number }) => [f.name, f["field-id"]]),
    );
    assert.deepEqual(ids, {
      content: 134,
      file_path: 100,
      file_format: 101,
      partition: 102,
      record_count: 103,
      file_size_in_bytes: 104,
      column_sizes: 108,
      value_counts: 109,
      null_value_counts: 110,
      nan_value_counts: 137,
      lower_bounds: 125,
      upper_bounds: 128,
      key_metadata: 131,
      split_offsets: 132,
      equality_ids: 135,
      sort_order_id: 140,
      referenced_data_file: 143,
    });
    const lowerBounds = field(df, "lower_bounds").type[1];
    assert.equal(lowerBounds.type, "array");
    assert.equal(lowerBounds.logicalType, "map");
    assert.equal(field(lowerBounds.items, "key")["field-id"], 126);
    assert.equal(field(lowerBounds.items, "value")["field-id"], 127);
    assert.equal(field(lowerBounds.items, "value").type, "bytes");
    assert.equal(field(field(df, "column_sizes").type[1].items, "key")["field-id"], 117);
    assert.equal(field(df, "split_offsets").type[1]["element-id"], 133);
    assert.equal(field(df, "equality_ids").type[1]["element-id"], 136);

    const partition = field(df, "partition").type;
    assert.equal(partition.type, "record");
    assert.deepEqual(
      partition.fields.map((f: { name: string; "field-id": number }) => [f.name, f["field-id"]]),
      [
        ["ts_day", 1000],
        ["region", 1001],
        ["id_x2Dbucket", 1002],
        ["ts", 1003],
        ["amount", 1004],
      ],
    );
    assert.deepEqual(field(partition, "ts_day").type, ["null", { type: "int", logicalType: "date" }]);
    assert.deepEqual(field(partition, "ts").type, [
      "null",
      { type: "long", logicalType: "timestamp-micros", "adjust-to-utc": true },
    ]);
    assert.deepEqual(field(partition, "amount").type[1], {
      type: "fixed",
      name: "fixed_1004",
      size: 5,
      logicalType: "decimal",
      precision: 10,
      scale: 2,
    });
  });

  it("writes file_format upper case and reads it case-insensitively", () => {
    const { bytes } = encodeManifest(options(), [added(dataFile("a"))]);
    const raw = decodeAvroFile(bytes, "test").records[0] as { data_file: { file_format: string } };
    assert.equal(raw.data_file.file_format, "PARQUET");
    assert.equal(decodeManifest(bytes).entries[0]?.dataFile.fileFormat, "parquet");
  });

  it("inherits sequence numbers and snapshot ids from the manifest list", () => {
    const entries: ManifestEntry[] = [
      added(dataFile("new")),
      // An added file that logically belongs to an older sequence number keeps it.
      { ...added(dataFile("late")), sequenceNumber: 2n },
      {
        status: ManifestEntryStatus.EXISTING,
        snapshotId: 11n,
        sequenceNumber: 3n,
        fileSequenceNumber: 3n,
        dataFile: dataFile("kept"),
      },
      {
        status: ManifestEntryStatus.DELETED,
        snapshotId: null,
        sequenceNumber: 1n,
        fileSequenceNumber: 1n,
        dataFile: dataFile("gone"),
      },
    ];
    const { bytes, manifestFile } = encodeManifest(options(), entries);
    const raw = decodeManifest(bytes).entries;
    assert.equal(raw[0]?.sequenceNumber, null);
    assert.equal(raw[0]?.snapshotId, null);

    const inherited = decodeManifest(bytes, { inherit: { ...manifestFile, sequenceNumber: 42n } }).entries;
    assert.deepEqual(
      inherited.map((e) => [e.snapshotId, e.sequenceNumber, e.fileSequenceNumber]),
      [
        [bigSnapshotId, 42n, 42n],
        [bigSnapshotId, 2n, 42n],
        [11n, 3n, 3n],
        [bigSnapshotId, 1n, 1n],
      ],
    );
  });

  it("summarizes counts, min sequence number and partition bounds for the manifest list", () => {
    const entries: ManifestEntry[] = [
      added(dataFile("a", { recordCount: 10 })),
      added(
        dataFile("b", {
          recordCount: 20,
          partition: { ts_day: 18_000, region: "us", "id-bucket": null, ts: -5n, amount: 7n },
        }),
      ),
      {
        status: ManifestEntryStatus.EXISTING,
        snapshotId: 1n,
        sequenceNumber: 6n,
        fileSequenceNumber: 6n,
        dataFile: dataFile("c", { recordCount: 30 }),
      },
      {
        status: ManifestEntryStatus.DELETED,
        snapshotId: 1n,
        sequenceNumber: 2n,
        fileSequenceNumber: 2n,
        dataFile: dataFile("d", { recordCount: 40, partition: { region: "zz" } }),
      },
    ];
    const { bytes, manifestFile } = encodeManifest(options(), entries);
    assert.equal(manifestFile.manifestLength, bytes.byteLength);
    assert.equal(manifestFile.manifestPath, "s3://bucket/t/metadata/m1.avro");
    assert.equal(manifestFile.addedSnapshotId, bigSnapshotId);
    assert.equal(manifestFile.sequenceNumber, null);
    assert.equal(manifestFile.minSequenceNumber, 6n, "deleted entries are not live");
    assert.deepEqual(
      [manifestFile.addedFilesCount, manifestFile.existingFilesCount, manifestFile.deletedFilesCount],
      [2, 1, 1],
    );
    assert.deepEqual(
      [manifestFile.addedRowsCount, manifestFile.existingRowsCount, manifestFile.deletedRowsCount],
      [30, 30, 40],
    );
    const [day, region, bucket, ts, amount] = manifestFile.partitions ?? [];
    const int = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeInt32LE(n);
      return new Uint8Array(b);
    };
    const long = (n: bigint) => {
      const b = Buffer.alloc(8);
      b.writeBigInt64LE(n);
      return new Uint8Array(b);
    };
    assert.deepEqual(day, {
      containsNull: true,
      containsNan: false,
      lowerBound: int(18_000),
      upperBound: int(19_000),
    });
    assert.deepEqual(region, {
      containsNull: false,
      containsNan: false,
      lowerBound: new TextEncoder().encode("eu"),
      upperBound: new TextEncoder().encode("zz"),
    });
    assert.deepEqual(bucket, {
      containsNull: true,
      containsNan: false,
      lowerBound: int(3),
      upperBound: int(3),
    });
    assert.deepEqual(ts?.lowerBound, long(-5n));
    assert.deepEqual(ts?.upperBound, long(1_700_000_000_000_000n));
    // Decimal bounds use the minimal two's complement form: -12345 = 0xcfc7, 7 = 0x07.
    assert.deepEqual(amount?.lowerBound, Uint8Array.of(0xcf, 0xc7));
    assert.deepEqual(amount?.upperBound, Uint8Array.of(0x07));
  });

  it("tracks NaN and -0.0 in floating point partition fields", () => {
    const floatType: StructType = {
      kind: "struct",
      fields: [{ id: 1000, name: "x", required: false, type: { kind: "double" } }],
    };
    const { manifestFile } = encodeManifest(
      options({
        partitionType: floatType,
        partitionFields: [{ "source-id": 1, "field-id": 1000, name: "x", transform: "identity" }],
      }),
      [0, -0, Number.NaN].map((x) =>
        added(dataFile(`f${Object.is(x, -0) ? "neg" : x}`, { partition: { x } })),
      ),
    );
    const [summary] = manifestFile.partitions ?? [];
    assert.equal(summary?.containsNan, true);
    assert.equal(summary?.containsNull, false);
    const lower = Buffer.from(summary?.lowerBound ?? []).readDoubleLE();
    const upper = Buffer.from(summary?.upperBound ?? []).readDoubleLE();
    assert.ok(Object.is(lower, -0), "lower bound is -0.0");
    assert.ok(Object.is(upper, 0), "upper bound is +0.0");
  });

  it("round-trips uuid, fixed, binary, boolean and time partition values", () => {
    const type: StructType = {
      kind: "struct",
      fields: [
        { id: 1000, name: "u", required: false, type: { kind: "uuid" } },
        { id: 1001, name: "f", required: false, type: { kind: "fixed", length: 3 } },
        { id: 1002, name: "b", required: false, type: { kind: "binary" } },
        { id: 1003, name: "flag", required: false, type: { kind: "boolean" } },
        { id: 1004, name: "t", required: false, type: { kind: "time" } },
        { id: 1005, name: "tsn", required: false, type: { kind: "timestamp_ns" } },
        { id: 1006, name: "d", required: false, type: { kind: "decimal", precision: 38, scale: 0 } },
      ],
    };
    const fields = type.fields.map((f) => ({
      "source-id": 1,
      "field-id": f.id,
      name: f.name,
      transform: "identity",
    }));
    const partition = {
      u: "f79c3e09-677c-4d5a-8a1b-0c2d9e4f5a6b",
      f: Uint8Array.of(1, 2, 3),
      b: Uint8Array.of(),
      flag: true,
      t: 86_399_999_999n,
      tsn: 1_700_000_000_000_000_123n,
      d: -(10n ** 37n),
    };
    const { bytes } = encodeManifest(options({ partitionType: type, partitionFields: fields }), [
      added(dataFile("x", { partition })),
    ]);
    const manifest = decodeManifest(bytes);
    assert.deepEqual(manifest.entries[0]?.dataFile.partition, partition);
    assert.deepEqual(manifest.partitionType, type);
  });

  it("refuses entries that break the spec's rules", () => {
    assert.throws(
      () => encodeManifest(options(), [{ ...added(dataFile("a")), status: ManifestEntryStatus.EXISTING }]),
      (error: unknown) =>
        error instanceof IcebergError && error.code === "DATA_INVALID" && /EXISTING/.test(error.message),
    );
    assert.throws(
      () => encodeManifest(options(), [added(dataFile("p", { content: DataFileContent.POSITION_DELETES }))]),
      /cannot go into a data manifest/,
    );
    assert.throws(
      () =>
        encodeManifest(options({ content: ManifestContent.DELETES }), [
          added(dataFile("e", { content: DataFileContent.EQUALITY_DELETES })),
        ]),
      /equality_ids/,
    );
    assert.throws(
      () => encodeManifest(options(), [added(dataFile("bad", { partition: { ts_day: "monday" } }))]),
      (error: unknown) =>
        error instanceof IcebergError && error.code === "DATA_INVALID" && /ts_day/.test(error.message),
    );
  });

  it("reports a file that is not a manifest as DATA_INVALID naming it", () => {
    assert.throws(
      () => decodeManifest(new TextEncoder().encode("not avro"), { path: "s3://b/m.avro" }),
      (error: unknown) =>
        error instanceof IcebergError &&
        error.code === "DATA_INVALID" &&
        error.message.includes("s3://b/m.avro"),
    );
    const { bytes } = encodeManifest(options(), [added(dataFile("a"))]);
    assert.throws(
      () => decodeManifest(bytes.subarray(0, bytes.length - 20), { path: "s3://b/cut.avro" }),
      (error: unknown) => error instanceof IcebergError && error.message.includes("s3://b/cut.avro"),
    );
  });
});
