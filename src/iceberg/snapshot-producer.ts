/**
 * Writes a new snapshot's files: manifests for added data and delete files, rewritten manifests where
 * files are removed, optional manifest merging, and the manifest list; then returns the requirements +
 * updates that commit it (add-snapshot, set-snapshot-ref) on the branch it was built on. Every snapshot
 * operation (append, row delta, overwrite, rewrite) is a configuration of this one producer.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { LoadedTable } from "../catalog/catalog.ts";
import { type DataFile, DataFileContent, type ManifestEntry, ManifestEntryStatus } from "./data-file.ts";
import { IcebergError } from "./errors.ts";
import { decodeManifest, encodeManifest } from "./manifest.ts";
import {
  decodeManifestList,
  encodeManifestList,
  ManifestContent,
  type ManifestFile,
} from "./manifest-list.ts";
import { mergeManifests } from "./manifest-merge.ts";
import { partitionFieldToJson, partitionType } from "./partitioning.ts";
import { schemaToJson } from "./schema.ts";
import {
  buildSummary,
  emptyChanges,
  MAIN_BRANCH,
  type Snapshot,
  type SnapshotChanges,
  type SnapshotOperation,
} from "./snapshot.ts";
import { currentSchema, snapshotForRef, specById, type TableMetadata } from "./table-metadata.ts";
import type { TableRequirement, TableUpdate } from "./table-update.ts";

/** A file to add, with the partition spec its partition tuple belongs to. */
export interface AddedFile {
  file: DataFile;
  specId: number;
  /**
   * Explicit data sequence number (compaction keeps the rewritten files' number so that deletes
   * committed meanwhile still apply); absent = the new snapshot's, by inheritance.
   */
  dataSequenceNumber?: bigint;
}

export interface SnapshotProduction {
  operation: SnapshotOperation;
  added: readonly AddedFile[];
  /** Paths of live data or delete files this snapshot removes; each must be live on the branch. */
  removedPaths: ReadonlySet<string>;
  /** Extra summary properties (e.g. Floe's source position), written into the snapshot summary. */
  summaryProperties?: Record<string, string>;
  branch?: string;
  /** Merge small manifests (not for fast appends, which only ever add one manifest). */
  mergeManifests?: boolean;
}

export interface ProducedSnapshot {
  snapshot: Snapshot;
  requirements: TableRequirement[];
  updates: TableUpdate[];
  /** Files written for this attempt; to delete if the commit fails for good. */
  writtenFiles: string[];
  changes: SnapshotChanges;
}

/** A random positive 63-bit snapshot id, as Iceberg writers use. */
export function newSnapshotId(existing: TableMetadata): bigint {
  for (;;) {
    const id = randomBytes(8).readBigUInt64BE() & 0x7fff_ffff_ffff_ffffn;
    if (id !== 0n && !existing.snapshots.some((s) => s.snapshotId === id)) return id;
  }
}

/** The live entries (ADDED or EXISTING) of a manifest, read with inheritance from its list entry. */
export async function readManifestEntries(
  table: LoadedTable,
  manifest: ManifestFile,
): Promise<ManifestEntry[]> {
  const bytes = await table.io.read(manifest.manifestPath);
  return decodeManifest(bytes, { path: manifest.manifestPath, inherit: manifest }).entries;
}

export async function readManifestList(
  table: LoadedTable,
  snapshot: Snapshot | undefined,
): Promise<ManifestFile[]> {
  if (!snapshot) return [];
  const bytes = await table.io.read(snapshot.manifestList);
  return decodeManifestList(bytes, snapshot.manifestList).manifests;
}

function countAdded(changes: SnapshotChanges, file: DataFile): void {
  switch (file.content) {
    case DataFileContent.DATA:
      changes.addedDataFiles++;
      changes.addedRecords += file.recordCount;
      break;
    case DataFileContent.POSITION_DELETES:
      changes.addedPositionDeleteFiles++;
      changes.addedPositionDeletes += file.recordCount;
      break;
    case DataFileContent.EQUALITY_DELETES:
      changes.addedEqualityDeleteFiles++;
      changes.addedEqualityDeletes += file.recordCount;
      break;
  }
  changes.addedFileSizeBytes += file.fileSizeInBytes;
}

