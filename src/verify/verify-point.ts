/**
 * The verify point: a PostgreSQL snapshot at an exact LSN. A temporary logical replication slot
 * (pgoutput) created with EXPORT_SNAPSHOT has a consistent point C: every transaction that committed
 * before C is visible in the exported snapshot and none after it, and the slot decodes exactly the
 * transactions committed from C on (the technique src/capture/snapshot.ts uses for the initial
 * snapshot). This module sets that up — a publication for the one table (created *before* the slot, so
 * the slot's historic catalog sees it from C on), the slot, and a REPEATABLE READ transaction that
 * imported the snapshot — reads the table's rows at C, and looks rows up at C later (the transaction
 * stays open until `close()`).
 *
 * Identifiers never reach SQL unquoted: names are parsed here (plain or double-quoted identifiers),
 * looked up with bind parameters and quoted with `quoteIdent`. Cleanup always runs: the slot is
 * temporary (dropped when its connection ends, which `close()` makes sure of) and the publication, when
 * verify created it, is dropped.
 */
import { randomBytes } from "node:crypto";
import type pg from "pg";
import { decodeTextRow } from "../capture/envelope.ts";
import type { EventValue } from "../capture/index.ts";
import { type Lsn, parseLsn } from "../capture/lsn.ts";
import { type TypeMappingOptions, TypeRegistry } from "../capture/pg-types.ts";
import { checkServer, type ServerInfo } from "../capture/publication.ts";
import { describeTable, type TableSchema } from "../capture/relation.ts";
import { quoteIdent, ReplicationConnection } from "../capture/replication-connection.ts";
import { textClient } from "../capture/snapshot.ts";
import { VerifyError } from "./errors.ts";

/** The type mapping `floe replicate` uses by default (capture's defaults). */
export const DEFAULT_TYPE_OPTIONS: TypeMappingOptions = {
  decimalHandlingMode: "precise",
  intervalHandlingMode: "numeric",
  unknownTypes: "error",
};

export interface SourceTableName {
  schema: string;
  table: string;
}

/** PostgreSQL's limit on identifier length (NAMEDATALEN − 1 bytes); longer names would be truncated. */
const MAX_IDENTIFIER_BYTES = 63;

/**
 * `table`, `schema.table`, `"My Schema"."odd.name"`: identifiers as PostgreSQL reads them (unquoted
 * ones folded to lower case). Anything else is IDENTIFIER_INVALID, before any SQL runs.
 */
export function parseSourceTable(text: string): SourceTableName {
  const parts: string[] = [];
  let position = 0;
  const fail = (why: string): never => {
    throw new VerifyError(
      "IDENTIFIER_INVALID",
      `source table ${JSON.stringify(text)} ${why}; write table, schema.table or "Quoted Schema"."Quoted Table"`,
    );
  };
  while (position <= text.length) {
    let part: string;
    if (text[position] === '"') {
      let end = position + 1;
      part = "";
      for (;;) {
        if (end >= text.length) fail("has an unterminated quoted identifier");
        if (text[end] === '"') {
          if (text[end + 1] === '"') {
            part += '"';
            end += 2;
            continue;
          }
          break;
        }
        part += text[end];
        end++;
      }
      position = end + 1;
      if (part === "") fail("has an empty quoted identifier");
    } else {
      const match = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(text.slice(position));
      if (!match) fail(`has an invalid identifier at position ${position + 1}`);
      part = (match as RegExpExecArray)[0].toLowerCase();
      position += part.length;
    }
    if (part.includes("\0")) fail("contains a NUL character");
    if (Buffer.byteLength(part) > MAX_IDENTIFIER_BYTES)
      fail(`has a name longer than ${MAX_IDENTIFIER_BYTES} bytes`);
    parts.push(part);
    if (position === text.length) break;
    if (text[position] !== ".") fail(`has ${JSON.stringify(text[position])} where a dot or the end belongs`);
    position++;
  }
  if (parts.length === 1) return { schema: "public", table: parts[0]! };
  if (parts.length === 2) return { schema: parts[0]!, table: parts[1]! };
  return fail("has more than two parts");
}

export function formatSourceTable(name: SourceTableName): string {
  const plain = (part: string) => (/^[a-z_][a-z0-9_$]*$/.test(part) ? part : quoteIdent(part));
  return `${plain(name.schema)}.${plain(name.table)}`;
}

export interface VerifyPointOptions {
  pgUrl: string;
  source: SourceTableName;
  /** An existing publication that publishes the table; by default verify creates (and drops) its own. */
  publication?: string;
  typeOptions?: TypeMappingOptions;
}

