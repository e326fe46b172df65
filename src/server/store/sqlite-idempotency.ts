/**
 * Idempotency keys in the embedded SQLite catalog file: one `idempotency_keys` table beside the catalog's
 * tables (created here on first use; older Floe versions simply ignore it). A reservation is one
 * `BEGIN IMMEDIATE` transaction, so it is atomic also against another process on the same file.
 */
import {
  type IdempotencyRecord,
  type IdempotencyRow,
  type IdempotencyStore,
  type Reservation,
  recordOfRow,
  type StoredResponse,
} from "./idempotency-store.ts";
import type { SqliteServerStore } from "./sqlite-store.ts";

const ddl = `
CREATE TABLE IF NOT EXISTS idempotency_keys (
  key TEXT PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  status INTEGER,
  headers TEXT,
  body BLOB,
  lease_until INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_keys_by_expiry ON idempotency_keys(expires_at);
`;

export class SqliteIdempotencyStore implements IdempotencyStore {
  readonly #owner: SqliteServerStore;
  #ready = false;

  constructor(owner: SqliteServerStore) {
    this.#owner = owner;
  }

  get #db() {
    if (!this.#ready) {
      this.#owner.db.exec(ddl);
      this.#ready = true;
    }
    return this.#owner.db;
  }

  async reserve(reservation: Reservation): Promise<true | IdempotencyRecord> {
    const db = this.#db;
    return this.#owner.immediate(() => {
      const row = db.prepare("SELECT * FROM idempotency_keys WHERE key = ?").get(reservation.key) as
        | IdempotencyRow
        | undefined;
      const takeOver =
        row !== undefined &&
        (Number(row.expires_at) < reservation.nowMs ||
          (row.status === null &&
            Number(row.lease_until) < reservation.nowMs &&
            row.fingerprint === reservation.fingerprint));
      if (row !== undefined && !takeOver) return recordOfRow(row);
      db.prepare(
        "INSERT INTO idempotency_keys (key, fingerprint, status, headers, body, lease_until, expires_at) " +
          "VALUES (?, ?, NULL, NULL, NULL, ?, ?) ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, " +
          "status = NULL, headers = NULL, body = NULL, lease_until = excluded.lease_until, expires_at = excluded.expires_at",
      ).run(reservation.key, reservation.fingerprint, reservation.leaseUntilMs, reservation.expiresAtMs);
      return true as const;
    });
  }

  async renew(key: string, fingerprint: string, leaseUntilMs: number): Promise<void> {
    this.#db
      .prepare(
        "UPDATE idempotency_keys SET lease_until = ? WHERE key = ? AND fingerprint = ? AND status IS NULL",
      )
      .run(leaseUntilMs, key, fingerprint);
  }

  async finalize(key: string, fingerprint: string, response: StoredResponse): Promise<void> {
    this.#db
      .prepare(
        "UPDATE idempotency_keys SET status = ?, headers = ?, body = ? WHERE key = ? AND fingerprint = ?",
      )
      .run(response.status, JSON.stringify(response.headers), response.body, key, fingerprint);
  }

  async release(key: string, fingerprint: string): Promise<void> {
    this.#db
      .prepare("DELETE FROM idempotency_keys WHERE key = ? AND fingerprint = ? AND status IS NULL")
      .run(key, fingerprint);
  }

  async get(key: string): Promise<IdempotencyRecord | undefined> {
    const row = this.#db.prepare("SELECT * FROM idempotency_keys WHERE key = ?").get(key) as
      | IdempotencyRow
      | undefined;
    return row ? recordOfRow(row) : undefined;
  }

  async purgeExpired(nowMs: number): Promise<number> {
    return this.#db.prepare("DELETE FROM idempotency_keys WHERE expires_at < ?").run(nowMs).changes;
  }
}
