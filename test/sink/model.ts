/**
 * A reference model for sink tests: a Map key → row driven by random inserts, updates (some with
 * TOAST-unchanged columns), deletes, re-inserts and primary-key moves, producing the `Change`s the
 * writer gets and the rows the table must hold afterwards.
 */

import { Schema } from "../../src/iceberg/schema.ts";
import { primitive } from "../../src/iceberg/types.ts";
import type { Change, Row } from "../../src/sink/change.ts";

export const accountsSchema = new Schema(
  0,
  [
    { id: 1, name: "id", required: true, type: primitive("long") },
    { id: 2, name: "region", required: false, type: primitive("string") },
    { id: 3, name: "qty", required: false, type: primitive("int") },
    { id: 4, name: "note", required: false, type: primitive("string") },
  ],
  [1],
);

/** mulberry32: deterministic tests. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Model {
  readonly rows = new Map<bigint, Row>();
  #lsn = 0x16b3748n;
  #seq = 0;
  readonly random: () => number;

  constructor(seed: number) {
    this.random = rng(seed);
  }

  nextPosition(): string {
    this.#seq++;
    if (this.random() < 0.3) {
      this.#lsn += BigInt(1 + Math.floor(this.random() * 1000));
      this.#seq = 0;
    }
    return `${(this.#lsn >> 32n).toString(16).toUpperCase()}/${(this.#lsn & 0xffffffffn).toString(16).toUpperCase()}#${this.#seq}`;
  }

  #row(id: bigint): Row {
    const r = this.random;
    return {
      id,
      region: ["eu", "us", "ap", null][Math.floor(r() * 4)] ?? null,
      qty: r() < 0.1 ? null : Math.floor(r() * 1000) - 500,
      note: r() < 0.1 ? null : `note-${Math.floor(r() * 1e6)}`,
    };
  }

  /** One random change applied to the model. */
  change(keySpace: number): Change {
    const r = this.random;
    const id = BigInt(1 + Math.floor(r() * keySpace));
    const position = this.nextPosition();
    const commitTimeMs = 1_700_000_000_000 + Math.floor(r() * 1e6);
    const current = this.rows.get(id);
    if (!current) {
      const after = this.#row(id);
      this.rows.set(id, after);
      return { op: r() < 0.2 ? "r" : "c", key: { id }, after, position, commitTimeMs };
    }
    const dice = r();
    if (dice < 0.3) {
      this.rows.delete(id);
      return { op: "d", key: { id }, before: current, position, commitTimeMs };
    }
    if (dice < 0.4) {
      // Primary key change: Debezium's delete + create, as one update here.
      const newId = BigInt(keySpace + 1 + Math.floor(r() * keySpace));
      if (!this.rows.has(newId)) {
        const after = { ...this.#row(newId) };
        this.rows.delete(id);
        this.rows.set(newId, after);
        return { op: "u", key: { id: newId }, before: current, after, position, commitTimeMs };
      }
    }
    const after = this.#row(id);
    if (dice < 0.65) {
      // TOAST: the note did not change and was not sent.
      after.note = current.note;
      this.rows.set(id, after);
      const sent = { ...after };
      delete sent.note;
      return {
        op: "u",
        key: { id },
        before: current,
        after: sent,
        unchangedColumns: ["note"],
        position,
        commitTimeMs,
      };
    }
    this.rows.set(id, after);
    return { op: "u", key: { id }, before: current, after, position, commitTimeMs };
  }

  expected(): Row[] {
    return sortRows([...this.rows.values()].map((row) => ({ ...row })));
  }
}

export function sortRows(rows: Row[]): Row[] {
  return [...rows].sort((a, b) => {
    const x = BigInt(a.id as bigint);
    const y = BigInt(b.id as bigint);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}
