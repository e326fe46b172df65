/**
 * The pgoutput logical replication protocol, versions 1–4, decoded into typed messages.
 *
 * Floe decodes pgoutput itself instead of using pg-logical-replication's parser (2.5.0) because that
 * parser rejects protocol-2 stream messages (`S`, `E`, `c`, `A`) and the `xid` prefix they put on every
 * change, converts values with `pg`'s type parsers (a timestamp loses its microseconds), and turns an
 * unchanged TOAST column into `undefined`, indistinguishable from an absent one. Here a column value is
 * the server's text output, `null`, or {@link UNCHANGED_TOAST}; `pg-types.ts` turns text into event values.
 * https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
 */
import { CaptureError } from "./errors.ts";
import type { Lsn } from "./lsn.ts";

/** An unchanged TOASTed column of an update: the value was not sent and must not be overwritten downstream. */
export const UNCHANGED_TOAST = "\u0000unchanged-toast" as const;
export type UnchangedToast = typeof UNCHANGED_TOAST;

/** One column of a tuple as pgoutput sends it in text mode. */
export type TupleValue = string | null | UnchangedToast;

export type ReplicaIdentity = "default" | "nothing" | "full" | "index";

export interface RelationColumn {
  /** Part of the replica identity (flag bit 1). */
  isKey: boolean;
  name: string;
  typeOid: number;
  typeMod: number;
}

/** Fields every message inside a stream block carries: the (sub)transaction it belongs to. */
interface Streamed {
  /** Set only inside a Stream Start … Stream Stop block (protocol ≥ 2): the xid of the (sub)transaction. */
  xid?: number;
}

export interface BeginMessage {
  tag: "begin";
  finalLsn: Lsn;
  commitTimeMs: number;
  xid: number;
}
export interface CommitMessage {
  tag: "commit";
  commitLsn: Lsn;
  endLsn: Lsn;
  commitTimeMs: number;
}
export interface OriginMessage {
  tag: "origin";
  originLsn: Lsn;
  name: string;
}
export interface RelationMessage extends Streamed {
  tag: "relation";
  relationOid: number;
  schema: string;
  name: string;
  replicaIdentity: ReplicaIdentity;
  columns: RelationColumn[];
}
export interface TypeMessage extends Streamed {
  tag: "type";
  typeOid: number;
  schema: string;
  name: string;
}
export interface InsertMessage extends Streamed {
  tag: "insert";
  relationOid: number;
  newTuple: TupleValue[];
}
export interface UpdateMessage extends Streamed {
  tag: "update";
  relationOid: number;
  /** The old key (`K`, when the replica identity changed) or the whole old row (`O`, REPLICA IDENTITY FULL). */
  oldKind: "key" | "full" | null;
  oldTuple: TupleValue[] | null;
  newTuple: TupleValue[];
}
export interface DeleteMessage extends Streamed {
  tag: "delete";
  relationOid: number;
  oldKind: "key" | "full";
  oldTuple: TupleValue[];
}
export interface TruncateMessage extends Streamed {
  tag: "truncate";
  cascade: boolean;
  restartIdentity: boolean;
  relationOids: number[];
}
export interface LogicalMessage extends Streamed {
  tag: "message";
  transactional: boolean;
  lsn: Lsn;
  prefix: string;
  content: Buffer;
}
export interface StreamStartMessage {
  tag: "stream_start";
  xid: number;
  firstSegment: boolean;
}
export interface StreamStopMessage {
  tag: "stream_stop";
}
export interface StreamCommitMessage {
  tag: "stream_commit";
  xid: number;
  commitLsn: Lsn;
  endLsn: Lsn;
  commitTimeMs: number;
}
export interface StreamAbortMessage {
  tag: "stream_abort";
  xid: number;
  subXid: number;
}

