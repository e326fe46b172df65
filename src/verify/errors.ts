/**
 * The error type of `floe verify`. Codes say why a comparison could not be made (or, for DIFFERENCES,
 * that it was made and found the two sides unequal), and the messages name the table, the LSNs
 * involved and what to do.
 */
import { FloeError } from "../errors.ts";

export type VerifyErrorCode =
  /** A table or schema name that is not a plain or double-quoted identifier; refused before any SQL. */
  | "IDENTIFIER_INVALID"
  /** Options that contradict each other or are out of range. */
  | "INVALID_OPTIONS"
  /** The PostgreSQL table does not exist (or is not a table) in the source database. */
  | "SOURCE_NOT_FOUND"
  /** The Iceberg table does not exist in the catalog. */
  | "TABLE_NOT_FOUND"
  /** The Iceberg table is not a mirror verify can compare (a changelog table, key columns missing). */
  | "TABLE_NOT_COMPARABLE"
  /** `--publication` names a publication that does not exist or does not publish the table. */
  | "PUBLICATION_INVALID"
  /** The temporary slot, publication or exported snapshot could not be set up. */
  | "SETUP_FAILED"
  /** The lake did not reach the verify point within `--wait-ms`. */
  | "LAKE_BEHIND"
  /** `--snapshot-id` names a snapshot older than the verify point that later commits changed. */
  | "SNAPSHOT_TOO_OLD"
  /** The table's columns changed (PostgreSQL DDL or Iceberg schema change) while verify ran. */
  | "SCHEMA_CHANGED"
  /** Streaming the slot from the verify point to the lake's position failed or took too long. */
  | "ROLL_FORWARD_FAILED"
  /** The comparison ran and the two sides differ (the CLI exits 3). */
  | "DIFFERENCES";

export class VerifyError extends FloeError<VerifyErrorCode> {}
