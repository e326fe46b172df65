import assert from "node:assert/strict";
import { test } from "node:test";
import {
  parseMaintenanceConfiguration,
  resolveMaintenanceConfiguration,
} from "../../src/maintenance/config.ts";
import { MaintenanceError } from "../../src/maintenance/errors.ts";

test("defaults: everything enabled with S3 Tables' defaults", () => {
  assert.deepEqual(resolveMaintenanceConfiguration(), {
    icebergCompaction: { status: "enabled", targetFileSizeMB: 512, strategy: "auto" },
    icebergSnapshotManagement: { status: "enabled", minSnapshotsToKeep: 1, maxSnapshotAgeHours: 120 },
    icebergUnreferencedFileRemoval: { status: "enabled", unreferencedDays: 3, nonCurrentDays: 10 },
  });
});

test("bucket settings are inherited; a table's own settings win per field", () => {
  const bucket = parseMaintenanceConfiguration({
    icebergCompaction: {
      status: "enabled",
      settings: { icebergCompaction: { targetFileSizeMB: 128, strategy: "sort" } },
    },
    icebergUnreferencedFileRemoval: { status: "disabled" },
  });
  const table = parseMaintenanceConfiguration({
    icebergCompaction: { settings: { icebergCompaction: { targetFileSizeMB: 256 } } },
    icebergSnapshotManagement: {
      status: "enabled",
      settings: { icebergSnapshotManagement: { minSnapshotsToKeep: 5 } },
    },
  });
  const resolved = resolveMaintenanceConfiguration(bucket, table);
  assert.deepEqual(resolved.icebergCompaction, {
    status: "enabled",
    targetFileSizeMB: 256,
    strategy: "sort",
  });
  assert.deepEqual(resolved.icebergSnapshotManagement, {
    status: "enabled",
    minSnapshotsToKeep: 5,
    maxSnapshotAgeHours: 120,
  });
  assert.equal(resolved.icebergUnreferencedFileRemoval.status, "disabled");
});

test("ranges and names are checked", () => {
  const bad = [
    { icebergCompaction: { settings: { icebergCompaction: { targetFileSizeMB: 32 } } } },
    { icebergCompaction: { settings: { icebergCompaction: { targetFileSizeMB: 1024 } } } },
    { icebergCompaction: { settings: { icebergCompaction: { strategy: "random" } } } },
    { icebergSnapshotManagement: { settings: { icebergSnapshotManagement: { minSnapshotsToKeep: 0 } } } },
    {
      icebergUnreferencedFileRemoval: {
        settings: { icebergUnreferencedFileRemoval: { nonCurrentDays: 1.5 } },
      },
    },
    { icebergCompaction: { status: "on" } },
    { icebergCompation: {} },
  ];
  for (const config of bad) {
    assert.throws(
      () => parseMaintenanceConfiguration(config),
      (e: unknown) => e instanceof MaintenanceError && e.code === "INVALID_CONFIGURATION",
      JSON.stringify(config),
    );
  }
  assert.doesNotThrow(() =>
    parseMaintenanceConfiguration({
      icebergCompaction: { settings: { icebergCompaction: { targetFileSizeMB: 64, strategy: "z-order" } } },
    }),
  );
});
