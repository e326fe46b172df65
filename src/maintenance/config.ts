/**
 * The S3 Tables maintenance configurations, with S3 Tables' names, ranges and defaults:
 * `icebergCompaction` {targetFileSizeMB 64–512 (512), strategy auto|binpack|sort|z-order (auto)},
 * `icebergSnapshotManagement` {minSnapshotsToKeep ≥ 1 (1), maxSnapshotAgeHours ≥ 1 (120)},
 * `icebergUnreferencedFileRemoval` {unreferencedDays ≥ 1 (3), nonCurrentDays ≥ 1 (10)}, each as
 * `{status: enabled|disabled, settings: {<type>: {...}}}`. Everything is enabled by default.
 *
 * Inheritance: defaults ← bucket ← table, per type. S3 Tables itself accepts unreferenced-file removal at
 * the bucket level and the other two at the table level; Floe accepts all three at both levels so a
 * bucket can set defaults for its tables, and a table's own configuration of a type replaces the
 * bucket's for that type (status and settings both; missing settings fall back to the bucket's).
 */
import { z } from "zod";
import { MaintenanceError } from "./errors.ts";

export const MAINTENANCE_TYPES = [
  "icebergCompaction",
  "icebergSnapshotManagement",
  "icebergUnreferencedFileRemoval",
] as const;
export type MaintenanceType = (typeof MAINTENANCE_TYPES)[number];

export const maintenanceStatusSchema = z.enum(["enabled", "disabled"]);
export type MaintenanceStatus = z.infer<typeof maintenanceStatusSchema>;

export const compactionStrategySchema = z.enum(["auto", "binpack", "sort", "z-order"]);
export type CompactionStrategy = z.infer<typeof compactionStrategySchema>;

export const icebergCompactionSettingsSchema = z
  .object({
    targetFileSizeMB: z.number().int().min(64).max(512).optional(),
    strategy: compactionStrategySchema.optional(),
  })
  .strict();

export const icebergSnapshotManagementSettingsSchema = z
  .object({
    minSnapshotsToKeep: z.number().int().min(1).optional(),
    maxSnapshotAgeHours: z.number().int().min(1).optional(),
  })
  .strict();

export const icebergUnreferencedFileRemovalSettingsSchema = z
  .object({
    unreferencedDays: z.number().int().min(1).optional(),
    nonCurrentDays: z.number().int().min(1).optional(),
  })
  .strict();

/** `{status, settings: {icebergCompaction: {...}}}` as PutTableMaintenanceConfiguration takes it. */
export const icebergCompactionValueSchema = z
  .object({
    status: maintenanceStatusSchema.optional(),
    settings: z.object({ icebergCompaction: icebergCompactionSettingsSchema.optional() }).strict().optional(),
  })
  .strict();
export const icebergSnapshotManagementValueSchema = z
  .object({
    status: maintenanceStatusSchema.optional(),
    settings: z
      .object({ icebergSnapshotManagement: icebergSnapshotManagementSettingsSchema.optional() })
      .strict()
      .optional(),
  })
  .strict();
export const icebergUnreferencedFileRemovalValueSchema = z
  .object({
    status: maintenanceStatusSchema.optional(),
    settings: z
      .object({ icebergUnreferencedFileRemoval: icebergUnreferencedFileRemovalSettingsSchema.optional() })
      .strict()
      .optional(),
  })
  .strict();

/** The schema of one type's value, for validating a `PUT …/maintenance/{type}` body. */
export const maintenanceValueSchemas = {
  icebergCompaction: icebergCompactionValueSchema,
  icebergSnapshotManagement: icebergSnapshotManagementValueSchema,
  icebergUnreferencedFileRemoval: icebergUnreferencedFileRemovalValueSchema,
} as const;

/** A bucket's or a table's configuration: any subset of the types (the GetTable…MaintenanceConfiguration map). */
export const maintenanceConfigurationSchema = z
  .object({
    icebergCompaction: icebergCompactionValueSchema.optional(),
    icebergSnapshotManagement: icebergSnapshotManagementValueSchema.optional(),
    icebergUnreferencedFileRemoval: icebergUnreferencedFileRemovalValueSchema.optional(),
  })
  .strict();
