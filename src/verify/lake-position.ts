/**
 * Where the lake is, in source terms, and waiting until it covers the verify point C.
 *
 * Two records say how far a mirrored table reaches. Every sink commit stores the position of its last
 * change, `<commit LSN>#<n>`, in the snapshot summary (src/sink/position.ts); and `floe replicate`
 * saves its acknowledged capture offset, a commit *end* LSN, as the namespace property
 * `floe.replicate.<slot>.offset` after every round's commit (src/replicate/direct.ts). The lake covers C
 * when
 *   - the table's position P has LSN ≥ C: the table holds a transaction that committed at or after C,
 *     so every earlier one (in commit order) too; or
 *   - the offset of every replicate slot of the namespace (that still exists in this database) is ≥ C:
 *     everything that committed before C is durable in every table, this one included.
 * And the compared snapshot S must hold whole transactions: a round can commit part of a large
 * transaction, so S counts as complete only when an offset read *before* S was loaded is past P's LSN
 * (the transaction at P was then acknowledged, all of it, before S was read). Without any offset (a
 * table not written by direct-mode `floe replicate`) P is taken as complete.
 *
 * An idle `floe replicate` moves its offset only on a keepalive or a heartbeat, so while waiting this
 * emits capture's heartbeat message (`pg_logical_emit_message(false, 'floe.heartbeat', '')`, the
 * prefix src/capture/capture.ts confirms when idle).
 */
import type pg from "pg";
import type { CaptureOffset } from "../capture/index.ts";
import { formatLsn, type Lsn, parseLsn } from "../capture/lsn.ts";
import type { Catalog, LoadedTable, TableIdentifier } from "../catalog/catalog.ts";
import type { Snapshot } from "../iceberg/snapshot.ts";
import { ancestorsOf, currentSnapshot, snapshotById } from "../iceberg/table-metadata.ts";
import { parsePosition } from "../sink/change.ts";
import { SOURCE_POSITION_PROPERTY } from "../sink/position.ts";
import { VerifyError } from "./errors.ts";

/** Capture's heartbeat prefix (src/capture/capture.ts HEARTBEAT_PREFIX). */
export const HEARTBEAT_PREFIX = "floe.heartbeat";

const OFFSET_PROPERTY = /^floe\.replicate\.(.+)\.offset$/;

export interface LakePoint {
  table: LoadedTable;
  /** S: the snapshot to compare (undefined: the table has no snapshot, i.e. is empty). */
  snapshot: Snapshot | undefined;
  /** P: the source position S covers (from S or its nearest ancestor that records one). */
  position: string | undefined;
  /** The lowest acknowledged offset of the namespace's replicate slots, when there are any. */
  replicateLsn: Lsn | undefined;
}

export interface WaitForLakeOptions {
  catalog: Catalog;
  identifier: TableIdentifier;
  label: string;
  /** C. */
  consistentPoint: Lsn;
  /** A connection to the source database (offsets are checked against its slots, heartbeats sent). */
  sql: pg.Client;
  emitHeartbeats: boolean;
  waitMs: number;
  pollIntervalMs?: number;
  /** Compare this snapshot instead of the current one. */
  snapshotId?: bigint;
  /** Only this replicate slot's offset counts (default: every slot of the namespace that exists). */
  replicateSlot?: string;
}

/** The source position S covers: its own, or that of its nearest ancestor that records one. */
export function positionOf(table: LoadedTable, snapshot: Snapshot | undefined): string | undefined {
  for (const ancestor of ancestorsOf(table.metadata, snapshot)) {
    const position = ancestor.summary[SOURCE_POSITION_PROPERTY];
    if (position !== undefined) return position;
  }
  return undefined;
}

interface Offsets {
  /** The lowest offset LSN over the relevant slots; undefined when there is none. */
  lsn: Lsn | undefined;
  /** Some relevant slot has not finished its initial snapshot. */
  snapshotting: boolean;
}

