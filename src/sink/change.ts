/**
 * The sink's input: one row change of one source table (a Debezium envelope, decoded), and the source
 * position it was read at. Positions are opaque to the table writers except for their order, which
 * `comparePositions` defines: `<LSN>` or `<LSN>#<sequence>`, LSN in PostgreSQL's `X/Y` hex form.
 */
import { SinkError } from "./errors.ts";

/** A row keyed by column name, values in Floe's representation (src/iceberg/parquet-writer.ts header). */
export type Row = Record<string, unknown>;

/** Debezium's op codes: create, update, delete, read (snapshot), truncate. */
export type ChangeOp = "c" | "u" | "d" | "r" | "t";

export interface Change {
  op: ChangeOp;
  /**
   * The primary key of the row the change applies to (the new key for c/u/r, the old one for d).
   * A create or update whose `before` has another (complete) key moves the row: the old key is deleted,
   * and `unchangedColumns` take the old key's values (a primary-key change that left TOASTed columns
   * unchanged; capture sends it as delete(old) + create(new, before = old key)).
   */
  key: Row;
  before?: Row;
  /** The full new row for c/u/r. */
  after?: Row;
  /** Columns of `after` the source did not send (unchanged TOASTed values): keep the stored value. */
  unchangedColumns?: string[];
  /** Source position, totally ordered by `comparePositions`. */
  position: string;
  /** Source commit time, ms since the epoch. */
  commitTimeMs: number;
}

/** The columns a changelog table has besides the source's: op code, source position, commit time (µs). */
export const CHANGELOG_OP_COLUMN = "_op";
export const CHANGELOG_POSITION_COLUMN = "_position";
export const CHANGELOG_COMMIT_TIME_COLUMN = "_commit_time";

export interface SourcePosition {
  /** The LSN as a 64-bit number. */
  lsn: bigint;
  /** Order of the change within the LSN (several changes of one transaction may share a commit LSN). */
  sequence: bigint;
}

const positionPattern = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})(?:#(\d+))?$/;

export function parsePosition(text: string): SourcePosition {
  const match = positionPattern.exec(text);
  if (!match) {
    throw new SinkError(
      "CHANGE_INVALID",
      `source position '${text}' is not '<LSN>' or '<LSN>#<sequence>' (LSN as X/Y in hex, e.g. 0/16B3748#3)`,
    );
  }
  const lsn = (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
  return { lsn, sequence: BigInt(match[3] ?? "0") };
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function formatPosition(position: SourcePosition): string {
  return `${formatLsn(position.lsn)}#${position.sequence}`;
}

/** Negative when `a` comes before `b`, 0 when equal, positive after. */
export function comparePositions(a: string, b: string): number {
  const pa = parsePosition(a);
  const pb = parsePosition(b);
  if (pa.lsn !== pb.lsn) return pa.lsn < pb.lsn ? -1 : 1;
  if (pa.sequence !== pb.sequence) return pa.sequence < pb.sequence ? -1 : 1;
  return 0;
}
