/**
 * Which delete files apply to which data file (spec "Scan Planning", "Delete Formats"):
 * - a position delete applies when its data sequence number is >= the data file's, it is in the same spec
 *   and partition, and — when it names a `referenced_data_file` — only to that file; its `file_path`
 *   bounds (field 2147483546) rule out data files whose path lies outside them;
 * - an equality delete applies when its data sequence number is strictly greater than the data file's and
 *   it is in the same spec and partition, or its spec is unpartitioned (a global delete).
 */
import type { PartitionValue } from "./data-file.ts";
import { type DataFile, DataFileContent } from "./data-file.ts";
import { IcebergError } from "./errors.ts";
import { isUnpartitioned, type PartitionSpec } from "./partitioning.ts";

/** Reserved field ids of the position delete file schema (spec "Position Delete Files"). */
export const POSITION_DELETE_FILE_PATH_ID = 2147483546;
export const POSITION_DELETE_POS_ID = 2147483545;

/** A live delete file as scan planning found it: its data sequence number and spec. */
export interface IndexedDeleteFile {
  file: DataFile;
  dataSequenceNumber: bigint;
  spec: PartitionSpec;
  /** The partition tuple in spec field order. */
  partitionValues: readonly PartitionValue[];
}

/** A stable text key for a partition tuple of one spec. */
export function partitionKey(specId: number, values: readonly PartitionValue[]): string {
  const parts = values.map((value) => {
    if (value === null) return "null";
    if (typeof value === "bigint") return `${value}n`;
    if (value instanceof Uint8Array) return `x${Buffer.from(value).toString("hex")}`;
    if (typeof value === "number") return Object.is(value, -0) ? "-0" : String(value);
    return JSON.stringify(value);
  });
  return `${specId}|${parts.join(",")}`;
}

export class DeleteFileIndex {
  readonly #positionByPartition = new Map<string, IndexedDeleteFile[]>();
  readonly #positionByReferencedFile = new Map<string, IndexedDeleteFile[]>();
  readonly #equalityByPartition = new Map<string, IndexedDeleteFile[]>();
  readonly #globalEquality: IndexedDeleteFile[] = [];
  #size = 0;

  constructor(deletes: Iterable<IndexedDeleteFile>) {
    for (const entry of deletes) this.add(entry);
  }

  get size(): number {
    return this.#size;
  }

  add(entry: IndexedDeleteFile): void {
    const file = entry.file;
    this.#size++;
    if (file.content === DataFileContent.POSITION_DELETES) {
      if (file.fileFormat === "puffin") {
        throw new IcebergError(
          "FEATURE_UNSUPPORTED",
          `deletion vector ${file.filePath} (format v3) cannot be read by Floe yet`,
        );
      }
      if (file.referencedDataFile !== undefined) {
        push(this.#positionByReferencedFile, file.referencedDataFile, entry);
      } else {
        push(this.#positionByPartition, partitionKey(entry.spec.specId, entry.partitionValues), entry);
      }
    } else if (file.content === DataFileContent.EQUALITY_DELETES) {
      if (isUnpartitioned(entry.spec)) this.#globalEquality.push(entry);
      else push(this.#equalityByPartition, partitionKey(entry.spec.specId, entry.partitionValues), entry);
    } else {
      throw new IcebergError("DATA_INVALID", `${file.filePath} is a data file, not a delete file`);
    }
  }

  /** The delete files that apply to a data file with this data sequence number, spec and partition. */
  forDataFile(
    file: DataFile,
    dataSequenceNumber: bigint,
    spec: PartitionSpec,
    partitionValues: readonly PartitionValue[],
  ): DataFile[] {
    if (this.#size === 0) return [];
    const key = partitionKey(spec.specId, partitionValues);
    const result: DataFile[] = [];
    const positionCandidates = [
      ...(this.#positionByReferencedFile.get(file.filePath) ?? []),
      ...(this.#positionByPartition.get(key) ?? []),
    ];
    for (const entry of positionCandidates) {
      if (dataSequenceNumber > entry.dataSequenceNumber) continue;
      if (entry.spec.specId !== spec.specId) continue;
      if (!pathWithinBounds(entry.file, file.filePath)) continue;
      result.push(entry.file);
    }
    const equalityCandidates = [...this.#globalEquality, ...(this.#equalityByPartition.get(key) ?? [])];
    for (const entry of equalityCandidates) {
      if (dataSequenceNumber < entry.dataSequenceNumber) result.push(entry.file);
    }
    return result;
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Whether `path` lies within a position delete file's `file_path` bounds (byte order, as written). */
function pathWithinBounds(deleteFile: DataFile, path: string): boolean {
  const lower = deleteFile.lowerBounds?.get(POSITION_DELETE_FILE_PATH_ID);
  const upper = deleteFile.upperBounds?.get(POSITION_DELETE_FILE_PATH_ID);
  const bytes = Buffer.from(path, "utf8");
  if (lower !== undefined && Buffer.compare(bytes, Buffer.from(lower)) < 0) return false;
  if (upper !== undefined) {
    // Upper bounds may be truncated (then incremented): compare only the bound's length of the path.
    const upperBytes = Buffer.from(upper);
    const clipped = bytes.subarray(0, upperBytes.length);
    if (Buffer.compare(clipped, upperBytes) > 0) return false;
  }
  return true;
}
