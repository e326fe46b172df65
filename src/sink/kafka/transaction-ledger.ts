/**
 * Transaction-consistent mode's bookkeeping for the coordinator: which PostgreSQL transactions are
 * whole in the sink. The capture's transaction topic (one partition, commit order) says per
 * transaction how many events it produced for each table (Debezium's END record); workers report what
 * they hold back per partition (latest report wins: a partition has one owner at a time) and, per
 * publication, the events they wrote. From these it answers two questions:
 *
 * - the **frontier**: the highest commit LSN up to which every transaction's events were read by some
 *   worker (held or already written), so workers may write them;
 * - the **commit target** of a set of publications: the commit LSN they reach, if every transaction
 *   between the last committed one and it is entirely in them — otherwise the commit waits.
 *
 * Counts are compared with "at least": a capture that replays after a crash sends some events twice,
 * and waiting for an exact count would stall the sink for good. A replayed transaction can then be
 * committed in two rounds; nothing is lost or duplicated (the sink's upserts are idempotent).
 */
import type { TransactionCount } from "./control.ts";

interface TransactionEnd {
  id: string;
  lsn: bigint;
  /** Offset of the END record in the transaction topic. */
  offset: bigint;
  /** Events per data collection (`schema.table`). */
  counts: Map<string, number>;
}

export interface CommitPoint {
  lsn: bigint;
  /** Transaction-topic offset of that transaction's END: where a new coordinator resumes reading. */
  transactionOffset: bigint;
}

export class TransactionLedger {
  /** ENDs read and not yet committed, in commit order. */
  #ends: TransactionEnd[] = [];
  /** Per source partition: its owner's latest report of held events. */
  readonly #held = new Map<string, TransactionCount[]>();
  /** Per publication (`<round>/<worker>`) not yet committed: the events it wrote, and its highest commit LSN. */
  readonly #released = new Map<string, { counts: TransactionCount[]; maxLsn: bigint; offset: bigint }>();
  /**
   * Publications committed before their transactions were whole (to unblock a worker that took over
   * partitions, see commitDegraded): their counts still complete those transactions.
   */
  readonly #degraded = new Map<string, { counts: TransactionCount[]; maxLsn: bigint; offset: bigint }>();
  #committed: CommitPoint = { lsn: -1n, transactionOffset: -1n };
  #frontier = -1n;

  /** `(collection) → true` when the sink reads that table's topic; others' events never come. */
  constructor(private readonly subscribed: (collection: string) => boolean) {}

  get committed(): CommitPoint {
    return this.#committed;
  }

