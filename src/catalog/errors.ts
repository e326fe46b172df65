/**
 * The catalog's error type. Codes mirror the Iceberg REST catalog's exception types so the server maps
 * each to its HTTP status in one place (NoSuchTable → 404, AlreadyExists → 409, CommitFailed → 409, ...).
 */
import { FloeError } from "../errors.ts";

export type CatalogErrorCode =
  | "NO_SUCH_NAMESPACE"
  | "NO_SUCH_TABLE"
  | "ALREADY_EXISTS"
  | "NAMESPACE_NOT_EMPTY"
  /** A requirement failed or the metadata pointer moved: reload, re-validate, retry. */
  | "COMMIT_FAILED"
  /** The commit may or may not have happened (e.g. a timeout after sending); do not clean up its files. */
  | "COMMIT_STATE_UNKNOWN"
  | "INVALID_INPUT"
  /** The catalog service failed or could not be reached (HTTP 5xx, network); nothing is known to have changed. */
  | "SERVICE_FAILED"
  /** The catalog did not accept the client's credentials, or it needs some (HTTP 401 / 419). */
  | "NOT_AUTHORIZED"
  /** The catalog knows the client, but a policy does not allow the request (HTTP 403). */
  | "FORBIDDEN";

export class CatalogError extends FloeError<CatalogErrorCode> {}