export type PgoutputMessage =
  | BeginMessage
  | CommitMessage
  | OriginMessage
  | RelationMessage
  | TypeMessage
  | InsertMessage
  | UpdateMessage
  | DeleteMessage
  | TruncateMessage
  | LogicalMessage
  | StreamStartMessage
  | StreamStopMessage
  | StreamCommitMessage
  | StreamAbortMessage;

export type ChangeMessage = InsertMessage | UpdateMessage | DeleteMessage | TruncateMessage;

/** Microseconds between 1970-01-01 and 2000-01-01, PostgreSQL's epoch. */
const PG_EPOCH_MS = 946_684_800_000;

class Reader {
  private offset = 0;
  constructor(private readonly buffer: Buffer) {}
  uint8(): number {
    return this.buffer.readUInt8(this.offset++);
  }
  int16(): number {
    const value = this.buffer.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }
  int32(): number {
    const value = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }
  uint32(): number {
    const value = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }
  int64(): bigint {
    const value = this.buffer.readBigInt64BE(this.offset);
    this.offset += 8;
    return value;
  }
  lsn(): Lsn {
    const value = this.buffer.readBigUInt64BE(this.offset);
    this.offset += 8;
    return value;
  }
  timeMs(): number {
    return Number(this.int64() / 1000n) + PG_EPOCH_MS;
  }
  string(): string {
    const end = this.buffer.indexOf(0, this.offset);
    if (end < 0) throw new CaptureError("PROTOCOL_ERROR", "pgoutput: unterminated string");
    const value = this.buffer.toString("utf8", this.offset, end);
    this.offset = end + 1;
    return value;
  }
  /** `bytes(length).toString("utf8")` without the intermediate view (one per column value). */
  text(length: number): string {
    const start = this.offset;
    this.offset += length;
    return this.buffer.toString("utf8", start, start + length);
  }
  bytes(length: number): Buffer {
    const value = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }
}

/**
 * Stateful decoder: it remembers whether it is inside a stream block, because only there do change
 * messages start with a transaction id.
 */
export class PgoutputDecoder {
  private inStream = false;

