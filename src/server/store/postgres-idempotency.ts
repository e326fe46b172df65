/**
 * Idempotency keys in the shared PostgreSQL catalog store (`floe_catalog.idempotency_keys`), so a retry
 * that reaches another replica replays the same response. The table is created on first use, behind an
 * advisory lock (replicas starting at once would otherwise race on CREATE TABLE IF NOT EXISTS). A
 * reservation inserts the key or, when a row exists, locks it (`FOR UPDATE`) to decide on a takeover:
 * of concurrent reservations of one key exactly one wins.
 */
import {
  type IdempotencyRecord,
  type IdempotencyRow,
  type IdempotencyStore,
  type Reservation,
  recordOfRow,
  type StoredResponse,
} from "./idempotency-store.ts";
import type { PostgresServerStore } from "./postgres-store.ts";

const table = "floe_catalog.idempotency_keys";

/** An arbitrary constant, distinct from the catalog schema's own DDL lock. */
const ddlLockKey = 0x666c6f69;

const ddl = `
CREATE TABLE IF NOT EXISTS ${table} (
  key TEXT COLLATE "C" PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  status INTEGER,
  headers TEXT,
  body BYTEA,
  lease_until BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_expiry ON ${table}(expires_at);
`;

export class PostgresIdempotencyStore implements IdempotencyStore {
  readonly #store: PostgresServerStore;
  #ready: Promise<void> | undefined;

  constructor(store: PostgresServerStore) {
    this.#store = store;
  }

  #init(): Promise<void> {
    this.#ready ??= this.#store
      .transaction(async (client) => {
        await client.query("SELECT pg_advisory_xact_lock($1)", [ddlLockKey]);
        await client.query(ddl);
      })
      .catch((error: unknown) => {
        this.#ready = undefined; // try again on the next request
        throw error;
      });
    return this.#ready;
  }

  async reserve(reservation: Reservation): Promise<true | IdempotencyRecord> {
    await this.#init();
    return this.#store.transaction(async (client) => {
      const inserted = await client.query(
        `INSERT INTO ${table} (key, fingerprint, lease_until, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING`,
        [reservation.key, reservation.fingerprint, reservation.leaseUntilMs, reservation.expiresAtMs],
      );
      if (inserted.rowCount === 1) return true as const;
      const { rows } = await client.query<IdempotencyRow>(
        `SELECT * FROM ${table} WHERE key = $1 FOR UPDATE`,
        [reservation.key],
      );
      const row = rows[0];
      if (row === undefined) return true as const; // deleted between the two statements: nobody holds it
      const record = recordOfRow(row);
      const takeOver =
        record.expiresAtMs < reservation.nowMs ||
        (record.response === undefined &&
          record.leaseUntilMs < reservation.nowMs &&
          record.fingerprint === reservation.fingerprint);
      if (!takeOver) return record;
      await client.query(
        `UPDATE ${table} SET fingerprint = $2, status = NULL, headers = NULL, body = NULL, lease_until = $3, expires_at = $4 WHERE key = $1`,
        [reservation.key, reservation.fingerprint, reservation.leaseUntilMs, reservation.expiresAtMs],
      );
      return true as const;
    });
  }

  async renew(key: string, fingerprint: string, leaseUntilMs: number): Promise<void> {
    await this.#init();
    await this.#store.query(
      `UPDATE ${table} SET lease_until = $3 WHERE key = $1 AND fingerprint = $2 AND status IS NULL`,
      [key, fingerprint, leaseUntilMs],
    );
  }

  async finalize(key: string, fingerprint: string, response: StoredResponse): Promise<void> {
    await this.#init();
    await this.#store.query(
      `UPDATE ${table} SET status = $3, headers = $4, body = $5 WHERE key = $1 AND fingerprint = $2`,
      [key, fingerprint, response.status, JSON.stringify(response.headers), response.body],
    );
  }

  async release(key: string, fingerprint: string): Promise<void> {
    await this.#init();
    await this.#store.query(`DELETE FROM ${table} WHERE key = $1 AND fingerprint = $2 AND status IS NULL`, [
      key,
      fingerprint,
    ]);
  }

  async get(key: string): Promise<IdempotencyRecord | undefined> {
    await this.#init();
    const { rows } = await this.#store.query<IdempotencyRow>(`SELECT * FROM ${table} WHERE key = $1`, [key]);
    return rows[0] ? recordOfRow(rows[0]) : undefined;
  }

  async purgeExpired(nowMs: number): Promise<number> {
    await this.#init();
    const result = await this.#store.query(`DELETE FROM ${table} WHERE expires_at < $1`, [nowMs]);
    return result.rowCount ?? 0;
  }
}
