/**
 * The error type of `floe serve` itself (buckets, requests, the store). Catalog, table-format and
 * FileIO errors keep their own types; `rest/error-model.ts` maps all of them to HTTP in one place.
 */
import { FloeError } from "../errors.ts";

export type ServerErrorCode =
  /** The `warehouse` / `{prefix}` names no table bucket (REST NoSuchWarehouseException). */
  | "NO_SUCH_WAREHOUSE"
  | "BUCKET_ALREADY_EXISTS"
  /** A bucket still holding namespaces cannot be deleted. */
  | "BUCKET_NOT_EMPTY"
  /** Malformed or invalid request: bad JSON, a missing field, a bad bucket name. */
  | "BAD_REQUEST"
  /** Well-formed but contradictory, e.g. one property both updated and removed (HTTP 422). */
  | "UNPROCESSABLE"
  /** A route of the REST spec that Floe does not serve (views, scan planning, request signing). */
  | "UNSUPPORTED_OPERATION"
  /** No route matches the request. */
  | "NOT_FOUND"
  /** An Idempotency-Key already used for a different request (route, body or caller): HTTP 422. */
  | "IDEMPOTENCY_KEY_REUSED"
  /** The first request with an Idempotency-Key still runs; retry later with the same key: HTTP 503. */
  | "REQUEST_IN_PROGRESS"
  /** The catalog store (SQLite) failed. */
  | "STORE_FAILED";

export class ServerError extends FloeError<ServerErrorCode> {}
