/**
 * `POST /iceberg/v1/oauth/tokens`, the Iceberg REST spec's OAuth2 token endpoint: the client-credentials
 * grant (client_id / client_secret = an access key id and its secret, in the form body or HTTP Basic)
 * issues a bearer token; a token exchange (`urn:ietf:params:oauth:grant-type:token-exchange` with a
 * still-valid subject token) refreshes one. Answers the spec's OAuthTokenResponse, or OAuthError with
 * 400 / 401 as RFC 6749 §5.2 asks.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { components } from "../rest/openapi.gen.ts";
import { AuthError } from "./errors.ts";
import type { AccessKey, Principals } from "./principals.ts";
import { issueToken, type TokenClaims, verifyToken } from "./tokens.ts";

type OAuthTokenResponse = components["schemas"]["OAuthTokenResponse"];
type OAuthErrorBody = components["schemas"]["OAuthError"];

export const CLIENT_CREDENTIALS = "client_credentials";
export const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
export const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt";

class OAuthFailure extends Error {
  constructor(
    readonly status: 400 | 401,
    readonly error: OAuthErrorBody["error"],
    description: string,
  ) {
    super(description);
  }
}

function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function formField(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** client_id / client_secret from the body, else from HTTP Basic (RFC 6749 §2.3.1). */
function clientCredentials(
  body: Record<string, unknown>,
  authorization: string | undefined,
): { id: string; secret: string } | undefined {
  const id = formField(body, "client_id");
  const secret = formField(body, "client_secret");
  if (id !== undefined && secret !== undefined) return { id, secret };
  const basic = /^basic\s+(\S+)$/i.exec(authorization ?? "");
  if (basic?.[1]) {
    const decoded = Buffer.from(basic[1], "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) {
      const unform = (text: string) => decodeURIComponent(text.replace(/\+/g, " "));
      try {
        return { id: unform(decoded.slice(0, colon)), secret: unform(decoded.slice(colon + 1)) };
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function clientCredentialsGrant(
  principals: Principals,
  body: Record<string, unknown>,
  authorization: string | undefined,
): { key: AccessKey; session?: number } {
  const client = clientCredentials(body, authorization);
  if (!client) {
    throw new OAuthFailure(
      401,
      "invalid_client",
      "send client_id and client_secret (an access key id and its secret) in the form body or as HTTP Basic",
    );
  }
  const key = principals.key(client.id);
  if (!key || !sameSecret(client.secret, key.secretAccessKey)) {
    throw new OAuthFailure(
      401,
      "invalid_client",
      "client authentication failed: unknown client_id or wrong secret",
    );
  }
  return { key };
}

function tokenExchangeGrant(
  principals: Principals,
  body: Record<string, unknown>,
): { key: AccessKey; session: number } {
  const subject = formField(body, "subject_token");
  const type = formField(body, "subject_token_type");
  if (!subject || (type !== ACCESS_TOKEN_TYPE && type !== JWT_TOKEN_TYPE)) {
    throw new OAuthFailure(
      400,
      "invalid_request",
      `a token exchange needs subject_token (a token from this endpoint) and subject_token_type ${ACCESS_TOKEN_TYPE}`,
    );
  }
  let verified: { key: AccessKey; claims: TokenClaims };
  try {
    verified = verifyToken(subject, principals);
  } catch (error) {
    const why = error instanceof AuthError ? error.message : "it is not valid";
    throw new OAuthFailure(400, "invalid_grant", `the subject_token cannot be exchanged: ${why}`);
  }
  return { key: verified.key, session: verified.claims.session };
}

function sendOAuthError(reply: FastifyReply, failure: OAuthFailure) {
  const body: OAuthErrorBody = { error: failure.error, error_description: failure.message };
  if (failure.status === 401) reply.header("www-authenticate", 'Basic realm="floe"');
  return reply.code(failure.status).header("cache-control", "no-store").send(body);
}

export function registerOAuthRoutes(app: FastifyInstance, principals: Principals): void {
  app.post("/v1/oauth/tokens", async (request, reply) => {
    try {
      const body = request.body;
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        throw new OAuthFailure(
          400,
          "invalid_request",
          "send an application/x-www-form-urlencoded body with grant_type=client_credentials, client_id, client_secret",
        );
      }
      const form = body as Record<string, unknown>;
      const grantType = formField(form, "grant_type");
      let grant: { key: AccessKey; session?: number };
      if (grantType === CLIENT_CREDENTIALS) {
        grant = clientCredentialsGrant(principals, form, request.headers.authorization);
      } else if (grantType === TOKEN_EXCHANGE) {
        grant = tokenExchangeGrant(principals, form);
      } else {
        throw new OAuthFailure(
          400,
          "unsupported_grant_type",
          `grant_type must be ${CLIENT_CREDENTIALS} or ${TOKEN_EXCHANGE}, got ${JSON.stringify(grantType ?? null)}`,
        );
      }
      const scope = formField(form, "scope") ?? "catalog";
      const { token, claims } = issueToken(grant.key, {
        ttlSeconds: principals.tokenTtlSeconds,
        scope,
        ...(grant.session !== undefined ? { session: grant.session } : {}),
      });
      const response: OAuthTokenResponse = {
        access_token: token,
        token_type: "bearer",
        expires_in: claims.exp - claims.iat,
        issued_token_type: ACCESS_TOKEN_TYPE,
        scope,
      };
      request.log.info({ principal: grant.key.principal, grant: grantType }, "issued a bearer token");
      return reply.header("cache-control", "no-store").send(response);
    } catch (error) {
      if (error instanceof OAuthFailure) {
        request.log.info({ error: error.error, reason: error.message }, "token request rejected");
        return sendOAuthError(reply, error);
      }
      throw error;
    }
  });
}
