/**
 * The one error type of the table-format library. Codes follow the failure's kind, as iceberg-rust's
 * ErrorKind does: callers (the catalog server, the sink) map them to REST errors or retries.
 */
import { FloeError } from "../errors.ts";

export type IcebergErrorCode =
  /** Input that does not follow the spec: unparseable metadata, an unknown type, a bad field id. */
  | "DATA_INVALID"
  /** A schema, partition or sort change that would break existing data or readers. */
  | "INCOMPATIBLE_CHANGE"
  /** A commit's requirements did not hold against the table's current metadata (retryable). */
  | "COMMIT_CONFLICT"
  /** A concurrent change makes this operation invalid even after retry (e.g. its files were rewritten). */
  | "VALIDATION_FAILED"
  /** Valid by the spec but not implemented by Floe yet. */
  | "FEATURE_UNSUPPORTED"
  /** Reading or writing a file failed. */
  | "IO_FAILED"
  | "NOT_FOUND";

export class IcebergError extends FloeError<IcebergErrorCode> {}
