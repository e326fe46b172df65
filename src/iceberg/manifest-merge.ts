/**
 * Manifest merging on commit: keeps the number of manifests in a snapshot bounded by rewriting small
 * manifests of the same content and partition spec into one, as Iceberg's `commit.manifest.target-size-bytes`
 * and `commit.manifest.min-count-to-merge` table properties describe. Entries carried over become EXISTING
 * with their sequence numbers kept; files deleted by earlier snapshots are dropped.
 */
import type { AvroCodec } from "./avro.ts";
import { type ManifestEntry, ManifestEntryStatus } from "./data-file.ts";
import { IcebergError } from "./errors.ts";
import { decodeManifest, encodeManifest, type Manifest } from "./manifest.ts";
import type { ManifestFile } from "./manifest-list.ts";

/** Iceberg's default `commit.manifest.target-size-bytes`: 8 MiB. */
export const DEFAULT_MANIFEST_TARGET_SIZE_BYTES = 8 * 1024 * 1024;
/** Iceberg's default `commit.manifest.min-count-to-merge`. */
export const DEFAULT_MANIFEST_MIN_COUNT_TO_MERGE = 100;

export interface ManifestMergeOptions {
  targetSizeBytes?: number;
  minCountToMerge?: number;
}

/** One slot of the next manifest list: a manifest kept as it is, or several merged into a new one. */
export type ManifestMergeStep =
  | { kind: "keep"; manifest: ManifestFile }
  | { kind: "merge"; manifests: ManifestFile[] };

/**
 * Decides which manifests to merge. `manifests` is the next snapshot's list, newest first (the manifests this
 * commit wrote, then the current snapshot's). Per (content, partition spec), manifests are packed into bins
 * of at most `targetSizeBytes`, starting from the oldest so that full bins hold old manifests and the one
 * partly filled bin holds the newest. A bin of several manifests is merged, except the newest bin while it
 * has fewer than `minCountToMerge` manifests: that keeps small appends from rewriting a manifest each commit.
 */
export function planManifestMerge(
  manifests: readonly ManifestFile[],
  options: ManifestMergeOptions = {},
): ManifestMergeStep[] {
  const targetSizeBytes = options.targetSizeBytes ?? DEFAULT_MANIFEST_TARGET_SIZE_BYTES;
  const minCountToMerge = options.minCountToMerge ?? DEFAULT_MANIFEST_MIN_COUNT_TO_MERGE;
  const groups = new Map<string, ManifestFile[]>();
  for (const manifest of manifests) {
    const key = `${manifest.content}/${manifest.partitionSpecId}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [manifest]);
    else group.push(manifest);
  }

  const steps: ManifestMergeStep[] = [];
  for (const group of groups.values()) {
    const bins: ManifestFile[][] = [];
    let bin: ManifestFile[] = [];
    let binBytes = 0;
    for (let i = group.length - 1; i >= 0; i--) {
      const manifest = group[i]!;
      if (bin.length > 0 && binBytes + manifest.manifestLength > targetSizeBytes) {
        bins.push(bin);
        bin = [];
        binBytes = 0;
      }
      bin.unshift(manifest);
      binBytes += manifest.manifestLength;
    }
    if (bin.length > 0) bins.push(bin);
    bins.reverse(); // newest bin first, as the list is ordered

    const newest = group[0];
    for (const packed of bins) {
      const holdsNewest = packed.includes(newest!);
      if (packed.length === 1 || (holdsNewest && packed.length < minCountToMerge)) {
        for (const manifest of packed) steps.push({ kind: "keep", manifest });
      } else {
        steps.push({ kind: "merge", manifests: packed });
      }
    }
  }
  return steps;
}

/**
 * The entries of a merged manifest written by `snapshotId`, from its sources' entries (decoded with
 * inheritance, so every carried-over entry has its sequence numbers). Files this snapshot added or deleted
 * keep their status; files added earlier become EXISTING; files deleted earlier are dropped.
 */
export function mergeManifestEntries(
  sources: Iterable<readonly ManifestEntry[]>,
  snapshotId: bigint,
): ManifestEntry[] {
  const merged: ManifestEntry[] = [];
  for (const entries of sources) {
    for (const entry of entries) {
      const thisSnapshot = entry.snapshotId === snapshotId;
      if (entry.status === ManifestEntryStatus.DELETED) {
        if (thisSnapshot) merged.push(entry);
        continue;
      }
      if (entry.status === ManifestEntryStatus.ADDED && thisSnapshot) {
        merged.push(entry);
        continue;
      }
      if (entry.sequenceNumber === null || entry.fileSequenceNumber === null) {
        throw new IcebergError(
          "DATA_INVALID",
          `cannot carry ${entry.dataFile.filePath} into a merged manifest: its sequence number is unknown ` +
            "(decode its manifest with the manifest list's inheritance)",
        );
      }
      merged.push({ ...entry, status: ManifestEntryStatus.EXISTING });
    }
  }
  return merged;
}

/** Where merging reads source manifests and writes merged ones; I/O stays with the caller's FileIO. */
export interface ManifestMergeIo {
  readManifest(path: string): Promise<Uint8Array>;
  writeManifest(path: string, bytes: Uint8Array): Promise<void>;
  /** A fresh location for a merged manifest. */
  newManifestPath(): string;
}

export interface MergeManifestsOptions extends ManifestMergeOptions {
  /** The snapshot being committed: writer of merged manifests. */
  snapshotId: bigint;
  codec?: AvroCodec;
}

/**
 * Plans and performs the merge; returns the manifests for the next manifest list, newest first. Merged
 * manifests take their header (schema, partition spec) from their newest source: all sources share the spec.
 */
export async function mergeManifests(
  manifests: readonly ManifestFile[],
  options: MergeManifestsOptions,
  io: ManifestMergeIo,
): Promise<ManifestFile[]> {
  const result: ManifestFile[] = [];
  for (const step of planManifestMerge(manifests, options)) {
    if (step.kind === "keep") {
      result.push(step.manifest);
      continue;
    }
    const decoded: Manifest[] = [];
    for (const source of step.manifests) {
      const bytes = await io.readManifest(source.manifestPath);
      decoded.push(decodeManifest(bytes, { path: source.manifestPath, inherit: source }));
    }
    const header = decoded[0]!;
    const path = io.newManifestPath();
    const { bytes, manifestFile } = encodeManifest(
      {
        path,
        snapshotId: options.snapshotId,
        content: header.content,
        schemaId: header.schemaId ?? 0,
        schemaJson: header.schemaJson as object,
        partitionSpecId: header.partitionSpecId,
        partitionFields: header.partitionFields,
        partitionType: header.partitionType,
        ...(options.codec ? { codec: options.codec } : {}),
      },
      mergeManifestEntries(
        decoded.map((manifest) => manifest.entries),
        options.snapshotId,
      ),
    );
    await io.writeManifest(path, bytes);
    result.push(manifestFile);
  }
  return result;
}
