/**
 * The capture domain's error: one class, a closed set of codes. Messages name the table, column, slot or
 * setting involved and say how to fix it, because they end up in front of the operator of `floe capture`.
 */
import { FloeError } from "../errors.ts";

export type CaptureErrorCode =
  | "CONFIG_INVALID"
  | "WAL_LEVEL_NOT_LOGICAL"
  | "SERVER_TOO_OLD"
  | "PERMISSION_DENIED"
  | "SLOT_IN_USE"
  | "SLOT_MISSING"
  | "PUBLICATION_MISSING"
  | "TABLE_NOT_FOUND"
  | "UNKNOWN_TYPE"
  | "VALUE_INVALID"
  | "PROTOCOL_ERROR"
  | "SNAPSHOT_FAILED"
  | "CONNECTION_LOST";

export class CaptureError extends FloeError<CaptureErrorCode> {}

/** PostgreSQL's SQLSTATE of an error thrown by `pg`, when it has one. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}
