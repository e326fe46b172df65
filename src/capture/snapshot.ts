/**
 * The initial snapshot: every captured table read under one snapshot — the one exported by the slot's
 * CREATE_REPLICATION_SLOT, so the rows are exactly the state at the slot's consistent point — by
 * `snapshotMaxThreads` workers, each in its own REPEATABLE READ transaction that imported it with
 * SET TRANSACTION SNAPSHOT. Tables with a primary key are read in keyset chunks (`where (pk) > (last)
 * order by pk limit n`), so progress is "the last key per table" and a crashed snapshot resumes after it.
 *
 * Rows arrive as `COPY (…) TO STDOUT` text (copy-out.ts, copy-text.ts): the types' text output, the same
 * text pgoutput sends, so every value goes through the stream's own conversion (row-decoder.ts,
 * pg-types.ts) and a snapshot row and a streamed row of the same values are equal. COPY costs the
 * server what the query costs; the client splits the rows' bytes itself instead of building pg's
 * per-row result objects, which was a quarter of the snapshot's time.
 *
 * A resumed snapshot cannot re-import the exported snapshot (it died with its connection): it reads
 * the remaining chunks under a fresh snapshot. That is still correct downstream, because the stream
 * replays every change after the consistent point after the snapshot rows (see map.md).
 */
import pg from "pg";
import { type CopyOut, copyOut } from "./copy-out.ts";
import { CopyTextReader } from "./copy-text.ts";
import { CaptureError } from "./errors.ts";
import type { TypeMappingOptions } from "./pg-types.ts";
import { TypeRegistry } from "./pg-types.ts";
import type { CapturedTable } from "./publication.ts";
import { describeTable, qualifiedName, type TableSchema } from "./relation.ts";
import { quoteIdent, SESSION_OPTIONS } from "./replication-connection.ts";
import { type Row, textRowDecoder } from "./row-decoder.ts";

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

/** A batch of rows handed downstream: at most max.batch.size rows, which may span two keyset queries. */
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
  /** Rows per keyset query (Debezium's snapshot.fetch.size). */
  fetchSize: number;
  /** Rows per delivered chunk (Debezium's max.batch.size), at most fetchSize. */
  batchSize: number;
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
    // Ending the connection ends its read-only transaction; a read still running (delivery failed
    // while the next chunk was being read) is cut off instead of being waited for.
    for (const worker of workers) await worker.client.end().catch(() => {});
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
  const batchSize = Math.max(1, Math.min(options.batchSize, options.fetchSize));
  const keyIndexes = schema.primaryKey.map((column) => schema.columns.findIndex((c) => c.name === column));

  // Rows are delivered in batches as they are decoded; each batch's progress is the key of its last
  // row, so a batch may end inside a query's rows or span two. The COPY stream is not read while a
  // batch is delivered: a slow downstream holds the server back instead of filling memory.
  let batch: Row[] = [];
  let ready: Array<{ rows: Row[]; lastKey: string[] | null }> = [];
  const key: string[] = keyIndexes.map(() => "");
  const decodeRow = textRowDecoder(schema);
  const reader = new CopyTextReader(schema.columns.length, (fields) => {
    batch.push(decodeRow(fields));
    for (let index = 0; index < keyIndexes.length; index++)
      key[index] = fields[keyIndexes[index] as number] ?? "";
    if (batch.length === batchSize) {
      ready.push({ rows: batch, lastKey: keyIndexes.length > 0 ? [...key] : null });
      batch = [];
    }
  });
  const deliver = async (rows: Row[], lastKey: string[] | null, done: boolean) => {
    if (lastKey) progress.lastKey = lastKey;
    progress.rows += rows.length;
    progress.done = done;
    await options.onChunk({ table: schema, rows, progress: { ...progress } });
  };
  const read = async (copy: CopyOut) => {
    for await (const bytes of copy) {
      reader.push(bytes);
      const batches = ready;
      ready = [];
      for (const { rows, lastKey } of batches) await deliver(rows, lastKey, false);
    }
    reader.end();
  };

  if (keyIndexes.length === 0) {
    // No key to resume from: the table is read in one pass and restarted after a crash.
    progress.rows = 0;
    await read(copyOut(client, `select ${columns} from ${from}`));
    await deliver(batch, null, true);
    return;
  }

  const { rows: keyTypes } = await client.query<{ attname: string; type: string }>(
    `select a.attname, format_type(a.atttypid, a.atttypmod) as type
       from pg_attribute a where a.attrelid = $1::regclass and a.attname = any($2)`,
    [from, schema.primaryKey],
  );
  const keyType = new Map(keyTypes.map((row) => [row.attname, row.type]));
  const keyColumns = schema.primaryKey.map((column) => quoteIdent(column)).join(", ");
  // COPY takes no parameters: the last key goes in as literals of its text output, which the key type's
  // input function reads back to the same value under the session's settings (SESSION_OPTIONS).
  const after = (lastKey: string[]) =>
    `where (${keyColumns}) > (${schema.primaryKey
      .map((column, index) => `${client.escapeLiteral(lastKey[index] ?? "")}::${keyType.get(column)}`)
      .join(", ")})`;
  const chunk = (lastKey: string[] | null) =>
    copyOut(
      client,
      `select ${columns} from ${from} ${lastKey ? after(lastKey) : ""} order by ${keyColumns} limit ${options.fetchSize}`,
    );
  // Keyset queries of fetchSize rows each; a short one is the table's end. The next query goes out as
  // soon as the server has sent a query's last row (its key read from that row alone), so the server
  // works on it while the rows before are still being decoded and delivered.
  const keyOfRow = (row: Buffer): string[] => {
    let rowKey: string[] = [];
    new CopyTextReader(schema.columns.length, (fields) => {
      rowKey = keyIndexes.map((index) => fields[index] ?? "");
    }).push(row);
    return rowKey;
  };
  let copy = chunk(progress.lastKey);
  for (;;) {
    const next = copy.completed.then(({ rows, lastRow }) =>
      rows < options.fetchSize || !lastRow ? null : chunk(keyOfRow(lastRow)),
    );
    next.catch(() => {}); // its error is the one `read` throws
    await read(copy);
    const following = await next;
    if (!following) break;
    copy = following;
  }
  await deliver(batch, batch.length > 0 ? [...key] : null, true);
}
