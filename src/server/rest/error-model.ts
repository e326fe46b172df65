/**
 * The one place where errors become HTTP: every typed error of the catalog, the table format, FileIO
 * and the server maps by its code to a status and the REST spec's exception type, in the spec's
 * `IcebergErrorResponse` body `{error: {message, type, code}}`.
 */
import { CatalogError, type CatalogErrorCode } from "../../catalog/errors.ts";
import { IcebergError, type IcebergErrorCode } from "../../iceberg/errors.ts";
import { IoError, type IoErrorCode } from "../../io/errors.ts";
import { AuthError, type AuthErrorCode } from "../auth/errors.ts";
import { ServerError, type ServerErrorCode } from "../errors.ts";
import type { components } from "./openapi.gen.ts";

export type IcebergErrorResponse = components["schemas"]["IcebergErrorResponse"];

interface Mapping {
  status: number;
  type: string;
}

const catalogErrors: Record<CatalogErrorCode, Mapping> = {
  NO_SUCH_NAMESPACE: { status: 404, type: "NoSuchNamespaceException" },
  NO_SUCH_TABLE: { status: 404, type: "NoSuchTableException" },
  ALREADY_EXISTS: { status: 409, type: "AlreadyExistsException" },
  NAMESPACE_NOT_EMPTY: { status: 409, type: "NamespaceNotEmptyException" },
  COMMIT_FAILED: { status: 409, type: "CommitFailedException" },
  COMMIT_STATE_UNKNOWN: { status: 500, type: "CommitStateUnknownException" },
  INVALID_INPUT: { status: 400, type: "BadRequestException" },
  SERVICE_FAILED: { status: 503, type: "ServiceUnavailableException" },
  NOT_AUTHORIZED: { status: 401, type: "NotAuthorizedException" },
  FORBIDDEN: { status: 403, type: "ForbiddenException" },
};

/** 401 for "who are you?", 419 for an expired token (the spec's refresh signal), 403 for "you may not". */
const authErrors: Record<AuthErrorCode, Mapping> = {
  MISSING_CREDENTIALS: { status: 401, type: "NotAuthorizedException" },
  MALFORMED_CREDENTIALS: { status: 401, type: "NotAuthorizedException" },
  UNKNOWN_ACCESS_KEY: { status: 401, type: "NotAuthorizedException" },
  SIGNATURE_MISMATCH: { status: 401, type: "NotAuthorizedException" },
  REQUEST_EXPIRED: { status: 401, type: "NotAuthorizedException" },
  INVALID_TOKEN: { status: 401, type: "NotAuthorizedException" },
  TOKEN_EXPIRED: { status: 419, type: "AuthenticationTimeoutException" },
  INVALID_POLICY: { status: 400, type: "BadRequestException" },
  ACCESS_DENIED: { status: 403, type: "ForbiddenException" },
  NOT_CONFIGURED: { status: 500, type: "InternalServerError" },
};

const icebergErrors: Record<IcebergErrorCode, Mapping> = {
  DATA_INVALID: { status: 400, type: "BadRequestException" },
  INCOMPATIBLE_CHANGE: { status: 400, type: "ValidationException" },
  COMMIT_CONFLICT: { status: 409, type: "CommitFailedException" },
  VALIDATION_FAILED: { status: 400, type: "ValidationException" },
  FEATURE_UNSUPPORTED: { status: 406, type: "UnsupportedOperationException" },
  IO_FAILED: { status: 500, type: "InternalServerError" },
  NOT_FOUND: { status: 404, type: "NoSuchTableException" },
};

const ioErrors: Record<IoErrorCode, Mapping> = {
  NOT_FOUND: { status: 404, type: "NotFoundException" },
  ALREADY_EXISTS: { status: 409, type: "AlreadyExistsException" },
  ACCESS_DENIED: { status: 403, type: "ForbiddenException" },
  INVALID_RANGE: { status: 400, type: "BadRequestException" },
  INVALID_LOCATION: { status: 400, type: "BadRequestException" },
  INVALID_CONFIG: { status: 500, type: "InternalServerError" },
  IO_FAILED: { status: 500, type: "InternalServerError" },
};

const serverErrors: Record<ServerErrorCode, Mapping> = {
  NO_SUCH_WAREHOUSE: { status: 404, type: "NoSuchWarehouseException" },
  BUCKET_ALREADY_EXISTS: { status: 409, type: "AlreadyExistsException" },
  BUCKET_NOT_EMPTY: { status: 409, type: "BucketNotEmptyException" },
  BAD_REQUEST: { status: 400, type: "BadRequestException" },
  UNPROCESSABLE: { status: 422, type: "UnprocessableEntityException" },
  UNSUPPORTED_OPERATION: { status: 406, type: "UnsupportedOperationException" },
  NOT_FOUND: { status: 404, type: "NotFoundException" },
  STORE_FAILED: { status: 500, type: "InternalServerError" },
  IDEMPOTENCY_KEY_REUSED: { status: 422, type: "UnprocessableEntityException" },
  REQUEST_IN_PROGRESS: { status: 503, type: "ServiceUnavailableException" },
};

/** Fastify's own request errors (body parsing and limits) by their `code`. */
const fastifyErrors: Record<string, Mapping> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, type: "RequestEntityTooLargeException" },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, type: "UnsupportedMediaTypeException" },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, type: "BadRequestException" },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, type: "BadRequestException" },
};

export interface MappedError {
  status: number;
  body: IcebergErrorResponse;
  /** True for failures of the server itself (logged as errors; the message is not the client's fault). */
  internal: boolean;
}

function mappingOf(error: unknown): Mapping | undefined {
  if (error instanceof CatalogError) return catalogErrors[error.code];
  if (error instanceof IcebergError) return icebergErrors[error.code];
  if (error instanceof IoError) return ioErrors[error.code];
  if (error instanceof ServerError) return serverErrors[error.code];
  if (error instanceof AuthError) return authErrors[error.code];
  if (typeof error === "object" && error !== null) {
    const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
    if (typeof code === "string" && fastifyErrors[code]) return fastifyErrors[code];
    // Other client errors Fastify raises itself (bad URL encoding, unsupported method, ...).
    if (typeof statusCode === "number" && statusCode >= 400 && statusCode < 500) {
      return { status: statusCode, type: "BadRequestException" };
    }
  }
  return undefined;
}

/**
 * The response for `error`. Unknown errors become a 500 InternalServerError without internals in the
 * message — or CommitStateUnknownException for commit routes (`duringCommit`), whose clients must then
 * not clean up the files they wrote.
 */
export function errorResponse(error: unknown, options: { duringCommit?: boolean } = {}): MappedError {
  const mapping = mappingOf(error);
  if (!mapping || mapping.status >= 500) {
    const type = options.duringCommit
      ? "CommitStateUnknownException"
      : (mapping?.type ?? "InternalServerError");
    const message =
      mapping && error instanceof Error ? error.message : "internal server error; see the server log";
    const status = mapping?.status ?? 500;
    return { status, body: { error: { message, type, code: status } }, internal: true };
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    status: mapping.status,
    body: { error: { message, type: mapping.type, code: mapping.status } },
    internal: false,
  };
}

/** The body of an error response built directly (no thrown error), e.g. for unmatched routes. */
export function errorBody(status: number, type: string, message: string): IcebergErrorResponse {
  return { error: { message, type, code: status } };
}
