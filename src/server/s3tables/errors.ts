/**
 * S3 Tables' error shapes, and the one place where Floe's typed errors become them: the status code,
 * the `x-amzn-errortype` header and the `{message}` body that `@aws-sdk/client-s3tables` (REST-JSON)
 * turns into BadRequestException, NotFoundException, ConflictException, ... by name.
 */
import { CatalogError, type CatalogErrorCode } from "../../catalog/errors.ts";
import { FloeError } from "../../errors.ts";
import { IcebergError, type IcebergErrorCode } from "../../iceberg/errors.ts";
import { IoError, type IoErrorCode } from "../../io/errors.ts";
import { MaintenanceError } from "../../maintenance/errors.ts";
import { AuthError, type AuthErrorCode } from "../auth/errors.ts";
import { ServerError, type ServerErrorCode } from "../errors.ts";

/**
 * The exceptions of the S3 Tables API model, with their HTTP status, plus the authentication errors
 * AWS's front door answers for every service (the SDK surfaces them by name as S3TablesServiceException).
 */
export const S3_TABLES_EXCEPTIONS = {
  BadRequestException: 400,
  MissingAuthenticationTokenException: 401,
  IncompleteSignatureException: 401,
  UnrecognizedClientException: 403,
  InvalidSignatureException: 403,
  ExpiredTokenException: 403,
  AccessDeniedException: 403,
  ForbiddenException: 403,
  NotFoundException: 404,
  MethodNotAllowedException: 405,
  ConflictException: 409,
  TooManyRequestsException: 429,
  InternalServerErrorException: 500,
} as const;
export type S3TablesExceptionName = keyof typeof S3_TABLES_EXCEPTIONS;

export type S3TablesErrorCode = "BAD_REQUEST" | "NOT_FOUND" | "CONFLICT" | "FORBIDDEN" | "METHOD_NOT_ALLOWED";

export class S3TablesError extends FloeError<S3TablesErrorCode> {}

const s3TablesErrors: Record<S3TablesErrorCode, S3TablesExceptionName> = {
  BAD_REQUEST: "BadRequestException",
  NOT_FOUND: "NotFoundException",
  CONFLICT: "ConflictException",
  FORBIDDEN: "ForbiddenException",
  METHOD_NOT_ALLOWED: "MethodNotAllowedException",
};

const catalogErrors: Record<CatalogErrorCode, S3TablesExceptionName> = {
  NO_SUCH_NAMESPACE: "NotFoundException",
  NO_SUCH_TABLE: "NotFoundException",
  ALREADY_EXISTS: "ConflictException",
  NAMESPACE_NOT_EMPTY: "ConflictException",
  COMMIT_FAILED: "ConflictException",
  COMMIT_STATE_UNKNOWN: "InternalServerErrorException",
  INVALID_INPUT: "BadRequestException",
  SERVICE_FAILED: "InternalServerErrorException",
  NOT_AUTHORIZED: "AccessDeniedException",
  FORBIDDEN: "AccessDeniedException",
};

const authErrors: Record<AuthErrorCode, S3TablesExceptionName> = {
  MISSING_CREDENTIALS: "MissingAuthenticationTokenException",
  MALFORMED_CREDENTIALS: "IncompleteSignatureException",
  UNKNOWN_ACCESS_KEY: "UnrecognizedClientException",
  SIGNATURE_MISMATCH: "InvalidSignatureException",
  REQUEST_EXPIRED: "InvalidSignatureException",
  INVALID_TOKEN: "UnrecognizedClientException",
  TOKEN_EXPIRED: "ExpiredTokenException",
  INVALID_POLICY: "BadRequestException",
  ACCESS_DENIED: "AccessDeniedException",
  NOT_CONFIGURED: "InternalServerErrorException",
};

const icebergErrors: Record<IcebergErrorCode, S3TablesExceptionName> = {
  DATA_INVALID: "BadRequestException",
  INCOMPATIBLE_CHANGE: "BadRequestException",
  COMMIT_CONFLICT: "ConflictException",
  VALIDATION_FAILED: "BadRequestException",
  FEATURE_UNSUPPORTED: "BadRequestException",
  IO_FAILED: "InternalServerErrorException",
  NOT_FOUND: "NotFoundException",
};

const ioErrors: Record<IoErrorCode, S3TablesExceptionName> = {
  NOT_FOUND: "NotFoundException",
  ALREADY_EXISTS: "ConflictException",
  ACCESS_DENIED: "ForbiddenException",
  INVALID_RANGE: "BadRequestException",
  INVALID_LOCATION: "BadRequestException",
  INVALID_CONFIG: "InternalServerErrorException",
  IO_FAILED: "InternalServerErrorException",
};

const serverErrors: Record<ServerErrorCode, S3TablesExceptionName> = {
  NO_SUCH_WAREHOUSE: "NotFoundException",
  BUCKET_ALREADY_EXISTS: "ConflictException",
  BUCKET_NOT_EMPTY: "ConflictException",
  BAD_REQUEST: "BadRequestException",
  UNPROCESSABLE: "BadRequestException",
  UNSUPPORTED_OPERATION: "MethodNotAllowedException",
  NOT_FOUND: "NotFoundException",
  STORE_FAILED: "InternalServerErrorException",
  // The S3 Tables API takes no Idempotency-Key; mapped for completeness.
  IDEMPOTENCY_KEY_REUSED: "BadRequestException",
  REQUEST_IN_PROGRESS: "ConflictException",
};

function exceptionOf(error: unknown): S3TablesExceptionName | undefined {
  if (error instanceof S3TablesError) return s3TablesErrors[error.code];
  if (error instanceof CatalogError) return catalogErrors[error.code];
  if (error instanceof IcebergError) return icebergErrors[error.code];
  if (error instanceof IoError) return ioErrors[error.code];
  if (error instanceof ServerError) return serverErrors[error.code];
  if (error instanceof MaintenanceError) return "BadRequestException";
  if (error instanceof AuthError) return authErrors[error.code];
  if (typeof error === "object" && error !== null) {
    // Fastify's own request errors (bad JSON, body too large, bad URL encoding).
    const { statusCode } = error as { statusCode?: unknown };
    if (typeof statusCode === "number" && statusCode >= 400 && statusCode < 500) return "BadRequestException";
  }
  return undefined;
}

export interface S3TablesErrorResponse {
  status: number;
  type: S3TablesExceptionName;
  body: { message: string };
  /** A failure of the server itself: logged, and its message not shown to the client. */
  internal: boolean;
}

export function s3TablesErrorResponse(error: unknown): S3TablesErrorResponse {
  const type = exceptionOf(error) ?? "InternalServerErrorException";
  const status = S3_TABLES_EXCEPTIONS[type];
  const internal = status >= 500;
  const message =
    internal && !(error instanceof FloeError)
      ? "internal server error; see the server log"
      : error instanceof Error
        ? error.message
        : String(error);
  return { status, type, body: { message }, internal };
}

/** The header the SDK reads the exception name from first (before `code` / `__type` in the body). */
export const ERROR_TYPE_HEADER = "x-amzn-errortype";
