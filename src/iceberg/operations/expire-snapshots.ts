/**
 * Expire snapshots (Iceberg `ExpireSnapshots`): removes snapshots no branch or tag needs any more and
 * then deletes the files only they referenced (manifest lists, manifests, data and delete files).
 * Retention per branch: its head always; ancestors younger than max-snapshot-age-ms or among the
 * newest min-snapshots-to-keep (ref settings first, then the table's `history.expire.*` properties).
 * Tags keep their snapshot until their max-ref-age-ms passes. Nothing a retained snapshot references
 * is ever deleted.
 */
import type { Catalog, LoadedTable } from "../../catalog/catalog.ts";
import { DataFileContent, ManifestEntryStatus } from "../data-file.ts";
import { MAIN_BRANCH, type Snapshot } from "../snapshot.ts";
import { readManifestEntries, readManifestList } from "../snapshot-producer.ts";
import { ancestorsOf, snapshotById, type TableMetadata } from "../table-metadata.ts";
import type { TableRequirement, TableUpdate } from "../table-update.ts";
import { commitWithRetry, type RetryOptions } from "./commit.ts";

export interface ExpireSnapshotsResult {
  expiredSnapshotIds: bigint[];
  removedRefs: string[];
  deletedManifestLists: number;
  deletedManifests: number;
  deletedDataFiles: number;
  deletedDeleteFiles: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export class ExpireSnapshots {
  readonly #catalog: Catalog;
  readonly #table: LoadedTable;
  #olderThanMs: number | undefined;
  #retainLast: number | undefined;
  readonly #explicit = new Set<bigint>();
  #cleanFiles = true;
  #nowMs: () => number = Date.now;

  constructor(catalog: Catalog, table: LoadedTable) {
    this.#catalog = catalog;
    this.#table = table;
  }

  /** Expire snapshots older than this (overrides the branches' max snapshot age). */
  expireOlderThan(timestampMs: number): this {
    this.#olderThanMs = timestampMs;
    return this;
  }

  /** Keep at least this many ancestors of each branch (overrides min-snapshots-to-keep). */
  retainLast(count: number): this {
    this.#retainLast = Math.max(1, count);
    return this;
  }

  expireSnapshotId(snapshotId: bigint): this {
    this.#explicit.add(snapshotId);
    return this;
  }

  cleanExpiredFiles(clean: boolean): this {
    this.#cleanFiles = clean;
    return this;
  }

  /** For tests and maintenance with a fake clock. */
  withClock(nowMs: () => number): this {
    this.#nowMs = nowMs;
    return this;
  }

  /** Which snapshots and refs would go, against `metadata`. */
  plan(metadata: TableMetadata): { expire: Snapshot[]; removedRefs: string[] } {
    const now = this.#nowMs();
    const props = metadata.properties;
    const defaultMaxAge = Number(props["history.expire.max-snapshot-age-ms"] ?? 5 * DAY_MS);
    const defaultMinKeep = Number(props["history.expire.min-snapshots-to-keep"] ?? 1);
    const defaultMaxRefAge = Number(props["history.expire.max-ref-age-ms"] ?? Number.POSITIVE_INFINITY);
    const retained = new Set<bigint>();
    const removedRefs: string[] = [];
    for (const [name, ref] of Object.entries(metadata.refs)) {
      const head = snapshotById(metadata, ref.snapshotId);
      if (!head) continue;
      const maxRefAge = ref.maxRefAgeMs ?? defaultMaxRefAge;
      if (name !== MAIN_BRANCH && now - head.timestampMs > maxRefAge) {
        removedRefs.push(name);
        continue;
      }
      retained.add(head.snapshotId);
      if (ref.type === "tag") continue;
      const cutoff = this.#olderThanMs ?? now - (ref.maxSnapshotAgeMs ?? defaultMaxAge);
      const minKeep = this.#retainLast ?? ref.minSnapshotsToKeep ?? defaultMinKeep;
      ancestorsOf(metadata, head).forEach((snapshot, index) => {
        if (index < minKeep || snapshot.timestampMs >= cutoff) retained.add(snapshot.snapshotId);
      });
    }
    for (const id of this.#explicit) {
      const isHead = Object.entries(metadata.refs).some(
        ([name, r]) => r.snapshotId === id && !removedRefs.includes(name),
      );
      if (!isHead) retained.delete(id);
    }
    const expire = metadata.snapshots.filter((s) => !retained.has(s.snapshotId));
    return { expire, removedRefs };
  }

  async commit(options: RetryOptions = {}): Promise<ExpireSnapshotsResult> {
    const outcome = await commitWithRetry(
      this.#catalog,
      this.#table,
      async (table) => {
        const { expire, removedRefs } = this.plan(table.metadata);
        const updates: TableUpdate[] = removedRefs.map((refName) => ({
          action: "remove-snapshot-ref",
          refName,
        }));
        if (expire.length > 0)
          updates.push({ action: "remove-snapshots", snapshotIds: expire.map((s) => s.snapshotId) });
        // Any ref moving meanwhile changes what is retained: re-plan on the new metadata.
        const requirements: TableRequirement[] = [
          { type: "assert-table-uuid", uuid: table.metadata.tableUuid },
          ...Object.entries(table.metadata.refs).map(
            ([ref, r]): TableRequirement => ({
              type: "assert-ref-snapshot-id",
              ref,
              snapshotId: r.snapshotId,
            }),
          ),
        ];
        return { requirements, updates, writtenFiles: [], result: { expire, removedRefs, before: table } };
      },
      options,
    );
    const { expire, removedRefs, before } = outcome.result;
    const result: ExpireSnapshotsResult = {
      expiredSnapshotIds: expire.map((s) => s.snapshotId),
      removedRefs,
      deletedManifestLists: 0,
      deletedManifests: 0,
      deletedDataFiles: 0,
      deletedDeleteFiles: 0,
    };
    if (this.#cleanFiles && expire.length > 0)
      await this.#deleteUnreachableFiles(before, outcome.table, expire, result);
    return result;
  }

  /** Deletes what the expired snapshots reached and the retained ones do not. */
  async #deleteUnreachableFiles(
    before: LoadedTable,
    after: LoadedTable,
    expired: Snapshot[],
    result: ExpireSnapshotsResult,
  ): Promise<void> {
    const retainedManifests = new Set<string>();
    const retainedFiles = new Set<string>();
    const retainedLists = new Set(after.metadata.snapshots.map((s) => s.manifestList));
    for (const snapshot of after.metadata.snapshots) {
      for (const manifest of await readManifestList(after, snapshot)) {
        if (retainedManifests.has(manifest.manifestPath)) continue;
        retainedManifests.add(manifest.manifestPath);
        // A DELETED entry is not a reference: no retained snapshot reads that file.
        for (const entry of await readManifestEntries(after, manifest)) {
          if (entry.status !== ManifestEntryStatus.DELETED) retainedFiles.add(entry.dataFile.filePath);
        }
      }
    }
    const deadLists = new Set<string>();
    const deadManifests = new Set<string>();
    const deadData = new Set<string>();
    const deadDeletes = new Set<string>();
    for (const snapshot of expired) {
      if (!retainedLists.has(snapshot.manifestList)) deadLists.add(snapshot.manifestList);
      for (const manifest of await readManifestList(before, snapshot)) {
        if (retainedManifests.has(manifest.manifestPath) || deadManifests.has(manifest.manifestPath))
          continue;
        deadManifests.add(manifest.manifestPath);
        for (const entry of await readManifestEntries(before, manifest)) {
          const path = entry.dataFile.filePath;
          if (retainedFiles.has(path)) continue;
          if (entry.dataFile.content === DataFileContent.DATA) deadData.add(path);
          else deadDeletes.add(path);
        }
      }
    }
    await after.io.deleteMany([...deadData, ...deadDeletes, ...deadManifests, ...deadLists]);
    result.deletedManifestLists = deadLists.size;
    result.deletedManifests = deadManifests.size;
    result.deletedDataFiles = deadData.size;
    result.deletedDeleteFiles = deadDeletes.size;
  }
}
