/**
 * The bearer tokens `floe serve` issues: compact JWTs (HS256) naming the access key (`kid`) and its
 * principal (`sub`), with issue and expiry times. Each is signed with a key derived from that access
 * key's secret, so every replica configured with the same keys accepts it, and removing or rotating a
 * key revokes its tokens. `session` carries the time of the original client-credentials grant: a token
 * exchange (refresh) keeps it, and no refresh reaches past MAX_SESSION_SECONDS from it.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { AuthError } from "./errors.ts";
import type { AccessKey, Principals } from "./principals.ts";

/** How long a chain of token-exchange refreshes may extend the original grant. */
export const MAX_SESSION_SECONDS = 24 * 3600;

export interface TokenClaims {
  /** The principal ARN. */
  sub: string;
  /** The access key id the token was issued to. */
  kid: string;
  /** Issued at, seconds since the epoch. */
  iat: number;
  /** Expires at, seconds since the epoch. */
  exp: number;
  /** When the client-credentials grant this token descends from was made. */
  session: number;
  scope: string;
}

const header = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");

function tokenKey(key: AccessKey): Buffer {
  return createHmac("sha256", key.secretAccessKey).update("floe bearer token v1").digest();
}

function sign(key: AccessKey, signingInput: string): Buffer {
  return createHmac("sha256", tokenKey(key)).update(signingInput).digest();
}

export function issueToken(
  key: AccessKey,
  options: { ttlSeconds: number; scope: string; session?: number; nowMs?: number },
): { token: string; claims: TokenClaims } {
  const now = Math.floor((options.nowMs ?? Date.now()) / 1000);
  const session = options.session ?? now;
  const exp = Math.min(now + options.ttlSeconds, session + MAX_SESSION_SECONDS);
  const claims: TokenClaims = {
    sub: key.principal,
    kid: key.accessKeyId,
    iat: now,
    exp,
    session,
    scope: options.scope,
  };
  const signingInput = `${header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  return { token: `${signingInput}.${sign(key, signingInput).toString("base64url")}`, claims };
}

/** A token's key and claims after checking its signature and expiry; AuthError otherwise. */
export function verifyToken(
  token: string,
  principals: Principals,
  nowMs: number = Date.now(),
): { key: AccessKey; claims: TokenClaims } {
  const parts = token.split(".");
  const invalid = (why: string) =>
    new AuthError(
      "INVALID_TOKEN",
      `the bearer token is not valid (${why}); get a new one from POST /iceberg/v1/oauth/tokens`,
    );
  if (parts.length !== 3 || parts[0] !== header) throw invalid("not a token this server issued");
  let claims: TokenClaims;
  try {
    claims = JSON.parse(Buffer.from(parts[1] as string, "base64url").toString("utf8")) as TokenClaims;
  } catch {
    throw invalid("unreadable claims");
  }
  if (
    typeof claims !== "object" ||
    claims === null ||
    typeof claims.kid !== "string" ||
    typeof claims.sub !== "string" ||
    typeof claims.exp !== "number" ||
    typeof claims.session !== "number"
  ) {
    throw invalid("missing claims");
  }
  const key = principals.key(claims.kid);
  if (!key) {
    throw new AuthError(
      "UNKNOWN_ACCESS_KEY",
      "the bearer token was issued to an access key this server no longer has; get a new token",
    );
  }
  const expected = sign(key, `${parts[0]}.${parts[1]}`);
  const given = Buffer.from(parts[2] as string, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid("bad signature");
  if (claims.sub !== key.principal) throw invalid("its principal no longer matches its access key");
  if (nowMs >= claims.exp * 1000) {
    throw new AuthError(
      "TOKEN_EXPIRED",
      `the bearer token expired at ${new Date(claims.exp * 1000).toISOString()}; fetch a new one from POST /iceberg/v1/oauth/tokens`,
    );
  }
  return { key, claims };
}
