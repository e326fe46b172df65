/**
 * Polls until Iceberg tables equal their PostgreSQL sources row by row (both sides through
 * normaliseRows), for the end-to-end tests of capture, sink and replicate. A table that does not exist
 * yet is `undefined`, which never equals PostgreSQL's rows.
 */
import assert from "node:assert/strict";
import type pg from "pg";
import type { Catalog } from "../../src/catalog/catalog.ts";
import { readTable } from "../../src/iceberg/reader.ts";
import { normaliseRows, type Row } from "./rows.ts";

export async function icebergRows(
  catalog: Catalog,
  namespace: string[],
  table: string,
): Promise<Row[] | undefined> {
  const identifier = { namespace, name: table };
  if (!(await catalog.tableExists(identifier))) return undefined;
  return normaliseRows(await readTable(await catalog.loadTable(identifier)));
}

export interface EqualityOptions {
  namespace: string[];
  timeoutMs: number;
  intervalMs?: number;
  /** Appended to the failure (logs, worker state). */
  debug?: () => string;
}

/** `tables`: Iceberg table name → the PostgreSQL query whose rows it must hold. */
export async function waitForEquality(
  sql: pg.Client,
  catalog: Catalog,
  tables: Record<string, string>,
  options: EqualityOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    let mismatch = "";
    for (const [table, query] of Object.entries(tables)) {
      const expected = normaliseRows((await sql.query(query)).rows as Row[]);
      try {
        assert.deepEqual(await icebergRows(catalog, options.namespace, table), expected, table);
      } catch (error) {
        mismatch = (error as Error).message;
        break;
      }
    }
    if (!mismatch) return;
    if (Date.now() > deadline) {
      const debug = options.debug ? `\n${options.debug()}` : "";
      throw new Error(`Iceberg never caught up with PostgreSQL:\n${mismatch}${debug}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 500));
  }
}
