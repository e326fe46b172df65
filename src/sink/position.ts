/**
 * Exactly-once (DESIGN principle 3): the source position a commit covers is stored in the snapshot
 * summary of that same commit. Restart reads it back here: the newest snapshot of main that carries it
 * (compaction and other maintenance commits don't, so they are skipped).
 */
import type { LoadedTable } from "../catalog/catalog.ts";
import { ancestorsOf, snapshotForRef } from "../iceberg/table-metadata.ts";
import { formatLsn, parsePosition } from "./change.ts";

/** The source position (opaque, see change.ts) of the last change committed to the table. */
export const SOURCE_POSITION_PROPERTY = "floe.source.position";
/** The LSN part of the position in PostgreSQL's form, for people and tools reading the summary. */
export const SOURCE_LSN_PROPERTY = "floe.source.lsn";

/** Summary properties that record `position` in a snapshot. */
export function positionSummary(position: string): Record<string, string> {
  return {
    [SOURCE_POSITION_PROPERTY]: position,
    [SOURCE_LSN_PROPERTY]: formatLsn(parsePosition(position).lsn),
  };
}

/**
 * The last source position committed to the table's main branch, or undefined when no sink commit is
 * in its (unexpired) history: then the sink starts from the source's beginning.
 */
export function committedPosition(table: Pick<LoadedTable, "metadata">): string | undefined {
  for (const snapshot of ancestorsOf(table.metadata, snapshotForRef(table.metadata))) {
    const position = snapshot.summary[SOURCE_POSITION_PROPERTY];
    if (position !== undefined) return position;
  }
  return undefined;
}