  decode(buffer: Buffer): PgoutputMessage {
    const reader = new Reader(buffer);
    const tag = String.fromCharCode(reader.uint8());
    switch (tag) {
      case "B":
        return { tag: "begin", finalLsn: reader.lsn(), commitTimeMs: reader.timeMs(), xid: reader.uint32() };
      case "C": {
        reader.uint8();
        return {
          tag: "commit",
          commitLsn: reader.lsn(),
          endLsn: reader.lsn(),
          commitTimeMs: reader.timeMs(),
        };
      }
      case "O":
        return { tag: "origin", originLsn: reader.lsn(), name: reader.string() };
      case "R": {
        const xid = this.streamXid(reader);
        const relationOid = reader.uint32();
        const schema = reader.string();
        const name = reader.string();
        const replicaIdentity = replicaIdentityOf(reader.uint8());
        const count = reader.int16();
        const columns: RelationColumn[] = [];
        for (let i = 0; i < count; i++) {
          const flags = reader.uint8();
          columns.push({
            isKey: (flags & 1) === 1,
            name: reader.string(),
            typeOid: reader.uint32(),
            typeMod: reader.int32(),
          });
        }
        return { tag: "relation", xid, relationOid, schema, name, replicaIdentity, columns };
      }
      case "Y": {
        const xid = this.streamXid(reader);
        return { tag: "type", xid, typeOid: reader.uint32(), schema: reader.string(), name: reader.string() };
      }
      case "I": {
        const xid = this.streamXid(reader);
        const relationOid = reader.uint32();
        expectByte(reader, "N");
        return { tag: "insert", xid, relationOid, newTuple: readTuple(reader) };
      }
      case "U": {
        const xid = this.streamXid(reader);
        const relationOid = reader.uint32();
        let marker = String.fromCharCode(reader.uint8());
        let oldKind: UpdateMessage["oldKind"] = null;
        let oldTuple: TupleValue[] | null = null;
        if (marker === "K" || marker === "O") {
          oldKind = marker === "K" ? "key" : "full";
          oldTuple = readTuple(reader);
          marker = String.fromCharCode(reader.uint8());
        }
        if (marker !== "N") throw protocolError(`update: expected N, got ${marker}`);
        return { tag: "update", xid, relationOid, oldKind, oldTuple, newTuple: readTuple(reader) };
      }
      case "D": {
        const xid = this.streamXid(reader);
        const relationOid = reader.uint32();
        const marker = String.fromCharCode(reader.uint8());
        if (marker !== "K" && marker !== "O") throw protocolError(`delete: expected K or O, got ${marker}`);
        return {
          tag: "delete",
          xid,
          relationOid,
          oldKind: marker === "K" ? "key" : "full",
          oldTuple: readTuple(reader),
        };
      }
      case "T": {
        const xid = this.streamXid(reader);
        const count = reader.int32();
        const options = reader.uint8();
        const relationOids: number[] = [];
        for (let i = 0; i < count; i++) relationOids.push(reader.uint32());
        return {
          tag: "truncate",
          xid,
          cascade: (options & 1) === 1,
          restartIdentity: (options & 2) === 2,
          relationOids,
        };
      }
      case "M": {
        const xid = this.streamXid(reader);
        const flags = reader.uint8();
        const lsn = reader.lsn();
        const prefix = reader.string();
        const content = Buffer.from(reader.bytes(reader.int32()));
        return { tag: "message", xid, transactional: (flags & 1) === 1, lsn, prefix, content };
      }
      case "S": {
        this.inStream = true;
        return { tag: "stream_start", xid: reader.uint32(), firstSegment: reader.uint8() === 1 };
      }
      case "E":
        this.inStream = false;
        return { tag: "stream_stop" };
      case "c": {
        const xid = reader.uint32();
        reader.uint8();
        return {
          tag: "stream_commit",
          xid,
          commitLsn: reader.lsn(),
          endLsn: reader.lsn(),
          commitTimeMs: reader.timeMs(),
        };
      }
      case "A":
        return { tag: "stream_abort", xid: reader.uint32(), subXid: reader.uint32() };
      default:
        throw protocolError(`unknown message tag ${JSON.stringify(tag)}`);
    }
  }

  private streamXid(reader: Reader): number | undefined {
    return this.inStream ? reader.uint32() : undefined;
  }
}

function readTuple(reader: Reader): TupleValue[] {
  const count = reader.int16();
  const values: TupleValue[] = [];
  for (let i = 0; i < count; i++) {
    const kind = String.fromCharCode(reader.uint8());
    switch (kind) {
      case "n":
        values.push(null);
        break;
      case "u":
        values.push(UNCHANGED_TOAST);
        break;
      case "t":
        values.push(reader.text(reader.int32()));
        break;
      case "b":
        // Floe never asks for binary mode; a binary column means the slot was started by someone else.
        throw protocolError("binary tuple data received; Floe starts pgoutput in text mode");
      default:
        throw protocolError(`unknown tuple column kind ${JSON.stringify(kind)}`);
    }
  }
  return values;
}

function replicaIdentityOf(code: number): ReplicaIdentity {
  switch (String.fromCharCode(code)) {
    case "d":
      return "default";
    case "n":
      return "nothing";
    case "f":
      return "full";
    case "i":
      return "index";
    default:
      throw protocolError(`unknown replica identity ${String.fromCharCode(code)}`);
  }
}

function expectByte(reader: Reader, expected: string): void {
  const got = String.fromCharCode(reader.uint8());
  if (got !== expected) throw protocolError(`expected ${expected}, got ${got}`);
}

function protocolError(detail: string): CaptureError {
  return new CaptureError("PROTOCOL_ERROR", `pgoutput: ${detail}`);
}
