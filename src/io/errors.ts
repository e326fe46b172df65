/**
 * The one error type of FileIO. Both implementations translate their native failures (errno codes,
 * S3 error names and HTTP statuses) into these codes, so callers never look at `ENOENT` or `NoSuchKey`.
 */
import { FloeError } from "../errors.ts";

export type IoErrorCode =
  /** Nothing is stored at the location (a missing file, object or bucket). */
  | "NOT_FOUND"
  /** A write with `ifNotExists` lost: something is already stored at the location. */
  | "ALREADY_EXISTS"
  /** The credentials or file permissions do not allow the operation. */
  | "ACCESS_DENIED"
  /** A byte range outside the file was requested. */
  | "INVALID_RANGE"
  /** The location is not a URL this FileIO understands (scheme, host, empty key). */
  | "INVALID_LOCATION"
  /** The FileIO configuration (endpoint, region, credentials, sizes) is invalid. */
  | "INVALID_CONFIG"
  /** Any other failure: the network, the disk, the server; retries (S3) were already spent. */
  | "IO_FAILED";

export class IoError extends FloeError<IoErrorCode> {
  /** The location the failed operation was about, when there is one. */
  readonly location: string | undefined;

  constructor(code: IoErrorCode, message: string, options?: { location?: string; cause?: unknown }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.location = options?.location;
  }
}

/** Validates readRange's arguments (both FileIOs share the contract). */
export function checkRangeArguments(location: string, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new IoError(
      "INVALID_RANGE",
      `readRange(${location}, ${offset}, ${length}): offset and length must be non-negative integers`,
      { location },
    );
  }
}

export function rangeOutsideFile(location: string, offset: number, length: number, size: number): IoError {
  return new IoError(
    "INVALID_RANGE",
    `readRange(${location}, offset ${offset}, length ${length}) reaches past the end of the ${size}-byte ` +
      "file; the caller's idea of the file size is wrong (a stale manifest or a replaced file)",
    { location },
  );
}