  get frontier(): bigint {
    // bigints: Math.max does not take them
    if (this.#frontier > this.#committed.lsn) return this.#frontier;
    return this.#committed.lsn;
  }

  /** A commit-complete read back from the control topic (this coordinator's or a predecessor's). */
  restore(point: CommitPoint): void {
    if (point.lsn <= this.#committed.lsn) return;
    this.#committed = point;
    this.#ends = this.#ends.filter((end) => end.lsn > point.lsn);
    // Publications read again by a new coordinator that are already in: nothing of theirs is pending.
    for (const [id, released] of this.#released)
      if (released.maxLsn >= 0n && released.maxLsn <= point.lsn) this.#released.delete(id);
    for (const [id, degraded] of this.#degraded) if (degraded.maxLsn <= point.lsn) this.#degraded.delete(id);
  }

  addEnd(
    id: string,
    offset: bigint,
    dataCollections: Array<{ dataCollection: string; eventCount: number }>,
  ): void {
    const lsn = commitLsn(id);
    if (lsn === undefined || lsn <= this.#committed.lsn) return;
    const last = this.#ends.at(-1);
    if (last && lsn <= last.lsn) return; // a replayed END
    const counts = new Map<string, number>();
    for (const { dataCollection, eventCount } of dataCollections) {
      if (this.subscribed(dataCollection)) counts.set(dataCollection, eventCount);
    }
    this.#ends.push({ id, lsn, offset, counts });
  }

  /** A worker's data-complete: what it holds per partition, and what its publication wrote. */
  report(
    publication: string,
    offset: bigint,
    partitions: Array<{ topic: string; partition: number; held?: TransactionCount[] }>,
    released: TransactionCount[],
  ): void {
    for (const p of partitions) this.#held.set(`${p.topic}/${p.partition}`, p.held ?? []);
    let maxLsn = -1n;
    for (const [id] of released) {
      const lsn = commitLsn(id) ?? -1n;
      if (lsn > maxLsn) maxLsn = lsn;
    }
    this.#released.set(publication, { counts: released, maxLsn, offset });
  }

  /** The control-topic offset of the oldest publication not yet committed (its data-complete). */
  oldestUncommitted(): bigint | undefined {
    let oldest: bigint | undefined;
    for (const entries of [this.#released, this.#degraded])
      for (const { offset } of entries.values()) if (oldest === undefined || offset < oldest) oldest = offset;
    return oldest;
  }

  /** Advances the frontier over every transaction whose events are all read; returns it. */
  advanceFrontier(): bigint {
    const counts = new Map<string, number>();
    for (const report of this.#held.values()) add(counts, report);
    for (const { counts: released } of this.#released.values()) add(counts, released);
    for (const { counts: degraded } of this.#degraded.values()) add(counts, degraded);
    let frontier = this.frontier;
    for (const end of this.#ends) {
      if (end.lsn <= frontier) continue;
      if (!whole(end, counts)) break;
      frontier = end.lsn;
    }
    this.#frontier = frontier;
    return frontier;
  }

  /**
   * Where committing these publications (their data-complete read) would leave the tables: the commit
   * point if every transaction up to their highest commit LSN is entirely in them, `undefined` if one
   * is not (the commit must wait). Publications that wrote no transaction's events reach the last
   * committed point.
   */
  commitTarget(publications: Iterable<string>): CommitPoint | undefined {
    const counts = new Map<string, number>();
    for (const { counts: degraded } of this.#degraded.values()) add(counts, degraded);
    let target = this.#committed.lsn;
    for (const id of publications) {
      const released = this.#released.get(id);
      if (!released) continue;
      add(counts, released.counts);
      if (released.maxLsn > target) target = released.maxLsn;
    }
    if (target <= this.#committed.lsn) return this.#committed;
    let point: CommitPoint | undefined;
    for (const end of this.#ends) {
      if (end.lsn > target) break;
      if (!whole(end, counts)) return undefined;
      point = { lsn: end.lsn, transactionOffset: end.offset };
    }
    // The END of the highest transaction not read yet: its counts are unknown.
    return point?.lsn === target ? point : undefined;
  }

  /**
   * The publications are in the tables although a transaction they hold is not yet whole there (a
   * worker that took over partitions needed them in before it could write the rest). Their counts keep
   * counting toward the next commit point; a new coordinator must read them again (oldestUncommitted).
   */
  commitDegraded(publications: Iterable<string>): void {
    for (const id of publications) {
      const released = this.#released.get(id);
      if (!released) continue;
      this.#released.delete(id);
      if (released.maxLsn > this.#committed.lsn) this.#degraded.set(id, released);
    }
  }

  /** The publications are in the tables up to `point`. */
  commit(point: CommitPoint, publications: Iterable<string>): void {
    for (const id of publications) this.#released.delete(id);
    this.restore(point);
  }

  /** True while some partition's owner reported changes it holds back. */
  holding(): boolean {
    for (const report of this.#held.values()) if (report.length > 0) return true;
    return false;
  }

  /** What the ledger waits for, for a stalled coordinator's log line. */
  describe(): string {
    const counts = new Map<string, number>();
    for (const report of this.#held.values()) add(counts, report);
    for (const { counts: released } of this.#released.values()) add(counts, released);
    for (const { counts: degraded } of this.#degraded.values()) add(counts, degraded);
    const frontier = this.frontier;
    const next = this.#ends.find((end) => end.lsn > frontier);
    const missing = next
      ? [...next.counts].map(([c, n]) => `${c} ${counts.get(`${next.id}|${c}`) ?? 0}/${n}`).join(", ")
      : "no END read past it";
    const pendingMax = [...this.#released.values()].reduce((m, r) => (r.maxLsn > m ? r.maxLsn : m), -1n);
    return `committed ${this.#committed.lsn} (transaction offset ${this.#committed.transactionOffset}), frontier ${frontier}, ${this.#ends.length} ENDs read (first ${this.#ends[0]?.lsn ?? "-"}), next transaction ${next?.id ?? "-"}: ${missing}; ${this.#released.size} publications uncommitted (up to ${pendingMax}), ${this.#degraded.size} degraded, ${this.#held.size} partitions reporting`;
  }

  /** A new election: what was heard is heard again from the control topic. */
  reset(): void {
    this.#ends = [];
    this.#held.clear();
    this.#released.clear();
    this.#degraded.clear();
    this.#committed = { lsn: -1n, transactionOffset: -1n };
    this.#frontier = -1n;
  }
}

function add(counts: Map<string, number>, items: TransactionCount[]): void {
  for (const [id, collection, n] of items) {
    const key = `${id}|${collection}`;
    counts.set(key, (counts.get(key) ?? 0) + n);
  }
}

function whole(end: TransactionEnd, counts: Map<string, number>): boolean {
  for (const [collection, n] of end.counts)
    if ((counts.get(`${end.id}|${collection}`) ?? 0) < n) return false;
  return true;
}

/** The commit LSN of a Debezium PostgreSQL transaction id (`txId:commitLsn`). */
export function commitLsn(id: string): bigint | undefined {
  const text = id.slice(id.lastIndexOf(":") + 1);
  return /^\d+$/.test(text) ? BigInt(text) : undefined;
}
