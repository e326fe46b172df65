/**
 * Pre-flight checks and the publication: the server can do logical decoding (wal_level, version), the
 * role may replicate and read the tables, the include list names real tables, and the publication
 * exists as `publication.autocreate.mode` asks (all_tables | filtered | disabled), always with
 * `publish_via_partition_root` so a partitioned table's changes arrive under the root table.
 */
import type pg from "pg";
import type { CaptureConfig } from "./config.ts";
import { CaptureError } from "./errors.ts";
import { quoteIdent } from "./replication-connection.ts";

export interface CapturedTable {
  schema: string;
  table: string;
}

export interface ServerInfo {
  versionNum: number;
  /** pgoutput protocol version: 2 (streaming of in-progress transactions) from PostgreSQL 14, else 1. */
  protocolVersion: 1 | 2;
  supportsMessages: boolean;
}

export async function checkServer(sql: pg.Client): Promise<ServerInfo> {
  const { rows } = await sql.query<{
    version: string;
    wal_level: string;
    can_replicate: boolean | string;
    rolname: string;
  }>(
    `select current_setting('server_version_num') as version, current_setting('wal_level') as wal_level,
            (r.rolreplication or r.rolsuper) as can_replicate, r.rolname
       from pg_roles r where r.rolname = current_user`,
  );
  const row = rows[0];
  if (!row) throw new CaptureError("PERMISSION_DENIED", "cannot read the current role from pg_roles");
  const versionNum = Number(row.version);
  if (versionNum < 100000)
    throw new CaptureError(
      "SERVER_TOO_OLD",
      `PostgreSQL ${versionNum} has no pgoutput; Floe needs PostgreSQL 10 or newer`,
    );
  if (row.wal_level !== "logical")
    throw new CaptureError(
      "WAL_LEVEL_NOT_LOGICAL",
      `wal_level is "${row.wal_level}", logical decoding needs "logical"; run ALTER SYSTEM SET wal_level = logical and restart PostgreSQL`,
    );
  if (!isTrue(row.can_replicate))
    throw new CaptureError(
      "PERMISSION_DENIED",
      `role "${row.rolname}" may not use replication slots; run ALTER ROLE "${row.rolname}" WITH REPLICATION`,
    );
  return {
    versionNum,
    protocolVersion: versionNum >= 140000 ? 2 : 1,
    supportsMessages: versionNum >= 140000,
  };
}

/** The tables to capture: ordinary and partitioned root tables, filtered by the include/exclude lists. */
export async function resolveTables(sql: pg.Client, config: CaptureConfig): Promise<CapturedTable[]> {
  const { rows } = await sql.query<{ schema: string; table: string }>(
    `select n.nspname as schema, c.relname as table
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and not c.relispartition
        and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
      order by 1, 2`,
  );
  const matcher = (pattern: string) => new RegExp(`^(?:${pattern})$`, "i");
  const include = config.tableIncludeList?.map((pattern) => ({ pattern, regex: matcher(pattern) }));
  const exclude = config.tableExcludeList?.map(matcher) ?? [];
  const name = (row: CapturedTable) => `${row.schema}.${row.table}`;
  if (include) {
    const unmatched = include.filter(({ regex }) => !rows.some((row) => regex.test(name(row))));
    if (unmatched.length > 0)
      throw new CaptureError(
        "TABLE_NOT_FOUND",
        `table.include.list names ${unmatched.map(({ pattern }) => `"${pattern}"`).join(", ")}, which matches no table in the database; entries are schema.table (regular expressions), e.g. public.orders`,
      );
  }
  const tables = rows.filter(
    (row) =>
      (!include || include.some(({ regex }) => regex.test(name(row)))) &&
      !exclude.some((regex) => regex.test(name(row))),
  );
  const { rows: unreadable } = await sql.query<{ name: string }>(
    "select t.name from unnest($1::text[]) as t(name) where not has_table_privilege(t.name::regclass, 'SELECT')",
    [tables.map((table) => `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`)],
  );
  if (unreadable.length > 0)
    throw new CaptureError(
      "PERMISSION_DENIED",
      `the capture role cannot SELECT ${unreadable.map((row) => row.name).join(", ")}; GRANT SELECT ON those tables (the snapshot reads them)`,
    );
  return tables;
}

