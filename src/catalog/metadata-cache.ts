/**
 * Parsed table metadata by metadata-file location. A metadata file is immutable once written (Floe
 * writes each one with if-not-exists under a fresh uuid and never replaces it), so what a location held
 * when it was read or written is what it holds for good: a catalog that committed a version answers the
 * next load and the next commit of the table from memory instead of reading and parsing a file that
 * grows with every snapshot. Bounded by the total length of the entries' JSON text, least recently used
 * first out. Cached metadata is shared by every caller and frozen (its top-level arrays and maps too):
 * operations derive new metadata (`applyUpdates` copies), they never edit it.
 */
import type { TableMetadata } from "../iceberg/table-metadata.ts";

/** Enough for the latest version of a few dozen tables of thousands of snapshots each. */
export const DEFAULT_METADATA_CACHE_CHARS = 64 * 1024 * 1024;

interface Entry {
  metadata: TableMetadata;
  chars: number;
}

export class TableMetadataCache {
  readonly #maxChars: number;
  /** Insertion order is recency order: a hit moves its entry to the end. */
  readonly #entries = new Map<string, Entry>();
  #chars = 0;
  #hits = 0;
  #misses = 0;

  /** `maxChars` bounds the summed JSON text length of the entries; 0 caches nothing. */
  constructor(maxChars: number = DEFAULT_METADATA_CACHE_CHARS) {
    this.#maxChars = maxChars;
  }

  /** Entries, their summed text length, and lookups answered and not (for tests and benchmarks). */
  get stats(): { entries: number; chars: number; hits: number; misses: number } {
    return { entries: this.#entries.size, chars: this.#chars, hits: this.#hits, misses: this.#misses };
  }

  get(location: string): TableMetadata | undefined {
    const entry = this.#entries.get(location);
    if (!entry) {
      this.#misses++;
      return undefined;
    }
    this.#hits++;
    this.#entries.delete(location);
    this.#entries.set(location, entry);
    return entry.metadata;
  }

  /**
   * Keeps `metadata` as the content of `location`, weighed by `chars` (its JSON text length), and
   * returns it frozen. Metadata larger than the whole budget is returned (frozen) but not kept.
   */
  set(location: string, metadata: TableMetadata, chars: number): TableMetadata {
    const frozen = freezeMetadata(metadata);
    if (chars > this.#maxChars) return frozen;
    this.delete(location);
    this.#entries.set(location, { metadata: frozen, chars });
    this.#chars += chars;
    for (const [oldest, entry] of this.#entries) {
      if (this.#chars <= this.#maxChars) break;
      this.#entries.delete(oldest);
      this.#chars -= entry.chars;
    }
    return frozen;
  }

  /** Forgets a location (e.g. the version a commit just replaced: nobody loads it again). */
  delete(location: string): void {
    const entry = this.#entries.get(location);
    if (!entry) return;
    this.#entries.delete(location);
    this.#chars -= entry.chars;
  }
}

/** Freezes the metadata object and its arrays and maps (not the schemas, snapshots, ... inside). */
function freezeMetadata(metadata: TableMetadata): TableMetadata {
  if (Object.isFrozen(metadata)) return metadata;
  for (const value of Object.values(metadata)) {
    if (typeof value === "object" && value !== null) Object.freeze(value);
  }
  return Object.freeze(metadata);
}
