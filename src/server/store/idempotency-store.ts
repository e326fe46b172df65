/**
 * Idempotency keys of the Iceberg REST API (`Idempotency-Key` header), kept in the catalog store so every
 * replica sharing a PostgreSQL store replays the same first response. A key is first *reserved* (a
 * pending row with a lease, while its request runs), then *finalized* with the response to replay, or
 * *released* (deleted) when the response must not be replayed (5xx). Rows live in their own table beside
 * the catalog's, created on first use (`sqlite-idempotency.ts`, `postgres-idempotency.ts`).
 */
import { ServerError } from "../errors.ts";
import { PostgresIdempotencyStore } from "./postgres-idempotency.ts";
import { PostgresServerStore } from "./postgres-store.ts";
import { SqliteIdempotencyStore } from "./sqlite-idempotency.ts";
import { SqliteServerStore } from "./sqlite-store.ts";
import type { ServerStore } from "./store.ts";

/** The response a finalized key replays: status, the headers that describe the body, and the body's bytes. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface IdempotencyRecord {
  key: string;
  /** Hash of who sent what where: a retry must match it (else HTTP 422). */
  fingerprint: string;
  /** Absent while the first request still runs. */
  response: StoredResponse | undefined;
  /** Epoch ms until which a pending reservation belongs to its request; later, a retry may take it over. */
  leaseUntilMs: number;
  /** Epoch ms after which the row is forgotten (the advertised lifetime plus a grace period). */
  expiresAtMs: number;
}

export interface Reservation {
  key: string;
  fingerprint: string;
  nowMs: number;
  leaseUntilMs: number;
  expiresAtMs: number;
}

/** A row of the `idempotency_keys` table as either store returns it. */
export interface IdempotencyRow {
  key: string;
  fingerprint: string;
  status: number | null;
  headers: string | null;
  body: Buffer | null;
  /** Epoch ms; node-postgres returns BIGINT as a string. */
  lease_until: number | string;
  expires_at: number | string;
}

export function recordOfRow(row: IdempotencyRow): IdempotencyRecord {
  return {
    key: row.key,
    fingerprint: row.fingerprint,
    response:
      row.status === null
        ? undefined
        : {
            status: row.status,
            headers: JSON.parse(row.headers ?? "{}") as Record<string, string>,
            body: row.body ?? Buffer.alloc(0),
          },
    leaseUntilMs: Number(row.lease_until),
    expiresAtMs: Number(row.expires_at),
  };
}

export interface IdempotencyStore {
  /**
   * Reserves the key for a request unless a live row holds it: true when reserved (no row, an expired
   * row, or a pending row of the same fingerprint whose lease ran out: its request died), else the row.
   * Atomic: of concurrent reservations of one key exactly one gets true.
   */
  reserve(reservation: Reservation): Promise<true | IdempotencyRecord>;
  /** Moves the lease of a pending reservation of this fingerprint on (its request still runs). */
  renew(key: string, fingerprint: string, leaseUntilMs: number): Promise<void>;
  /** Stores the response of a reserved key (state final). */
  finalize(key: string, fingerprint: string, response: StoredResponse): Promise<void>;
  /** Deletes a pending reservation of this fingerprint, so the next retry runs the request again. */
  release(key: string, fingerprint: string): Promise<void>;
  /** The row of a key, expired or not, or undefined. */
  get(key: string): Promise<IdempotencyRecord | undefined>;
  /** Deletes rows expired before `nowMs`; returns how many. */
  purgeExpired(nowMs: number): Promise<number>;
}

/**
 * The idempotency keys kept in a server store's database (the catalog stores themselves know nothing of
 * this table).
 */
export function idempotencyStoreFor(store: ServerStore): IdempotencyStore {
  if (store instanceof SqliteServerStore) return new SqliteIdempotencyStore(store);
  if (store instanceof PostgresServerStore) return new PostgresIdempotencyStore(store);
  throw new ServerError(
    "STORE_FAILED",
    "this catalog store keeps no idempotency keys; use the SQLite or PostgreSQL store, or set idempotencyKeyLifetimeSeconds to 0",
  );
}