/** Creates or updates the publication as the autocreate mode says; `disabled` only checks that it exists. */
export async function ensurePublication(
  sql: pg.Client,
  config: CaptureConfig,
  tables: CapturedTable[],
): Promise<void> {
  const name = config.publicationName;
  const { rows } = await sql.query<{ puballtables: boolean; pubviaroot: boolean | string }>(
    "select puballtables, pubviaroot from pg_publication where pubname = $1",
    [name],
  );
  const existing = rows[0];
  const tableList = tables
    .map((table) => `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`)
    .join(", ");
  try {
    switch (config.publicationAutocreateMode) {
      case "disabled":
        if (!existing)
          throw new CaptureError(
            "PUBLICATION_MISSING",
            `publication "${name}" does not exist and publication.autocreate.mode is disabled; create it (CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ... WITH (publish_via_partition_root = true)) or choose filtered`,
          );
        return;
      case "all_tables":
        if (!existing)
          await sql.query(
            `create publication ${quoteIdent(name)} for all tables with (publish_via_partition_root = true)`,
          );
        return;
      case "filtered":
        if (tables.length === 0)
          throw new CaptureError(
            "TABLE_NOT_FOUND",
            "no table matches table.include.list / table.exclude.list; nothing to capture",
          );
        if (!existing) {
          await sql.query(
            `create publication ${quoteIdent(name)} for table ${tableList} with (publish_via_partition_root = true)`,
          );
        } else {
          await sql.query(`alter publication ${quoteIdent(name)} set table ${tableList}`);
          if (!isTrue(existing.pubviaroot))
            await sql.query(`alter publication ${quoteIdent(name)} set (publish_via_partition_root = true)`);
        }
        return;
    }
  } catch (error) {
    if (error instanceof CaptureError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new CaptureError(
      "PERMISSION_DENIED",
      `cannot create or alter publication "${name}" (${message}); the capture role must own the tables (or be superuser), or create the publication yourself and set publication.autocreate.mode=disabled`,
      { cause: error },
    );
  }
}

export interface SlotState {
  exists: boolean;
  active: boolean;
  activePid: number | null;
  confirmedFlushLsn: string | null;
  plugin: string | null;
}

export async function slotState(sql: pg.Client, slotName: string): Promise<SlotState> {
  const { rows } = await sql.query<{
    active: boolean;
    active_pid: number | null;
    confirmed_flush_lsn: string | null;
    plugin: string;
    database: string;
  }>(
    "select active, active_pid, confirmed_flush_lsn::text, plugin, database from pg_replication_slots where slot_name = $1",
    [slotName],
  );
  const row = rows[0];
  if (!row) return { exists: false, active: false, activePid: null, confirmedFlushLsn: null, plugin: null };
  return {
    exists: true,
    active: isTrue(row.active),
    activePid: row.active_pid === null ? null : Number(row.active_pid),
    confirmedFlushLsn: row.confirmed_flush_lsn,
    plugin: row.plugin,
  };
}

/** Bytes of WAL the slot holds back: the server's current WAL position minus the slot's confirmed flush. */
export async function slotLagBytes(sql: pg.Client, slotName: string): Promise<number | null> {
  const { rows } = await sql.query<{ lag: string | null }>(
    "select pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text as lag from pg_replication_slots where slot_name = $1",
    [slotName],
  );
  const lag = rows[0]?.lag;
  return lag === undefined || lag === null ? null : Number(lag);
}

/** Booleans read through the capture's text-only client arrive as "t"/"f". */
function isTrue(value: unknown): boolean {
  return value === true || value === "t";
}