function countRemoved(changes: SnapshotChanges, file: DataFile): void {
  switch (file.content) {
    case DataFileContent.DATA:
      changes.removedDataFiles++;
      changes.removedRecords += file.recordCount;
      break;
    case DataFileContent.POSITION_DELETES:
      changes.removedPositionDeleteFiles++;
      changes.removedPositionDeletes += file.recordCount;
      break;
    case DataFileContent.EQUALITY_DELETES:
      changes.removedEqualityDeleteFiles++;
      changes.removedEqualityDeletes += file.recordCount;
      break;
  }
  changes.removedFileSizeBytes += file.fileSizeInBytes;
}

/** Writes the snapshot's manifests and manifest list; nothing is committed yet. */
export async function produceSnapshot(
  table: LoadedTable,
  production: SnapshotProduction,
): Promise<ProducedSnapshot> {
  const base = table.metadata;
  const branch = production.branch ?? MAIN_BRANCH;
  const parent = snapshotForRef(base, branch);
  const snapshotId = newSnapshotId(base);
  const sequenceNumber = base.lastSequenceNumber + 1n;
  const schema = currentSchema(base);
  const schemaJson = schemaToJson(schema);
  const changes = emptyChanges();
  const written: string[] = [];
  const metadataDir = `${base.location}/metadata`;
  const commitUuid = randomUUID();
  let manifestCount = 0;
  const newManifestPath = () => `${metadataDir}/${commitUuid}-m${manifestCount++}.avro`;

  const writeManifest = async (content: ManifestContent, specId: number, entries: ManifestEntry[]) => {
    const spec = specById(base, specId);
    const path = newManifestPath();
    const { bytes, manifestFile } = encodeManifest(
      {
        path,
        snapshotId,
        content,
        schemaId: schema.schemaId,
        schemaJson,
        partitionSpecId: spec.specId,
        partitionFields: spec.fields.map(partitionFieldToJson),
        partitionType: partitionType(spec, schema),
      },
      entries,
    );
    await table.io.write(path, bytes, { ifNotExists: true });
    written.push(path);
    return manifestFile;
  };

  try {
    // 1. Manifests for added files, one per (content, spec).
    const groups = new Map<string, { content: ManifestContent; specId: number; entries: ManifestEntry[] }>();
    for (const added of production.added) {
      specById(base, added.specId);
      const content =
        added.file.content === DataFileContent.DATA ? ManifestContent.DATA : ManifestContent.DELETES;
      const key = `${content}/${added.specId}`;
      let group = groups.get(key);
      if (!group) {
        group = { content, specId: added.specId, entries: [] };
        groups.set(key, group);
      }
      group.entries.push({
        status: ManifestEntryStatus.ADDED,
        snapshotId,
        sequenceNumber: added.dataSequenceNumber ?? null,
        fileSequenceNumber: null,
        dataFile: added.file,
      });
      countAdded(changes, added.file);
    }
    const newManifests: ManifestFile[] = [];
    for (const group of groups.values())
      newManifests.push(await writeManifest(group.content, group.specId, group.entries));

    // 2. Existing manifests: untouched, or rewritten with removed files marked DELETED.
    const carried: ManifestFile[] = [];
    const stillToRemove = new Set(production.removedPaths);
    for (const manifest of await readManifestList(table, parent)) {
      const mayHold = stillToRemove.size > 0 && manifest.addedFilesCount + manifest.existingFilesCount > 0;
      if (!mayHold) {
        carried.push(manifest);
        continue;
      }
      const entries = await readManifestEntries(table, manifest);
      if (
        !entries.some(
          (e) => e.status !== ManifestEntryStatus.DELETED && stillToRemove.has(e.dataFile.filePath),
        )
      ) {
        carried.push(manifest);
        continue;
      }
      const rewritten: ManifestEntry[] = [];
      for (const entry of entries) {
        if (entry.status === ManifestEntryStatus.DELETED) continue;
        if (stillToRemove.has(entry.dataFile.filePath)) {
          stillToRemove.delete(entry.dataFile.filePath);
          countRemoved(changes, entry.dataFile);
          rewritten.push({ ...entry, status: ManifestEntryStatus.DELETED, snapshotId });
        } else {
          rewritten.push({ ...entry, status: ManifestEntryStatus.EXISTING });
        }
      }
      carried.push(await writeManifest(manifest.content, manifest.partitionSpecId, rewritten));
    }
    if (stillToRemove.size > 0) {
      throw new IcebergError(
        "VALIDATION_FAILED",
        `cannot remove ${[...stillToRemove].slice(0, 3).join(", ")}${stillToRemove.size > 3 ? ", ..." : ""}: ` +
          `not a live file of ${base.location} on branch ${branch} (already removed by another commit?)`,
      );
    }

    // 3. Manifest list, newest first, merged when asked.
    let manifests = [...newManifests, ...carried];
    if (production.mergeManifests && base.properties["commit.manifest-merge.enabled"] !== "false") {
      manifests = await mergeManifests(
        manifests,
        {
          snapshotId,
          targetSizeBytes: Number(base.properties["commit.manifest.target-size-bytes"] ?? 8 * 1024 * 1024),
          minCountToMerge: Number(base.properties["commit.manifest.min-count-to-merge"] ?? 100),
        },
        {
          readManifest: (path) => table.io.read(path),
          writeManifest: async (path, bytes) => {
            await table.io.write(path, bytes, { ifNotExists: true });
            written.push(path);
          },
          newManifestPath,
        },
      );
    }
    const manifestList = `${metadataDir}/snap-${snapshotId}-1-${commitUuid}.avro`;
    await table.io.write(
      manifestList,
      encodeManifestList(
        { snapshotId, parentSnapshotId: parent?.snapshotId ?? null, sequenceNumber },
        manifests,
      ),
      { ifNotExists: true },
    );
    written.push(manifestList);

    const snapshot: Snapshot = {
      snapshotId,
      ...(parent ? { parentSnapshotId: parent.snapshotId } : {}),
      sequenceNumber,
      timestampMs: Math.max(Date.now(), base.lastUpdatedMs),
      manifestList,
      summary: buildSummary(production.operation, changes, parent, production.summaryProperties),
      schemaId: schema.schemaId,
    };
    return {
      snapshot,
      changes,
      writtenFiles: written,
      requirements: [
        { type: "assert-table-uuid", uuid: base.tableUuid },
        { type: "assert-ref-snapshot-id", ref: branch, snapshotId: parent?.snapshotId ?? null },
      ],
      updates: [
        { action: "add-snapshot", snapshot },
        {
          action: "set-snapshot-ref",
          refName: branch,
          type: "branch",
          snapshotId,
          ...keepRefRetention(base, branch),
        },
      ],
    };
  } catch (error) {
    await table.io.deleteMany(written).catch(() => {});
    throw error;
  }
}

function keepRefRetention(base: TableMetadata, branch: string) {
  const ref = base.refs[branch];
  const out: { maxSnapshotAgeMs?: number; minSnapshotsToKeep?: number; maxRefAgeMs?: number } = {};
  if (ref?.maxSnapshotAgeMs !== undefined) out.maxSnapshotAgeMs = ref.maxSnapshotAgeMs;
  if (ref?.minSnapshotsToKeep !== undefined) out.minSnapshotsToKeep = ref.minSnapshotsToKeep;
  if (ref?.maxRefAgeMs !== undefined) out.maxRefAgeMs = ref.maxRefAgeMs;
  return out;
}
