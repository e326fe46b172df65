/**
 * FileIO, as the Iceberg spec uses the word: the only way table files (metadata JSON, manifests, data
 * and delete files) are read and written. Locations are URL strings — `file:///abs/path` or
 * `s3://bucket/key` — and are compared as strings by Iceberg (e.g. when finding unreferenced files), so
 * every implementation hands back locations from `list` spelled exactly as they were written.
 */
import type { Readable } from "node:stream";

/** What `write` accepts: bytes already in memory, or a stream of chunks (consumed once, not retried). */
export type WriteBody = Uint8Array | AsyncIterable<Uint8Array> | Readable;

export interface WriteOptions {
  /**
   * Fail with IoError ALREADY_EXISTS instead of replacing an existing file. Atomic: of two writers racing
   * for the same location exactly one succeeds. Iceberg metadata files (`vN.metadata.json`) rely on it.
   */
  ifNotExists?: boolean;
}

export interface FileStatus {
  size: number;
  lastModified: Date;
}

export interface ListedFile extends FileStatus {
  location: string;
}

export interface FileIO {
  /** The whole file. Throws IoError NOT_FOUND when nothing is stored at `location`. */
  read(location: string): Promise<Uint8Array>;

  /**
   * `length` bytes starting at `offset` (Parquet footers, manifest ranges). Throws IoError INVALID_RANGE
   * when the range does not lie inside the file: a short read would hide a wrong size upstream.
   */
  readRange(location: string, offset: number, length: number): Promise<Uint8Array>;

  /** Size in bytes and modification time. Throws IoError NOT_FOUND. */
  stat(location: string): Promise<FileStatus>;

  exists(location: string): Promise<boolean>;

  /**
   * Stores `body` at `location`. Readers never see a partial file: the file appears whole or not at all
   * (local: temp file + rename; S3: single PUT or a completed multipart upload).
   */
  write(location: string, body: WriteBody, options?: WriteOptions): Promise<void>;

  /** Uploads a file that exists on the local disk (e.g. Parquet written by DuckDB). */
  writeFromFile(location: string, localPath: string, options?: WriteOptions): Promise<void>;

  /** Copies the file to `localPath` (replacing it atomically), e.g. for DuckDB to read. */
  downloadToFile(location: string, localPath: string): Promise<void>;

  /** Removes the file. Idempotent: deleting a missing file is not an error (retries, maintenance). */
  delete(location: string): Promise<void>;

  /** Removes many files (batched where the store allows). Idempotent like `delete`. */
  deleteMany(locations: Iterable<string>): Promise<void>;

  /**
   * Every file whose location starts with `prefix` (a string prefix, as S3 lists; end it with `/` to
   * list a "directory"), at any depth, in no particular order. Streams: never holds the whole listing.
   */
  list(prefix: string): AsyncIterable<ListedFile>;

  /** Releases connections; the FileIO must not be used afterwards. */
  close(): void;
}
