/**
 * Starting `floe serve` from settings: the catalog store (the SQLite file in the data directory, or a
 * PostgreSQL database shared by several replicas), the table buckets,
 * the app, and a listening socket; `close()` stops accepting, finishes requests, and closes the store.
 */
import { join, resolve } from "node:path";
import type { FastifyServerOptions } from "fastify";
import type { FileIoOptions } from "../io/index.ts";
import { buildApp, type FloeApp, REST_PREFIX } from "./app.ts";
import type { AuthSettings } from "./auth/principals.ts";
import { ServerError } from "./errors.ts";
import { MaintenanceScheduler } from "./maintenance-scheduler.ts";
import { PostgresServerStore } from "./store/postgres-store.ts";
import { SqliteServerStore } from "./store/sqlite-store.ts";
import type { ServerStore } from "./store/store.ts";
import { TableBuckets } from "./table-buckets.ts";

export interface ServerSettings {
  /** Holds `catalog.db` and, for buckets without explicit storage, `buckets/<name>/`. */
  dataDir: string;
  /**
   * Where the catalog lives: absent for the SQLite file `<dataDir>/catalog.db`, or a
   * `postgres://` / `postgresql://` URL for a database several servers share.
   */
  catalogStore?: string;
  host: string;
  /** Access keys (SigV4 and OAuth2 client credentials) and/or anonymous access: one of them is required. */
  auth: AuthSettings;
  /** 0 picks a free port. */
  port: number;
  region?: string;
  accountId?: string;
  io?: FileIoOptions;
  /** Parent location of buckets created without explicit storage (`file://<dataDir>/buckets` by default). */
  storageRoot?: string;
  logger?: FastifyServerOptions["logger"];
  bodyLimitBytes?: number;
  defaultBucket?: string;
  /** Automatic maintenance every this many ms (0 or absent: off). */
  maintenanceIntervalMs?: number;
  /** Idempotency-Key reuse window in seconds (default 1800; 0 = Idempotency-Key not honoured). */
  idempotencyKeyLifetimeSeconds?: number;
  /** Serialized table metadata kept for loadTable (default 64 MiB; 0 = off). */
  loadTableCacheBytes?: number;
}

export interface RunningServer extends FloeApp {
  buckets: TableBuckets;
  maintenance: MaintenanceScheduler;
  /** `http://host:port` */
  url: string;
  /** The Iceberg REST catalog's base URI: `http://host:port/iceberg`. */
  catalogUri: string;
  close(): Promise<void>;
}

/** True for the catalog-store settings that name a PostgreSQL database. */
export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value);
}

/** The store the settings name: PostgreSQL for a `postgres://` URL, else the data directory's SQLite file. */
export function openServerStore(settings: Pick<ServerSettings, "dataDir" | "catalogStore">): ServerStore {
  if (settings.catalogStore) {
    if (!isPostgresUrl(settings.catalogStore)) {
      throw new ServerError(
        "BAD_REQUEST",
        "the catalog store must be a postgres:// or postgresql:// URL (leave it unset for the SQLite file in the data directory)",
      );
    }
    return new PostgresServerStore({ url: settings.catalogStore });
  }
  return new SqliteServerStore({ path: join(resolve(settings.dataDir), "catalog.db") });
}

export function openTableBuckets(
  settings: Pick<ServerSettings, "dataDir" | "catalogStore" | "region" | "accountId" | "io" | "storageRoot">,
) {
  const dataDir = resolve(settings.dataDir);
  const store = openServerStore(settings);
  try {
    return new TableBuckets({
      store,
      dataDir,
      ...(settings.region ? { region: settings.region } : {}),
      ...(settings.accountId ? { accountId: settings.accountId } : {}),
      ...(settings.io ? { io: settings.io } : {}),
      ...(settings.storageRoot ? { storageRoot: settings.storageRoot } : {}),
    });
  } catch (error) {
    // A storage root Floe cannot use: don't leave the store open behind the error.
    store.close().catch(() => {});
    throw error;
  }
}

export async function startServer(settings: ServerSettings): Promise<RunningServer> {
  const buckets = openTableBuckets(settings);
  let floe: FloeApp;
  try {
    // Fails fast on a catalog database that cannot be reached or opened (PostgreSQL connects lazily).
    await buckets.store.ping();
    floe = await buildApp({
      buckets,
      auth: settings.auth,
      ...(settings.logger !== undefined ? { logger: settings.logger } : {}),
      ...(settings.bodyLimitBytes ? { bodyLimitBytes: settings.bodyLimitBytes } : {}),
      ...(settings.defaultBucket ? { defaultBucket: settings.defaultBucket } : {}),
      ...(settings.idempotencyKeyLifetimeSeconds !== undefined
        ? { idempotencyKeyLifetimeSeconds: settings.idempotencyKeyLifetimeSeconds }
        : {}),
      ...(settings.loadTableCacheBytes !== undefined
        ? { loadTableCacheBytes: settings.loadTableCacheBytes }
        : {}),
    });
    await floe.app.listen({ host: settings.host, port: settings.port });
  } catch (error) {
    buckets.close();
    await buckets.store.close();
    throw error;
  }
  const maintenance = new MaintenanceScheduler({
    buckets,
    intervalMs: settings.maintenanceIntervalMs ?? 0,
    log: floe.app.log,
  });
  maintenance.start();
  const address = floe.app.server.address();
  const port = typeof address === "object" && address ? address.port : settings.port;
  const host = settings.host.includes(":") ? `[${settings.host}]` : settings.host;
  const url = `http://${host}:${port}`;
  return {
    ...floe,
    buckets,
    url,
    catalogUri: `${url}${REST_PREFIX}`,
    maintenance,
    close: async () => {
      await maintenance.stop();
      await floe.app.close();
      buckets.close();
      await buckets.store.close();
    },
  };
}
