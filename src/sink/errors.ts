/**
 * The sink's one error type. Codes say what kind of failure it is, so the worker can decide between
 * retrying, rebuilding state and stopping with a message for the operator.
 */
import { FloeError } from "../errors.ts";

export type SinkErrorCode =
  /** A change that does not fit the table: missing key columns, an unknown op, a row for the wrong table. */
  | "CHANGE_INVALID"
  /** A change at or before a position already handed to the writer: the source went backwards. */
  | "POSITION_OUT_OF_ORDER"
  /** An update kept a TOASTed column unchanged, but no stored row holds its old value. */
  | "TOAST_ROW_MISSING"
  /** A source schema change Iceberg cannot express without rewriting data (e.g. text → int). */
  | "SCHEMA_INCOMPATIBLE"
  /** The table is not usable by this writer (no identifier fields for upsert, missing changelog columns). */
  | "TABLE_INVALID"
  /** Compaction kept removing the files this round's deletes target; gave up after the retries. */
  | "COMMIT_RETRIES_EXHAUSTED"
  /** Valid input Floe does not handle yet (e.g. TRUNCATE in upsert mode). */
  | "FEATURE_UNSUPPORTED"
  /** A newer coordinator (higher epoch) committed: this one is a zombie and must not commit. */
  | "COORDINATOR_FENCED"
  /** Another coordinator of the sink committed some of a round's events while it was committing. */
  | "COORDINATORS_OVERLAP"
  /** Kafka refused or lost a publication (transaction aborted, producer fenced, broker unreachable). */
  | "KAFKA_FAILED";

export class SinkError extends FloeError<SinkErrorCode> {}
