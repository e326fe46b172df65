/**
 * Authentication of one request: who sent it, proven by a SigV4 signature (Authorization header or
 * presigned query) over the exact bytes received, or by a bearer token from the OAuth2 token endpoint;
 * a request without credentials is the anonymous principal only where anonymous access is enabled.
 * Credentials that are present but wrong are never downgraded to anonymous.
 */
import { AuthError } from "./errors.ts";
import type { Principal, Principals } from "./principals.ts";
import { type IncomingRequest, parseSigV4, verifySigV4 } from "./sigv4.ts";
import { verifyToken } from "./tokens.ts";

export function authenticate(
  request: IncomingRequest,
  principals: Principals,
  nowMs = Date.now(),
): Principal {
  const signature = parseSigV4(request);
  if (signature) {
    const key = principals.key(signature.accessKeyId);
    if (!key) {
      throw new AuthError(
        "UNKNOWN_ACCESS_KEY",
        `The security token included in the request is invalid: access key ${signature.accessKeyId} is not configured on this server`,
      );
    }
    verifySigV4(signature, request, key.secretAccessKey, nowMs);
    return principals.principalOf(key, "sigv4");
  }
  const authorization = bearerOrScheme(request.rawHeaders);
  if (authorization === undefined) return principals.anonymousPrincipal();
  if (authorization.scheme !== "bearer") {
    throw new AuthError(
      "MALFORMED_CREDENTIALS",
      `the ${authorization.scheme} Authorization scheme is not supported; sign with AWS SigV4 or send a bearer token`,
    );
  }
  const { key } = verifyToken(authorization.value, principals, nowMs);
  return principals.principalOf(key, "bearer");
}

function bearerOrScheme(rawHeaders: readonly string[]): { scheme: string; value: string } | undefined {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() !== "authorization") continue;
    const header = (rawHeaders[i + 1] as string).trim();
    if (header === "") return undefined;
    const space = header.indexOf(" ");
    const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
    return { scheme, value: space < 0 ? "" : header.slice(space + 1).trim() };
  }
  return undefined;
}
