/**
 * The error type of authentication and authorization in `floe serve`. Each code says which check
 * failed; `rest/error-model.ts` and `s3tables/errors.ts` turn them into each API's 401 / 403 / 419
 * shapes, and the messages never say whether the resource a caller may not see exists.
 */
import { FloeError } from "../../errors.ts";

export type AuthErrorCode =
  /** No credentials on a request to a server that does not allow anonymous access (401). */
  | "MISSING_CREDENTIALS"
  /** A SigV4 Authorization header or presigned query that cannot be parsed, or an unsupported scheme (401). */
  | "MALFORMED_CREDENTIALS"
  /** The access key id of a signature or token is not one the server is configured with (401 / S3 Tables 403). */
  | "UNKNOWN_ACCESS_KEY"
  /** The SigV4 signature does not match the request (wrong secret, tampered request or body) (401 / S3 Tables 403). */
  | "SIGNATURE_MISMATCH"
  /** The signed request's date is too far from the server's clock, or a presigned URL has expired (401 / S3 Tables 403). */
  | "REQUEST_EXPIRED"
  /** A bearer token whose signature or claims are not valid (401). */
  | "INVALID_TOKEN"
  /** A bearer token past its expiry: fetch a new one (REST 419, S3 Tables 403 ExpiredTokenException). */
  | "TOKEN_EXPIRED"
  /** A resource policy document Floe cannot enforce (bad JSON shape, a Condition, a missing Principal) (400). */
  | "INVALID_POLICY"
  /** Authenticated, but no policy allows the action on the resource, or one denies it (403). */
  | "ACCESS_DENIED"
  /** The server was started with neither access keys nor anonymous access. */
  | "NOT_CONFIGURED";

export class AuthError extends FloeError<AuthErrorCode> {}
