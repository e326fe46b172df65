/**
 * The serialized table metadata of loadTable (and create / register / commit) responses, cached per
 * metadata file and `snapshots` mode. A metadata file is immutable once written (written with
 * if-not-exists, never replaced), so its lossless-JSON text never goes stale: repeated loads of a table
 * skip reading, parsing and re-serializing it, and answer from the pointer alone. Kept as UTF-8 bytes,
 * so a response is one copy of them between a small head and tail, with no string building or encoding
 * per request. Bounded by total bytes, least recently used first out.
 */
import { stringifyJson } from "../../iceberg/json.ts";
import { type TableMetadata, tableMetadataToJson } from "../../iceberg/table-metadata.ts";
import type { ServerMetrics } from "../metrics.ts";

export type SnapshotsMode = "all" | "refs";

export const DEFAULT_LOAD_TABLE_CACHE_BYTES = 64 * 1024 * 1024;

/** `snapshots=refs` keeps only the snapshots a branch or tag points at (the spec's lighter load). */
export function metadataForMode(metadata: TableMetadata, mode: SnapshotsMode): TableMetadata {
  if (mode === "all") return metadata;
  const referenced = new Set(Object.values(metadata.refs).map((ref) => ref.snapshotId));
  return { ...metadata, snapshots: metadata.snapshots.filter((s) => referenced.has(s.snapshotId)) };
}

export class LoadTableCache {
  readonly #maxBytes: number;
  readonly #metrics: ServerMetrics | undefined;
  /** Insertion order is recency order: a hit moves its entry to the end. */
  readonly #entries = new Map<string, Buffer>();
  #bytes = 0;

  /** `maxBytes` bounds the cached JSON; 0 caches nothing. */
  constructor(maxBytes: number, metrics?: ServerMetrics) {
    this.#maxBytes = maxBytes;
    this.#metrics = metrics;
  }

  /** What is cached (for tests). */
  get size(): { entries: number; bytes: number } {
    return { entries: this.#entries.size, bytes: this.#bytes };
  }

  /** The cached metadata JSON of this file and mode, or undefined. */
  get(metadataLocation: string, mode: SnapshotsMode): Buffer | undefined {
    const key = `${mode}\n${metadataLocation}`;
    const json = this.#entries.get(key);
    this.#metrics?.loadTableCache.inc({ result: json === undefined ? "miss" : "hit" });
    if (json !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, json);
    }
    return json;
  }

  /** The metadata JSON of a file just read or written: serialized once, then kept. */
  serialize(metadataLocation: string, mode: SnapshotsMode, metadata: TableMetadata): Buffer {
    const key = `${mode}\n${metadataLocation}`;
    const cached = this.#entries.get(key);
    if (cached !== undefined) return cached;
    const json = Buffer.from(stringifyJson(tableMetadataToJson(metadataForMode(metadata, mode))));
    if (json.length <= this.#maxBytes) {
      this.#entries.set(key, json);
      this.#bytes += json.length;
      for (const [oldest, value] of this.#entries) {
        if (this.#bytes <= this.#maxBytes) break;
        this.#entries.delete(oldest);
        this.#bytes -= value.length;
      }
    }
    return json;
  }
}

/**
 * A LoadTableResult's JSON around already-serialized metadata, in the field order the object form had
 * (`metadata-location`, `metadata`, `config`, `storage-credentials`).
 */
export function loadTableResultJson(
  metadataLocation: string,
  metadataJson: Buffer,
  config: Record<string, string>,
  storagePrefix: string,
): Buffer {
  let tail = `,"config":${JSON.stringify(config)}`;
  if (Object.keys(config).length > 0) {
    tail += `,"storage-credentials":${JSON.stringify([{ prefix: storagePrefix, config }])}`;
  }
  return Buffer.concat([
    Buffer.from(`{"metadata-location":${JSON.stringify(metadataLocation)},"metadata":`),
    metadataJson,
    Buffer.from(`${tail}}`),
  ]);
}

/** A CommitTableResponse's JSON around already-serialized metadata. */
export function commitTableResponseJson(metadataLocation: string, metadataJson: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`{"metadata-location":${JSON.stringify(metadataLocation)},"metadata":`),
    metadataJson,
    Buffer.from("}"),
  ]);
}
