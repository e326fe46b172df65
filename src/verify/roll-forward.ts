/**
 * Rolling the PostgreSQL image forward from the verify point C to the lake's position P: the temporary
 * slot is streamed from C with pgoutput (capture's decoder, relation tracking and type mapping) and the
 * table's inserts, updates, deletes and truncates of every transaction with commit LSN ≤ P's LSN are
 * collected into a {@link RollForwardWindow}: per key the newest row (as its hash parts) or "deleted",
 * for a table without a key the change of each row hash's count. The window is what is then applied to
 * the image (src/verify/hash-image.ts), so the stream never touches the image row by row.
 *
 * The stream ends at the first transaction that began after P, a heartbeat message past P (verify emits
 * one after reading S, so it always comes), or a keepalive past P — each proves every transaction up to
 * P has been sent. No transaction is streamed in progress (pgoutput sends each at its commit).
 *
 * An update that leaves a TOASTed column unchanged does not send it: the column keeps its previous value,
 * taken from the window when the key changed earlier in it, else from the row at C, which the verify
 * point's snapshot transaction looks up at the end (batched, only for those keys).
 *
 * Memory: proportional to the keys changed between C and P (the pipeline's lag), not to the table.
 */

import { decodeTuple } from "../capture/envelope.ts";
import type { EventValue } from "../capture/index.ts";
import { formatLsn, type Lsn } from "../capture/lsn.ts";
import { TypeRegistry } from "../capture/pg-types.ts";
import {
  type ChangeMessage,
  PgoutputDecoder,
  type PgoutputMessage,
  type TupleValue,
  UNCHANGED_TOAST,
} from "../capture/pgoutput.ts";
import { diffSchemas, SchemaTracker, type TableSchema } from "../capture/relation.ts";
import { quoteIdent } from "../capture/replication-connection.ts";
import { type ComparePlan, sourceRow } from "./compare-plan.ts";
import { VerifyError } from "./errors.ts";
import type { ImageChanges } from "./hash-image.ts";
import { HEARTBEAT_PREFIX } from "./lake-position.ts";
import { columnPart, displayValue, keyText, rowHash, rowParts } from "./row-hash.ts";
import type { VerifyPoint } from "./verify-point.ts";

/** The newest version of a row changed in the window. */
export interface WindowRow {
  /** Hash parts per compared column; undefined for a TOAST-unchanged column not yet resolved. */
  parts: Array<string | undefined>;
  /** Display values per compared column (same holes as `parts`). */
  display: Array<string | undefined>;
  /** Where the holes come from: this key's row at C (its key columns as PostgreSQL text). */
  fromPoint?: { keyText: string; rawKey: string[] };
}

export interface RollForwardWindow {
  truncate: boolean;
  /** Keyed: key → newest row, or null when deleted. */
  rows: Map<string, WindowRow | null>;
  /** Keyless: row hash → change of its count. */
  deltas: Map<string, number>;
}

export interface RollForwardResult {
  window: RollForwardWindow;
  fromLsn: string;
  toLsn: string;
  /** Transactions up to P that touched the table. */
  transactions: number;
  /** Row changes (and truncates) of the table applied. */
  changes: number;
}

export interface RollForwardOptions {
  point: VerifyPoint;
  plan: ComparePlan;
  /** P's LSN: transactions committed at or before it are applied. */
  targetLsn: Lsn;
  label: string;
  timeoutMs: number;
}