export type MaintenanceConfiguration = z.infer<typeof maintenanceConfigurationSchema>;

export const DEFAULT_TARGET_FILE_SIZE_MB = 512;
export const DEFAULT_MIN_SNAPSHOTS_TO_KEEP = 1;
export const DEFAULT_MAX_SNAPSHOT_AGE_HOURS = 120;
export const DEFAULT_UNREFERENCED_DAYS = 3;
export const DEFAULT_NON_CURRENT_DAYS = 10;

/** Every setting resolved: what the jobs run with. */
export interface EffectiveMaintenanceConfiguration {
  icebergCompaction: {
    status: MaintenanceStatus;
    targetFileSizeMB: number;
    strategy: CompactionStrategy;
  };
  icebergSnapshotManagement: {
    status: MaintenanceStatus;
    minSnapshotsToKeep: number;
    maxSnapshotAgeHours: number;
  };
  icebergUnreferencedFileRemoval: {
    status: MaintenanceStatus;
    unreferencedDays: number;
    nonCurrentDays: number;
  };
}

/** Parses a configuration (bucket or table level); MaintenanceError INVALID_CONFIGURATION names the field. */
export function parseMaintenanceConfiguration(
  input: unknown,
  where = "maintenance configuration",
): MaintenanceConfiguration {
  const parsed = maintenanceConfigurationSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join(".") ?? "";
    throw new MaintenanceError(
      "INVALID_CONFIGURATION",
      `${where}: ${path ? `${path}: ` : ""}${issue?.message ?? "invalid"} (see the S3 Tables maintenance settings: targetFileSizeMB 64-512, minSnapshotsToKeep/maxSnapshotAgeHours/unreferencedDays/nonCurrentDays >= 1)`,
    );
  }
  return parsed.data;
}

/** Resolves defaults ← bucket ← table into the settings the jobs run with. */
export function resolveMaintenanceConfiguration(
  bucket: MaintenanceConfiguration = {},
  table: MaintenanceConfiguration = {},
): EffectiveMaintenanceConfiguration {
  const compaction = [bucket.icebergCompaction, table.icebergCompaction];
  const snapshots = [bucket.icebergSnapshotManagement, table.icebergSnapshotManagement];
  const unreferenced = [bucket.icebergUnreferencedFileRemoval, table.icebergUnreferencedFileRemoval];
  const last = <T>(values: (T | undefined)[], fallback: T): T =>
    values.reduce<T>((acc, v) => (v === undefined ? acc : v), fallback);
  return {
    icebergCompaction: {
      status: last(
        compaction.map((c) => c?.status),
        "enabled",
      ),
      targetFileSizeMB: last(
        compaction.map((c) => c?.settings?.icebergCompaction?.targetFileSizeMB),
        DEFAULT_TARGET_FILE_SIZE_MB,
      ),
      strategy: last(
        compaction.map((c) => c?.settings?.icebergCompaction?.strategy),
        "auto" as CompactionStrategy,
      ),
    },
    icebergSnapshotManagement: {
      status: last(
        snapshots.map((c) => c?.status),
        "enabled",
      ),
      minSnapshotsToKeep: last(
        snapshots.map((c) => c?.settings?.icebergSnapshotManagement?.minSnapshotsToKeep),
        DEFAULT_MIN_SNAPSHOTS_TO_KEEP,
      ),
      maxSnapshotAgeHours: last(
        snapshots.map((c) => c?.settings?.icebergSnapshotManagement?.maxSnapshotAgeHours),
        DEFAULT_MAX_SNAPSHOT_AGE_HOURS,
      ),
    },
    icebergUnreferencedFileRemoval: {
      status: last(
        unreferenced.map((c) => c?.status),
        "enabled",
      ),
      unreferencedDays: last(
        unreferenced.map((c) => c?.settings?.icebergUnreferencedFileRemoval?.unreferencedDays),
        DEFAULT_UNREFERENCED_DAYS,
      ),
      nonCurrentDays: last(
        unreferenced.map((c) => c?.settings?.icebergUnreferencedFileRemoval?.nonCurrentDays),
        DEFAULT_NON_CURRENT_DAYS,
      ),
    },
  };
}
