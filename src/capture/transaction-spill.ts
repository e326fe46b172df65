/**
 * In-progress transactions streamed by the server (pgoutput protocol 2, PostgreSQL ≥ 14) are spilled
 * to a file per top-level transaction until their Stream Commit, so a 1 GB transaction costs disk, not
 * memory; a Stream Abort of a subtransaction marks its changes to be skipped on replay, of the
 * top-level transaction deletes the file.
 */
import { once } from "node:events";
import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { PgoutputMessage } from "./pgoutput.ts";

interface Spill {
  path: string;
  out: WriteStream;
  abortedSubXids: Set<number>;
  messages: number;
}

export class TransactionSpill {
  private directory: string | null = null;
  private readonly spills = new Map<number, Spill>();

  constructor(private readonly parentDirectory: string = tmpdir()) {}

  async append(topXid: number, message: PgoutputMessage): Promise<void> {
    let spill = this.spills.get(topXid);
    if (!spill) {
      this.directory ??= await mkdtemp(join(this.parentDirectory, "floe-capture-"));
      const path = join(this.directory, `${topXid}.jsonl`);
      spill = { path, out: createWriteStream(path), abortedSubXids: new Set(), messages: 0 };
      this.spills.set(topXid, spill);
    }
    spill.messages++;
    if (!spill.out.write(`${JSON.stringify(message, encode)}\n`)) await once(spill.out, "drain");
  }

  async abort(topXid: number, subXid: number): Promise<void> {
    const spill = this.spills.get(topXid);
    if (!spill) return;
    if (subXid === topXid || subXid === 0) {
      this.spills.delete(topXid);
      spill.out.end();
      await once(spill.out, "close");
      await rm(spill.path, { force: true });
    } else {
      spill.abortedSubXids.add(subXid);
    }
  }

  /** The spilled messages of a committed transaction in order, without aborted subtransactions'; then the file is removed. */
  async *replay(topXid: number): AsyncGenerator<PgoutputMessage> {
    const spill = this.spills.get(topXid);
    if (!spill) return;
    this.spills.delete(topXid);
    spill.out.end();
    await once(spill.out, "close");
    try {
      const lines = createInterface({
        input: createReadStream(spill.path),
        crlfDelay: Number.POSITIVE_INFINITY,
      });
      for await (const line of lines) {
        if (line.length === 0) continue;
        const message = JSON.parse(line, decode) as PgoutputMessage;
        if ("xid" in message && message.xid !== undefined && spill.abortedSubXids.has(message.xid)) continue;
        yield message;
      }
    } finally {
      await rm(spill.path, { force: true });
    }
  }

  get openTransactions(): number {
    return this.spills.size;
  }

  async close(): Promise<void> {
    for (const spill of this.spills.values()) spill.out.destroy();
    this.spills.clear();
    if (this.directory) await rm(this.directory, { recursive: true, force: true });
    this.directory = null;
  }
}

function encode(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return { $bigint: value.toString() };
  return value;
}

function decode(_key: string, value: unknown): unknown {
  if (typeof value === "object" && value !== null) {
    if ("$bigint" in value) return BigInt((value as { $bigint: string }).$bigint);
    if ((value as { type?: unknown }).type === "Buffer" && Array.isArray((value as { data?: unknown }).data))
      return Buffer.from((value as { data: number[] }).data);
  }
  return value;
}