async function readOffsets(options: WaitForLakeOptions): Promise<Offsets> {
  const properties = await options.catalog.loadNamespaceProperties(options.identifier.namespace);
  const offsets = new Map<string, CaptureOffset>();
  for (const [key, value] of Object.entries(properties)) {
    const slot = OFFSET_PROPERTY.exec(key)?.[1];
    if (slot === undefined || (options.replicateSlot !== undefined && slot !== options.replicateSlot))
      continue;
    try {
      offsets.set(slot, JSON.parse(value) as CaptureOffset);
    } catch {
      // Not an offset Floe wrote; it says nothing about this table.
    }
  }
  if (offsets.size === 0) return { lsn: undefined, snapshotting: false };
  // Offsets of slots that no longer exist here (an old run, another database) are history.
  const { rows } = await options.sql.query<{ slot_name: string }>(
    "select slot_name from pg_replication_slots where database = current_database() and slot_name = any($1)",
    [[...offsets.keys()]],
  );
  let lsn: Lsn | undefined;
  let snapshotting = false;
  for (const { slot_name } of rows) {
    const offset = offsets.get(slot_name);
    if (!offset) continue;
    if (!offset.snapshotCompleted) snapshotting = true;
    let offsetLsn: Lsn;
    try {
      offsetLsn = parseLsn(offset.lsn);
    } catch {
      continue;
    }
    if (lsn === undefined || offsetLsn < lsn) lsn = offsetLsn;
  }
  return { lsn, snapshotting };
}

/** Waits until the lake covers C and S holds whole transactions (see the module comment); returns S. */
export async function waitForLake(options: WaitForLakeOptions): Promise<LakePoint> {
  const c = options.consistentPoint;
  const deadline = Date.now() + options.waitMs;
  const pollMs = options.pollIntervalMs ?? 200;
  let last: { position: string | undefined; offsets: Offsets } | undefined;
  for (;;) {
    if (options.emitHeartbeats)
      await options.sql
        .query("select pg_logical_emit_message(false, $1, '')", [HEARTBEAT_PREFIX])
        .catch(() => {});
    // Offsets first, then the table: an offset then describes commits S already holds.
    const offsets = await readOffsets(options);
    const table = await options.catalog.loadTable(options.identifier);
    let snapshot: Snapshot | undefined;
    if (options.snapshotId !== undefined) {
      snapshot = snapshotById(table.metadata, options.snapshotId);
      if (!snapshot)
        throw new VerifyError(
          "INVALID_OPTIONS",
          `${options.label} has no snapshot ${options.snapshotId}; it may have been expired (list them with floe query or pyiceberg)`,
        );
    } else {
      snapshot = currentSnapshot(table.metadata);
    }
    const position = positionOf(table, snapshot);
    const positionLsn = position === undefined ? undefined : parsePosition(position).lsn;
    last = { position, offsets };

    let covered = false;
    if (!offsets.snapshotting) {
      if (positionLsn !== undefined && positionLsn >= c) covered = true;
      else if (offsets.lsn !== undefined && offsets.lsn >= c) {
        covered = true;
        if (options.snapshotId !== undefined) {
          // S stands for the table at C only if no later commit changed the table.
          const head = positionOf(table, currentSnapshot(table.metadata));
          if (head !== position)
            throw new VerifyError(
              "SNAPSHOT_TOO_OLD",
              `${options.label}: snapshot ${options.snapshotId} is at source position ${position ?? "(none)"}, before the verify point ${formatLsn(c)}, and later commits changed the table (now at ${head}); PostgreSQL cannot be read as of that position — verify the current snapshot (leave out --snapshot-id)`,
            );
        }
      }
    }
    const complete = positionLsn === undefined || offsets.lsn === undefined || offsets.lsn > positionLsn;
    if (covered && complete) return { table, snapshot, position, replicateLsn: offsets.lsn };

    if (Date.now() >= deadline) {
      const where = `table position ${last.position ?? "(none recorded)"}, floe replicate offset ${
        last.offsets.lsn === undefined ? "(none found)" : formatLsn(last.offsets.lsn)
      }${last.offsets.snapshotting ? ", floe replicate still taking its initial snapshot" : ""}`;
      throw new VerifyError(
        "LAKE_BEHIND",
        `${options.label} did not reach the verify point ${formatLsn(c)} within ${options.waitMs} ms (${where}); is floe replicate running? Start it (or wait for it to catch up) and run verify again, or raise --wait-ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
