/**
 * The one error type of table maintenance (compaction, snapshot expiry, unreferenced-file removal).
 * The server maps codes to S3 Tables error shapes; job status records the message.
 */
import { FloeError } from "../errors.ts";

export type MaintenanceErrorCode =
  /** A maintenance configuration that does not follow the S3 Tables shape, names or ranges. */
  | "INVALID_CONFIGURATION"
  /** A concurrent commit invalidated the job's change even after re-planning on the new head. */
  | "CONCURRENT_CHANGE"
  /** The table holds something the job cannot handle (e.g. an unreadable manifest: never delete blind). */
  | "UNSUPPORTED_TABLE"
  /** The unreferenced-file state the caller persisted cannot be read. */
  | "INVALID_STATE";

export class MaintenanceError extends FloeError<MaintenanceErrorCode> {}
