/**
 * Who may call `floe serve`: the access keys it is configured with (each one an access key id, its
 * secret, and the principal ARN it acts as) and whether anonymous callers are let in. A principal of the
 * server's own account is the buckets' owner; any other principal needs a resource policy's Allow.
 * A server with neither keys nor anonymous access refuses to start.
 */
import { AuthError } from "./errors.ts";

export interface AccessKeySettings {
  accessKeyId: string;
  secretAccessKey: string;
  /** `arn:aws:iam::<account>:<user/…|role/…|root>`; default: the server account's root (the owner). */
  principal?: string;
}

export interface AuthSettings {
  /** One key pair serves SigV4 (access key id + secret) and OAuth2 client credentials (client id + secret). */
  keys?: readonly AccessKeySettings[];
  /** Serve requests without credentials, with the owner's rights (explicit Deny statements still apply). */
  anonymous?: boolean;
  /** Lifetime of the bearer tokens `/iceberg/v1/oauth/tokens` issues. */
  tokenTtlSeconds?: number;
}

export interface Principal {
  /** The IAM-style ARN policies name (`*` matches it); `anonymous` for unauthenticated callers. */
  arn: string;
  /** The account of the ARN; undefined for anonymous callers. */
  accountId: string | undefined;
  /** The server account's own principals (and anonymous callers, when allowed) own every bucket. */
  owner: boolean;
  /** How the request proved it: SigV4, a bearer token, or nothing. */
  via: "sigv4" | "bearer" | "anonymous";
  accessKeyId?: string;
}

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
  principal: string;
  accountId: string;
}

const principalPattern = /^arn:aws[a-z-]*:iam::(\d{12}):(root|(user|role)\/[\w+=,.@/-]+)$/;

export const DEFAULT_TOKEN_TTL_SECONDS = 3600;

/** The account of a principal ARN, or undefined when `arn` is not one. */
export function accountOfPrincipal(arn: string): string | undefined {
  return principalPattern.exec(arn)?.[1];
}

/** The configured keys by access key id, the anonymous switch and the server's account, checked once at start. */
export class Principals {
  readonly accountId: string;
  readonly anonymous: boolean;
  readonly tokenTtlSeconds: number;
  readonly #keys = new Map<string, AccessKey>();

  constructor(settings: AuthSettings, accountId: string) {
    this.accountId = accountId;
    this.anonymous = settings.anonymous === true;
    this.tokenTtlSeconds = settings.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
    if (!Number.isInteger(this.tokenTtlSeconds) || this.tokenTtlSeconds < 60) {
      throw new AuthError(
        "NOT_CONFIGURED",
        `auth.tokenTtlSeconds must be a whole number of seconds, at least 60 (got ${settings.tokenTtlSeconds})`,
      );
    }
    for (const key of settings.keys ?? []) {
      if (!/^[\w+=,.@-]{1,128}$/.test(key.accessKeyId) || key.secretAccessKey.length === 0) {
        throw new AuthError(
          "NOT_CONFIGURED",
          `access key ${JSON.stringify(key.accessKeyId)} needs an id of 1-128 letters, digits or +=,.@-_ and a non-empty secret`,
        );
      }
      if (this.#keys.has(key.accessKeyId)) {
        throw new AuthError("NOT_CONFIGURED", `access key ${key.accessKeyId} is configured twice; keep one`);
      }
      const principal = key.principal ?? `arn:aws:iam::${accountId}:root`;
      const keyAccount = accountOfPrincipal(principal);
      if (!keyAccount) {
        throw new AuthError(
          "NOT_CONFIGURED",
          `the principal ${JSON.stringify(principal)} of access key ${key.accessKeyId} is not an IAM ARN; write arn:aws:iam::<12-digit account>:user/<name> (or :role/<name>, :root)`,
        );
      }
      this.#keys.set(key.accessKeyId, { ...key, principal, accountId: keyAccount });
    }
    if (this.#keys.size === 0 && !this.anonymous) {
      throw new AuthError(
        "NOT_CONFIGURED",
        "floe serve has no credentials configured and anonymous access is off: add an access key " +
          "(auth.keys: [{accessKeyId, secretAccessKey}] in the config file, FLOE_AUTH_KEYS=ID:SECRET, or --auth-key ID:SECRET), " +
          "or allow anonymous access explicitly (auth.anonymous: true, FLOE_AUTH_ANONYMOUS=true, or --allow-anonymous)",
      );
    }
  }

  /** The key with this id, or undefined. */
  key(accessKeyId: string): AccessKey | undefined {
    return this.#keys.get(accessKeyId);
  }

  get keyCount(): number {
    return this.#keys.size;
  }

  principalOf(key: AccessKey, via: Principal["via"]): Principal {
    return {
      arn: key.principal,
      accountId: key.accountId,
      owner: key.accountId === this.accountId,
      via,
      accessKeyId: key.accessKeyId,
    };
  }

  /** The principal of requests without credentials; AuthError MISSING_CREDENTIALS when anonymous access is off. */
  anonymousPrincipal(): Principal {
    if (!this.anonymous) {
      throw new AuthError(
        "MISSING_CREDENTIALS",
        "this request carries no credentials: sign it with AWS SigV4 using an access key of the server, " +
          "or send `Authorization: Bearer <token>` with a token from POST /iceberg/v1/oauth/tokens (client credentials)",
      );
    }
    return { arn: "anonymous", accountId: undefined, owner: true, via: "anonymous" };
  }
}
