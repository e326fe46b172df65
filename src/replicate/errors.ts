/** Errors of `floe replicate` (direct mode) that are neither the capture's nor the sink's. */
import { FloeError } from "../errors.ts";

export type ReplicateErrorCode =
  /** A capture event value that does not fit the column's Iceberg type (a capture/sink mismatch). */
  | "VALUE_INVALID"
  /** Two source tables map to one Iceberg identifier (same name in different schemas). */
  | "TABLE_CONFLICT"
  /** A commit round failed; nothing after the last durable position was acknowledged. */
  | "COMMIT_FAILED";

export class ReplicateError extends FloeError<ReplicateErrorCode> {}