export async function rollForward(options: RollForwardOptions): Promise<RollForwardResult> {
  const { point, plan, targetLsn } = options;
  const window: RollForwardWindow = { truncate: false, rows: new Map(), deltas: new Map() };
  const tracker = new SchemaTracker(point.sql, new TypeRegistry(point.sql, point.typeOptions));
  const decoder = new PgoutputDecoder();
  const keyIndexes = plan.source.primaryKey.map((name) =>
    plan.source.columns.findIndex((column) => column.name === name),
  );
  let schema: TableSchema = plan.source;
  let inTransaction = false;
  let touched = false;
  let transactions = 0;
  let changes = 0;
  let finished = false;
  let finish: () => void = () => {};
  const reachedTarget = new Promise<void>((resolve) => {
    finish = () => {
      finished = true;
      resolve();
    };
  });

  const convert = (row: Record<string, EventValue>) => sourceRow(plan, row);
  const partsOf = (row: Record<string, unknown>, unchanged: ReadonlySet<string> = new Set()) => ({
    parts: plan.columns.map((column) =>
      unchanged.has(column.name) ? undefined : columnPart(column.type, row[column.name]),
    ),
    display: plan.columns.map((column) =>
      unchanged.has(column.name) ? undefined : displayValue(column.type, row[column.name]),
    ),
  });
  const rawKeyOf = (tuple: TupleValue[]) =>
    keyIndexes.map((index) => {
      const value = tuple[index];
      if (value === null || value === undefined || value === UNCHANGED_TOAST)
        throw new VerifyError(
          "ROLL_FORWARD_FAILED",
          `${options.label}: a change of ${plan.source.schema}.${plan.source.table} came without its key`,
        );
      return value;
    });

  const applyKeyed = (message: ChangeMessage) => {
    const keyFields = plan.keyFields!;
    switch (message.tag) {
      case "insert": {
        const row = convert(decodeTuple(schema, message.newTuple).row);
        window.rows.set(keyText(keyFields, row), partsOf(row));
        return;
      }
      case "delete": {
        const row = convert(decodeTuple(schema, message.oldTuple).row);
        window.rows.set(keyText(keyFields, row), null);
        return;
      }
      case "update": {
        const before = message.oldTuple ? decodeTuple(schema, message.oldTuple).row : null;
        const decoded = decodeTuple(schema, message.newTuple, message.oldKind === "full" ? before : null);
        const after = convert(decoded.row);
        const newKey = keyText(keyFields, after);
        const oldKey = before ? keyText(keyFields, convert(before)) : newKey;
        const unchanged = new Set(decoded.unchanged);
        const next: WindowRow = partsOf(after, unchanged);
        if (unchanged.size > 0) {
          const previous = window.rows.get(oldKey);
          let needsPoint = false;
          plan.columns.forEach((column, index) => {
            if (!unchanged.has(column.name)) return;
            const part = previous?.parts[index];
            if (previous && part !== undefined) {
              next.parts[index] = part;
              next.display[index] = previous.display[index];
            } else needsPoint = true;
          });
          if (needsPoint)
            next.fromPoint = previous?.fromPoint ?? {
              keyText: oldKey,
              rawKey: rawKeyOf(message.oldTuple ?? message.newTuple),
            };
        }
        if (oldKey !== newKey) window.rows.set(oldKey, null);
        window.rows.set(newKey, next);
        return;
      }
      case "truncate":
        window.truncate = true;
        window.rows.clear();
        return;
    }
  };

  const applyKeyless = (message: ChangeMessage) => {
    const count = (hash: string, delta: number) => {
      const next = (window.deltas.get(hash) ?? 0) + delta;
      if (next === 0) window.deltas.delete(hash);
      else window.deltas.set(hash, next);
    };
    const hashOf = (tuple: TupleValue[], fallback: Record<string, EventValue> | null = null) => {
      const decoded = decodeTuple(schema, tuple, fallback);
      if (decoded.unchanged.length > 0) throw needsIdentityFull();
      return rowHash(rowParts(plan.columns, convert(decoded.row)));
    };
    switch (message.tag) {
      case "insert":
        count(hashOf(message.newTuple), +1);
        return;
      case "delete":
        if (message.oldKind !== "full") throw needsIdentityFull();
        count(hashOf(message.oldTuple), -1);
        return;
      case "update": {
        if (message.oldKind !== "full" || !message.oldTuple) throw needsIdentityFull();
        const before = decodeTuple(schema, message.oldTuple).row;
        count(hashOf(message.oldTuple), -1);
        count(hashOf(message.newTuple, before), +1);
        return;
      }
      case "truncate":
        window.truncate = true;
        window.deltas.clear();
        return;
    }
  };
  const needsIdentityFull = () =>
    new VerifyError(
      "ROLL_FORWARD_FAILED",
      `${options.label}: ${plan.source.schema}.${plan.source.table} has no primary key and its updates/deletes do not carry the whole old row; set REPLICA IDENTITY FULL on it`,
    );

  const handle = async (message: PgoutputMessage) => {
    if (finished) return;
    switch (message.tag) {
      case "begin":
        if (message.finalLsn > targetLsn) {
          finish();
          return;
        }
        inTransaction = true;
        touched = false;
        return;
      case "commit":
        inTransaction = false;
        if (touched) transactions++;
        return;
      case "message":
        if (!message.transactional && message.prefix === HEARTBEAT_PREFIX && message.lsn > targetLsn)
          finish();
        return;
      case "relation": {
        if (message.relationOid !== plan.source.relationOid) return;
        const { tableSchema } = await tracker.apply(message);
        if (diffSchemas(plan.source, tableSchema).length > 0)
          throw new VerifyError(
            "SCHEMA_CHANGED",
            `${options.label}: ${plan.source.schema}.${plan.source.table} changed its columns or key after the verify point; run verify again`,
          );
        schema = tableSchema;
        return;
      }
      case "insert":
      case "update":
      case "delete":
      case "truncate": {
        const ours =
          message.tag === "truncate"
            ? message.relationOids.includes(plan.source.relationOid)
            : message.relationOid === plan.source.relationOid;
        if (!ours || !inTransaction) return;
        touched = true;
        changes++;
        if (plan.keyFields) applyKeyed(message);
        else applyKeyless(message);
        return;
      }
      default:
        return;
    }
  };

  const pluginOptions: Record<string, string> = {
    proto_version: String(point.server.protocolVersion),
    publication_names: quoteIdent(point.publicationName),
  };
  if (point.server.supportsMessages) pluginOptions.messages = "true";
  let timer: NodeJS.Timeout | undefined;
  try {
    const { done } = await point.replication.startReplication(point.slotName, 0n, pluginOptions, {
      onData: async ({ payload }) => handle(decoder.decode(payload)),
      onKeepalive: (walEnd) => {
        if (!inTransaction && walEnd > targetLsn) finish();
      },
    });
    // A heartbeat after S was read: its LSN is past P, so the stream reaches an end marker.
    // (Best effort: without it, the walsender's keepalive past P ends the stream too.)
    if (point.server.supportsMessages)
      await point.sql
        .query("select pg_logical_emit_message(false, $1, '')", [HEARTBEAT_PREFIX])
        .catch(() => {});
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new VerifyError(
              "ROLL_FORWARD_FAILED",
              `${options.label}: streaming the slot from ${formatLsn(point.consistentPoint)} to ${formatLsn(targetLsn)} took longer than ${options.timeoutMs} ms; run verify again (or raise --wait-ms)`,
            ),
          ),
        options.timeoutMs,
      );
    });
    await Promise.race([
      reachedTarget,
      timedOut,
      done.then(() => {
        if (!finished)
          throw new VerifyError(
            "ROLL_FORWARD_FAILED",
            `${options.label}: the slot's stream ended before ${formatLsn(targetLsn)}`,
          );
      }),
    ]);
  } catch (error) {
    if (error instanceof VerifyError) throw error;
    throw new VerifyError(
      "ROLL_FORWARD_FAILED",
      `${options.label}: streaming the temporary slot failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  } finally {
    if (timer) clearTimeout(timer);
    finished = true;
    await point.replication.close();
  }

  if (plan.keyFields) await resolveUnchanged(point, plan, window, options.label);
  return {
    window,
    fromLsn: formatLsn(point.consistentPoint),
    toLsn: formatLsn(targetLsn),
    transactions,
    changes,
  };
}

/** Fills TOAST-unchanged columns from the rows at C (one batched lookup in the snapshot transaction). */
async function resolveUnchanged(
  point: VerifyPoint,
  plan: ComparePlan,
  window: RollForwardWindow,
  label: string,
): Promise<void> {
  const wanted = new Map<string, string[]>();
  for (const row of window.rows.values())
    if (row?.fromPoint) wanted.set(row.fromPoint.keyText, row.fromPoint.rawKey);
  if (wanted.size === 0) return;
  const found = new Map<string, Record<string, unknown>>();
  for (const eventRow of await point.rowsAtPoint([...wanted.values()])) {
    const row = sourceRow(plan, eventRow);
    found.set(keyText(plan.keyFields!, row), row);
  }
  for (const row of window.rows.values()) {
    if (!row?.fromPoint) continue;
    const atPoint = found.get(row.fromPoint.keyText);
    if (!atPoint)
      throw new VerifyError(
        "ROLL_FORWARD_FAILED",
        `${label}: an update kept a TOASTed column of ${row.fromPoint.keyText} unchanged, but the snapshot has no such row`,
      );
    plan.columns.forEach((column, index) => {
      if (row.parts[index] !== undefined) return;
      row.parts[index] = columnPart(column.type, atPoint[column.name]);
      row.display[index] = displayValue(column.type, atPoint[column.name]);
    });
    delete row.fromPoint;
  }
}

/** The window as the image's changes. */
export function windowChanges(window: RollForwardWindow): ImageChanges {
  const upserts = new Map<string, string | null>();
  for (const [key, row] of window.rows)
    upserts.set(key, row === null ? null : rowHash(row.parts as string[]));
  return { truncate: window.truncate, upserts, deltas: window.deltas };
}
