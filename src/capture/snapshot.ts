/**
 * The initial snapshot: every captured table read under one snapshot — the one exported by the slot's
 * CREATE_REPLICATION_SLOT, so the rows are exactly the state at the slot's consistent point — by
 * `snapshotMaxThreads` workers, each in its own REPEATABLE READ transaction that imported it with
 * SET TRANSACTION SNAPSHOT. Tables with a primary key are read in keyset chunks (`where (pk) > (last)
 * order by pk limit n`), so progress is "the last key per table" and a crashed snapshot resumes after it.
 *
 * A resumed snapshot cannot re-import the exported snapshot (it died with its connection): it reads
 * the remaining chunks under a fresh snapshot. That is still correct downstream, because the stream
 * replays every change after the consistent point after the snapshot rows (see map.md).
 */
import pg from "pg";
import { decodeTextRow, type Row } from "./envelope.ts";
import { CaptureError } from "./errors.ts";
import type { TypeMappingOptions } from "./pg-types.ts";
import { TypeRegistry } from "./pg-types.ts";
import type { CapturedTable } from "./publication.ts";
import { describeTable, qualifiedName, type TableSchema } from "./relation.ts";
import { quoteIdent, SESSION_OPTIONS } from "./replication-connection.ts";

export interface TableProgress {
  done: boolean;
  /** Text values of the primary key of the last row delivered; null before the first chunk. */
  lastKey: string[] | null;
  rows: number;
}

export interface SnapshotProgress {
  /** The slot's consistent point (X/Y): the stream starts where the snapshot's data ends. */
  consistentPoint: string;
  tables: Record<string, TableProgress>;
}

export interface SnapshotChunk {
  table: TableSchema;
  rows: Row[];
  /** This table's progress including this chunk. */
  progress: TableProgress;
}

export interface SnapshotOptions {
  url: string;
  /** The exported snapshot to import; null when resuming (a fresh snapshot is taken). */
  snapshotName: string | null;
  tables: CapturedTable[];
  progress: SnapshotProgress;
  threads: number;
  fetchSize: number;
  typeOptions: TypeMappingOptions;
  /** Delivers one chunk; the reader waits for it, so a slow downstream slows the snapshot instead of filling memory. */
  onChunk(chunk: SnapshotChunk): Promise<void>;
}

/** A client whose values arrive as PostgreSQL's text output, the same text pgoutput sends. */
export function textClient(url: string): pg.Client {
  return new pg.Client({
    connectionString: url,
    options: SESSION_OPTIONS,
    types: { getTypeParser: () => (value: string) => value },
  });
}

export async function runSnapshot(options: SnapshotOptions): Promise<void> {
  const pending = options.tables.filter((table) => !options.progress.tables[qualifiedName(table)]?.done);
  const workers: Array<{ client: pg.Client; types: TypeRegistry }> = [];
  try {
    // Every worker imports the snapshot before any reads, while the exporting connection stays idle.
    for (let i = 0; i < Math.min(options.threads, Math.max(pending.length, 1)); i++) {
      const client = textClient(options.url);
      await client.connect();
      workers.push({ client, types: new TypeRegistry(client, options.typeOptions) });
      await client.query("begin isolation level repeatable read read only");
      if (options.snapshotName) {
        try {
          await client.query(`set transaction snapshot '${options.snapshotName.replaceAll("'", "''")}'`);
        } catch (error) {
          throw new CaptureError(
            "SNAPSHOT_FAILED",
            `cannot import exported snapshot ${options.snapshotName}: ${String(error)}`,
            {
              cause: error,
            },
          );
        }
      }
    }
    const queue = [...pending];
    await Promise.all(
      workers.map(async (worker) => {
        for (let table = queue.shift(); table; table = queue.shift())
          await snapshotTable(worker.client, worker.types, table, options);
      }),
    );
  } finally {
    for (const worker of workers) {
      await worker.client.query("commit").catch(() => {});
      await worker.client.end().catch(() => {});
    }
  }
}

async function snapshotTable(
  client: pg.Client,
  types: TypeRegistry,
  table: CapturedTable,
  options: SnapshotOptions,
): Promise<void> {
  const name = qualifiedName(table);
  const schema = await describeTable(client, types, table.schema, table.table);
  const progress: TableProgress = {
    ...(options.progress.tables[name] ?? { done: false, lastKey: null, rows: 0 }),
  };
  const columns = schema.columns.map((column) => quoteIdent(column.name)).join(", ");
  const from = `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`;

  if (schema.primaryKey.length === 0) {
    // No key to resume from: the table is read in one pass through a cursor and restarted after a crash.
    progress.rows = 0;
    await client.query(`declare floe_snapshot no scroll cursor for select ${columns} from ${from}`);
    try {
      for (;;) {
        const { rows } = await client.query<string[]>({
          text: `fetch ${options.fetchSize} from floe_snapshot`,
          rowMode: "array",
        });
        progress.rows += rows.length;
        progress.done = rows.length < options.fetchSize;
        await options.onChunk({
          table: schema,
          rows: rows.map((values) => decodeTextRow(schema, values)),
          progress: { ...progress },
        });
        if (progress.done) return;
      }
    } finally {
      await client.query("close floe_snapshot");
    }
  }

  const { rows: keyTypes } = await client.query<{ attname: string; type: string }>(
    `select a.attname, format_type(a.atttypid, a.atttypmod) as type
       from pg_attribute a where a.attrelid = $1::regclass and a.attname = any($2)`,
    [from, schema.primaryKey],
  );
  const keyType = new Map(keyTypes.map((row) => [row.attname, row.type]));
  const keyColumns = schema.primaryKey.map((column) => quoteIdent(column)).join(", ");
  const keyIndexes = schema.primaryKey.map((column) => schema.columns.findIndex((c) => c.name === column));
  const placeholders = schema.primaryKey
    .map((column, index) => `$${index + 1}::${keyType.get(column)}`)
    .join(", ");
  const readChunk = (after: string[] | null) => {
    const where = after ? `where (${keyColumns}) > (${placeholders})` : "";
    const chunk = client.query<Array<string | null>>({
      text: `select ${columns} from ${from} ${where} order by ${keyColumns} limit ${options.fetchSize}`,
      values: after ?? [],
      rowMode: "array",
    });
    chunk.catch(() => {}); // read (or abandoned, when delivery fails) by the loop below
    return chunk;
  };
  let next = readChunk(progress.lastKey);
  for (;;) {
    const { rows } = await next;
    const last = rows[rows.length - 1];
    if (last) progress.lastKey = keyIndexes.map((index) => last[index] ?? "");
    progress.rows += rows.length;
    progress.done = rows.length < options.fetchSize;
    // The next chunk's key is known from the raw rows: the server reads it while this one is decoded.
    if (!progress.done) next = readChunk(progress.lastKey);
    await options.onChunk({
      table: schema,
      rows: rows.map((values) => decodeTextRow(schema, values)),
      progress: { ...progress },
    });
    if (progress.done) return;
  }
}
