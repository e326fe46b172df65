import assert from "node:assert/strict";
import { test } from "node:test";
import { DataFileContent } from "../../src/iceberg/data-file.ts";
import { SinkError } from "../../src/sink/errors.ts";
import { type ControlEvent, decodeControlEvent, encodeControlEvent } from "../../src/sink/kafka/control.ts";

test("control events round-trip DataFiles with bigints, byte bounds and metric maps", () => {
  const event: ControlEvent = {
    type: "data-written",
    sinkId: "s",
    round: "r1",
    worker: "w",
    table: { namespace: ["shop"], name: "orders" },
    dataFiles: [
      {
        specId: 0,
        file: {
          content: DataFileContent.DATA,
          filePath: "file:///t/data/a.parquet",
          fileFormat: "parquet",
          partition: { day: 19000, id_bucket: 3n, raw: new Uint8Array([1, 2, 255]) },
          recordCount: 10,
          fileSizeInBytes: 1234,
          valueCounts: new Map([[1, 10]]),
          lowerBounds: new Map([[1, new Uint8Array([0, 1])]]),
          upperBounds: new Map([[1, Buffer.from([9, 9])]]),
        },
      },
    ],
    deleteFiles: [],
    referencedDataFiles: ["file:///t/data/b.parquet"],
    equalityFallback: null,
  };
  const decoded = decodeControlEvent(encodeControlEvent(event), "test");
  assert.equal(decoded.type, "data-written");
  if (decoded.type !== "data-written") return;
  const file = decoded.dataFiles[0]!.file;
  assert.deepEqual(file.partition, { day: 19000, id_bucket: 3n, raw: new Uint8Array([1, 2, 255]) });
  assert.deepEqual(file.valueCounts, new Map([[1, 10]]));
  assert.deepEqual(file.lowerBounds, new Map([[1, new Uint8Array([0, 1])]]));
  assert.deepEqual(file.upperBounds, new Map([[1, new Uint8Array([9, 9])]]));
  assert.equal(decoded.equalityFallback, null);
});

test("a control record that is not an event is a SinkError naming where it was read", () => {
  assert.throws(
    () => decodeControlEvent("{nope", "control/0@7"),
    (error: unknown) => error instanceof SinkError && /control\/0@7/.test(error.message),
  );
  assert.throws(
    () => decodeControlEvent('{"type":"bogus"}', "control/0@8"),
    (error: unknown) => error instanceof SinkError && error.code === "CHANGE_INVALID",
  );
});