export interface VerifyPoint {
  /** C: the slot's consistent point. The snapshot holds every transaction committed before it. */
  consistentPoint: Lsn;
  slotName: string;
  /** The publication the slot is streamed with. */
  publicationName: string;
  server: ServerInfo;
  /** The table at C (columns, primary key, the type mapping of each column). */
  table: TableSchema;
  /** The replication connection holding the slot; idle until the roll-forward streams it. */
  replication: ReplicationConnection;
  /** A connection for catalog lookups and heartbeats (not in the snapshot). */
  sql: pg.Client;
  typeOptions: TypeMappingOptions;
  /** Streams the table's rows at C in batches of capture's event values. */
  readRows(batchRows: number): AsyncGenerator<Array<Record<string, EventValue>>>;
  /** Rows at C whose primary key equals one of `keys` (each the key columns' PostgreSQL text). */
  rowsAtPoint(keys: ReadonlyArray<ReadonlyArray<string>>): Promise<Array<Record<string, EventValue>>>;
  /** Ends the snapshot transaction, drops the slot (closes its connection) and the publication. */
  close(): Promise<void>;
}

export async function openVerifyPoint(options: VerifyPointOptions): Promise<VerifyPoint> {
  const { source } = options;
  const typeOptions = options.typeOptions ?? DEFAULT_TYPE_OPTIONS;
  const sourceName = formatSourceTable(source);
  const qualified = `${quoteIdent(source.schema)}.${quoteIdent(source.table)}`;
  // The creation time in the name lets a later verify tell a killed run's publication from a live one.
  const suffix = `${Math.floor(Date.now() / 1000).toString(36)}_${randomBytes(6).toString("hex")}`;
  const slotName = `${VERIFY_PREFIX}${suffix}`;
  const cleanups: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    cleanups.length = 0;
  };

  const sql = textClient(options.pgUrl);
  await connectOrExplain(sql, options.pgUrl);
  cleanups.push(() => sql.end());
  try {
    const server = await checkServer(sql);
    const { rows: found } = await sql.query<{ relkind: string; relispartition: string }>(
      `select c.relkind, c.relispartition::text as relispartition
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p')`,
      [source.schema, source.table],
    );
    const relation = found[0];
    if (!relation)
      throw new VerifyError(
        "SOURCE_NOT_FOUND",
        `PostgreSQL has no table ${sourceName} in this database; name the mirrored table with --source-table schema.table`,
      );
    if (relation.relispartition === "true")
      throw new VerifyError(
        "SOURCE_NOT_FOUND",
        `${sourceName} is a partition; floe replicate mirrors the partitioned (root) table — verify that one`,
      );

    let publicationName = options.publication;
    if (publicationName !== undefined) {
      const { rows } = await sql.query(
        "select 1 from pg_publication_tables where pubname = $1 and schemaname = $2 and tablename = $3",
        [publicationName, source.schema, source.table],
      );
      if (rows.length === 0)
        throw new VerifyError(
          "PUBLICATION_INVALID",
          `publication ${JSON.stringify(publicationName)} does not exist or does not publish ${sourceName}; leave --publication out to let verify create a temporary one`,
        );
    } else {
      await dropStalePublications(sql);
      publicationName = slotName;
      const name = publicationName;
      try {
        await sql.query(
          `create publication ${quoteIdent(name)} for table ${qualified} with (publish_via_partition_root = true)`,
        );
      } catch (error) {
        throw new VerifyError(
          "SETUP_FAILED",
          `cannot create the temporary publication ${name} for ${sourceName} (${messageOf(error)}); the role must own the table, or name an existing publication of it with --publication`,
          { cause: error },
        );
      }
      cleanups.push(async () => {
        await sql.query(`drop publication if exists ${quoteIdent(name)}`);
      });
    }

    const replication = await ReplicationConnection.connect(options.pgUrl);
    cleanups.push(async () => {
      await replication.close();
      await waitForSlotGone(sql, slotName);
    });
    let created: { consistent_point: string; snapshot_name: string | null } | undefined;
    try {
      [created] = await replication.query<{ consistent_point: string; snapshot_name: string | null }>(
        `CREATE_REPLICATION_SLOT ${quoteIdent(slotName)} TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT`,
      );
    } catch (error) {
      throw new VerifyError(
        "SETUP_FAILED",
        `cannot create the temporary replication slot ${slotName} (${messageOf(error)}); verify needs a free slot (max_replication_slots) and the REPLICATION attribute`,
        { cause: error },
      );
    }
    if (!created?.snapshot_name)
      throw new VerifyError("SETUP_FAILED", `CREATE_REPLICATION_SLOT ${slotName} exported no snapshot`);

    // The exported snapshot lives until the replication connection's next command: import it first.
    const reader = textClient(options.pgUrl);
    await connectOrExplain(reader, options.pgUrl);
    cleanups.push(async () => {
      await reader.query("commit").catch(() => {});
      await reader.end();
    });
    try {
      await reader.query("begin isolation level repeatable read read only");
      await reader.query(`set transaction snapshot '${created.snapshot_name.replaceAll("'", "''")}'`);
    } catch (error) {
      throw new VerifyError(
        "SETUP_FAILED",
        `cannot import the slot's snapshot ${created.snapshot_name}: ${messageOf(error)}`,
        { cause: error },
      );
    }
    const table = await describeTable(
      reader,
      new TypeRegistry(reader, typeOptions),
      source.schema,
      source.table,
    );
    const columnList = table.columns.map((column) => quoteIdent(column.name)).join(", ");

    let keyTypes: string[] | undefined;
    const rowsAtPoint = async (keys: ReadonlyArray<ReadonlyArray<string>>) => {
      if (keys.length === 0 || table.primaryKey.length === 0) return [];
      if (!keyTypes) {
        const { rows } = await reader.query<{ attname: string; type: string }>(
          `select a.attname, format_type(a.atttypid, a.atttypmod) as type
             from pg_attribute a where a.attrelid = $1 and a.attnum > 0 and not a.attisdropped`,
          [table.relationOid],
        );
        const byName = new Map(rows.map((row) => [row.attname, row.type]));
        keyTypes = table.primaryKey.map((name) => byName.get(name) ?? "text");
      }
      const types = keyTypes;
      const keyColumns = table.primaryKey.map((name) => quoteIdent(name)).join(", ");
      const out: Array<Record<string, EventValue>> = [];
      const chunk = Math.max(1, Math.floor(1000 / types.length));
      for (let start = 0; start < keys.length; start += chunk) {
        const slice = keys.slice(start, start + chunk);
        const values: string[] = [];
        const tuples = slice.map((key) => {
          const placeholders = key.map((part, index) => {
            values.push(part);
            // format_type output is a type name PostgreSQL printed itself (e.g. `character varying(20)`).
            return `$${values.length}::${types[index]}`;
          });
          return `(${placeholders.join(", ")})`;
        });
        const { rows } = await reader.query<Array<string | null>>({
          text: `select ${columnList} from ${qualified} where (${keyColumns}) in (${tuples.join(", ")})`,
          values,
          rowMode: "array",
        });
        for (const row of rows) out.push(decodeTextRow(table, row));
      }
      return out;
    };

    async function* readRows(batchRows: number): AsyncGenerator<Array<Record<string, EventValue>>> {
      await reader.query(`declare floe_verify no scroll cursor for select ${columnList} from ${qualified}`);
      try {
        for (;;) {
          const { rows } = await reader.query<Array<string | null>>({
            text: `fetch ${Math.max(1, Math.floor(batchRows))} from floe_verify`,
            rowMode: "array",
          });
          if (rows.length > 0) yield rows.map((values) => decodeTextRow(table, values));
          if (rows.length < batchRows) return;
        }
      } finally {
        await reader.query("close floe_verify").catch(() => {});
      }
    }

    return {
      consistentPoint: parseLsn(created.consistent_point),
      slotName,
      publicationName,
      server,
      table,
      replication,
      sql,
      typeOptions,
      readRows,
      rowsAtPoint,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

async function connectOrExplain(client: pg.Client, url: string): Promise<void> {
  try {
    await client.connect();
  } catch (error) {
    throw new VerifyError(
      "SETUP_FAILED",
      `cannot connect to PostgreSQL at ${safeUrl(url)}: ${messageOf(error)}`,
      {
        cause: error,
      },
    );
  }
}

/** A temporary slot goes with its connection; make sure the walsender has let go of it. */
const VERIFY_PREFIX = "floe_verify_";
/** A publication of a verify whose slot is gone for this long was left by a killed run. */
export const STALE_VERIFY_PUBLICATION_MS = 60 * 60 * 1000;

/**
 * Drops publications that killed verify runs left behind: named `floe_verify_<created, base36 s>_<hex>`,
 * created more than an hour ago, with no replication slot of the same name (a running verify holds its
 * temporary slot from a few seconds after creating the publication until it drops both). Names
 * without a creation time (verify before 0.1) are left alone. Best effort: a role that cannot drop
 * them only leaves them.
 */
export async function dropStalePublications(sql: pg.Client, now = Date.now()): Promise<string[]> {
  const { rows } = await sql.query<{ pubname: string }>(
    `select p.pubname from pg_publication p
      where p.pubname ~ '^floe_verify_[0-9a-z]+_[0-9a-f]{12}$'
        and not exists (select 1 from pg_replication_slots s where s.slot_name = p.pubname)`,
  );
  const dropped: string[] = [];
  for (const { pubname } of rows) {
    const created = Number.parseInt(pubname.slice(VERIFY_PREFIX.length).split("_")[0] ?? "", 36) * 1000;
    if (!Number.isFinite(created) || now - created < STALE_VERIFY_PUBLICATION_MS) continue;
    try {
      await sql.query(`drop publication if exists ${quoteIdent(pubname)}`);
      dropped.push(pubname);
    } catch {
      // Not ours to drop (another owner): leave it.
    }
  }
  return dropped;
}

async function waitForSlotGone(sql: pg.Client, slotName: string): Promise<void> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const { rows } = await sql.query<{ active_pid: string | null }>(
      "select active_pid::text as active_pid from pg_replication_slots where slot_name = $1",
      [slotName],
    );
    const row = rows[0];
    if (!row) return;
    if (row.active_pid === null) {
      await sql.query("select pg_drop_replication_slot($1)", [slotName]).catch(() => {});
      return;
    }
    if (attempt === 39) {
      // Our own walsender (the slot name is ours alone) did not end with its connection.
      await sql.query("select pg_terminate_backend($1::int)", [row.active_pid]).catch(() => {});
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = "";
    return parsed.toString();
  } catch {
    return "(the --source URL)";
  }
}
