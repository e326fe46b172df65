/**
 * Unreferenced-file removal (S3 Tables `icebergUnreferencedFileRemoval`): files under the table's
 * location that no snapshot and no metadata file references — leftovers of failed commits, of expiry
 * run without cleanup, of crashed writers — are marked non-current once older than `unreferencedDays`
 * and deleted `nonCurrentDays` after being marked, if still unreferenced then.
 *
 * Referenced = the current metadata file and those in its metadata log, their statistics files, and for
 * every snapshot its manifest list, its manifests and the data and delete files live in them. A file
 * younger than `unreferencedDays` is never touched: a commit in flight writes its files before the
 * metadata that references them. If any manifest cannot be read the run fails: a partial view of what
 * is referenced must never delete anything. Before deleting, the table is reloaded and, when it moved,
 * the referenced set is recomputed.
 *
 * The marks live in a small JSON-able state object the caller persists between runs.
 */
import type { Catalog, LoadedTable } from "../catalog/catalog.ts";
import { describeError } from "../errors.ts";
import { ManifestEntryStatus } from "../iceberg/data-file.ts";
import { readManifestEntries, readManifestList } from "../iceberg/snapshot-producer.ts";
import { MaintenanceError } from "./errors.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/** What the caller persists between runs: file location → when it was marked non-current (ms). */
export interface UnreferencedFileState {
  version: 1;
  markedFiles: Record<string, number>;
}

export function emptyUnreferencedFileState(): UnreferencedFileState {
  return { version: 1, markedFiles: {} };
}

/** Reads a persisted state (JSON text or parsed); MaintenanceError INVALID_STATE if it is not one. */
export function parseUnreferencedFileState(input: unknown): UnreferencedFileState {
  let value = input;
  if (typeof input === "string") {
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw new MaintenanceError(
        "INVALID_STATE",
        `unreferenced-file state is not JSON: ${describeError(error)}`,
      );
    }
  }
  const state = value as Partial<UnreferencedFileState> | null;
  if (
    state === null ||
    typeof state !== "object" ||
    state.version !== 1 ||
    typeof state.markedFiles !== "object" ||
    state.markedFiles === null ||
    Object.values(state.markedFiles).some((t) => typeof t !== "number" || !Number.isFinite(t))
  ) {
    throw new MaintenanceError(
      "INVALID_STATE",
      "unreferenced-file state must be {version: 1, markedFiles: {location: markedAtMs}}; delete it to start over (files are then marked again)",
    );
  }
  return { version: 1, markedFiles: { ...state.markedFiles } };
}

export interface UnreferencedFileRemovalOptions {
  unreferencedDays: number;
  nonCurrentDays: number;
  state?: UnreferencedFileState;
  nowMs?: () => number;
  /** Compute marks and candidates but delete nothing. */
  dryRun?: boolean;
}

export interface UnreferencedFileRemovalResult {
  /** The new state to persist. */
  state: UnreferencedFileState;
  /** Files marked non-current by this run. */
  markedFiles: string[];
  /** Files deleted by this run (or that would be, in a dry run). */
  deletedFiles: string[];
  /** Marked files still waiting for nonCurrentDays. */
  pendingFiles: number;
  /** Unreferenced files younger than unreferencedDays, left alone. */
  youngFiles: number;
  listedFiles: number;
  referencedFiles: number;
}

/** Every file the table's metadata references: metadata files, manifest lists, manifests, data and delete files. */
export async function referencedFiles(table: LoadedTable): Promise<Set<string>> {
  const { metadata } = table;
  const referenced = new Set<string>([table.metadataLocation]);
  for (const entry of metadata.metadataLog) referenced.add(entry.metadataFile);
  for (const stats of [...metadata.statistics, ...metadata.partitionStatistics]) {
    const path = (stats as { "statistics-path"?: unknown })["statistics-path"];
    if (typeof path === "string") referenced.add(path);
  }
  const seenManifests = new Set<string>();
  for (const snapshot of metadata.snapshots) {
    referenced.add(snapshot.manifestList);
    let manifests: Awaited<ReturnType<typeof readManifestList>>;
    try {
      manifests = await readManifestList(table, snapshot);
    } catch (error) {
      throw unreadable(table, snapshot.manifestList, error);
    }
    for (const manifest of manifests) {
      referenced.add(manifest.manifestPath);
      if (seenManifests.has(manifest.manifestPath)) continue;
      seenManifests.add(manifest.manifestPath);
      let entries: Awaited<ReturnType<typeof readManifestEntries>>;
      try {
        entries = await readManifestEntries(table, manifest);
      } catch (error) {
        throw unreadable(table, manifest.manifestPath, error);
      }
      // A DELETED entry is not a reference: no snapshot reads that file through this manifest.
      for (const entry of entries)
        if (entry.status !== ManifestEntryStatus.DELETED) referenced.add(entry.dataFile.filePath);
    }
  }
  return referenced;
}

function unreadable(table: LoadedTable, location: string, error: unknown): MaintenanceError {
  return new MaintenanceError(
    "UNSUPPORTED_TABLE",
    `unreferenced-file removal on ${table.metadata.location}: cannot read ${location} (${describeError(error)}); nothing was deleted`,
    { cause: error },
  );
}

/** Marks and deletes unreferenced files of one table; returns the new state to persist. */
export async function removeUnreferencedFiles(
  catalog: Catalog,
  table: LoadedTable,
  options: UnreferencedFileRemovalOptions,
): Promise<UnreferencedFileRemovalResult> {
  const now = (options.nowMs ?? Date.now)();
  const unreferencedMs = options.unreferencedDays * DAY_MS;
  const nonCurrentMs = options.nonCurrentDays * DAY_MS;
  const previous = options.state?.markedFiles ?? {};
  let referenced = await referencedFiles(table);
  const prefix = table.metadata.location.endsWith("/")
    ? table.metadata.location
    : `${table.metadata.location}/`;

  const marked: Record<string, number> = {};
  const newlyMarked: string[] = [];
  const due: string[] = [];
  let youngFiles = 0;
  let listedFiles = 0;
  for await (const file of table.io.list(prefix)) {
    listedFiles++;
    if (referenced.has(file.location)) continue;
    if (now - file.lastModified.getTime() < unreferencedMs) {
      youngFiles++;
      continue;
    }
    const markedAt = previous[file.location];
    if (markedAt === undefined) {
      marked[file.location] = now;
      newlyMarked.push(file.location);
    } else if (now - markedAt >= nonCurrentMs) {
      due.push(file.location);
    } else {
      marked[file.location] = markedAt;
    }
  }

  let deleted = due;
  if (due.length > 0) {
    // The table may have moved while we listed: what it references now is what counts.
    const latest = await catalog.loadTable(table.identifier);
    if (latest.metadataLocation !== table.metadataLocation) {
      referenced = await referencedFiles(latest);
      deleted = due.filter((location) => !referenced.has(location));
    }
    if (!options.dryRun) await table.io.deleteMany(deleted);
  }
  if (options.dryRun) for (const location of deleted) marked[location] = previous[location]!;
  return {
    state: { version: 1, markedFiles: marked },
    markedFiles: newlyMarked,
    deletedFiles: deleted,
    pendingFiles: Object.keys(marked).length - newlyMarked.length,
    youngFiles,
    listedFiles,
    referencedFiles: referenced.size,
  };
}
