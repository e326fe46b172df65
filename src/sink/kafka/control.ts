/**
 * The control topic of `floe sink`: the events workers and the coordinator exchange to commit rounds,
 * and their JSON encoding (DataFile bigints, byte arrays and maps survive the round trip).
 *
 *   coordinator ── start-commit{round, epoch} ──▶ workers
 *   worker ── in ONE Kafka transaction with its consumed offsets ──▶ data-written{round, table, files}…
 *                                                                    data-complete{round, partitions}
 *   coordinator ── commits every table's files in one catalog transaction ──▶ commit-complete{rounds, snapshots}
 *
 * A worker's files and the offsets they cover become visible together (read_committed) or not at all,
 * so a file is never published for changes a restarted worker would read again. The coordinator records
 * the control-topic offset of what it committed in each table's snapshot summary, so a file is never
 * committed twice. Records are keyed by the sink id: several sinks may share one control topic.
 */
import type { Admin } from "@platformatic/kafka";
import type { TableIdentifier } from "../../catalog/catalog.ts";
import type { DataFile } from "../../iceberg/data-file.ts";
import { SinkError } from "../errors.ts";

export const DEFAULT_CONTROL_TOPIC = "floe-sink-control";

/** The consumer group whose one member holding control partition 0 is the sink's coordinator. */
export function coordinatorGroupId(sinkId: string): string {
  return `${sinkId}-coordinator`;
}

/**
 * The coordinator group's committed control-topic offset (-1 when it never committed). A coordinator
 * commits it only after the tables hold everything below it: workers wait on it after a rebalance,
 * and a newly elected coordinator reads the control topic from it.
 */
export async function committedControlOffset(
  admin: Admin,
  sinkId: string,
  controlTopic: string,
): Promise<bigint> {
  const groups = await admin.listConsumerGroupOffsets({
    groups: [
      { groupId: coordinatorGroupId(sinkId), topics: [{ name: controlTopic, partitionIndexes: [0] }] },
    ],
  });
  return groups[0]?.topics[0]?.partitions[0]?.committedOffset ?? -1n;
}

/** Snapshot-summary properties a coordinator commit carries (besides `floe.sink.id`). */
export const SINK_CONTROL_OFFSET_PROPERTY = "floe.sink.control-offset";
export const SINK_EPOCH_PROPERTY = "floe.sink.epoch";
export const SINK_ROUNDS_PROPERTY = "floe.sink.rounds";
/** The publications (`<round>/<worker>`) whose files for this table the snapshot committed. */
export const SINK_PUBLICATIONS_PROPERTY = "floe.sink.publications";

/** How a worker's files of one round are named in commit-complete and snapshot summaries. */
export function publicationId(round: string, worker: string): string {
  return `${round}/${worker}`;
}

export interface StagedFile {
  file: DataFile;
  specId: number;
}

export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  /** The next offset to read (everything before it is covered). */
  offset: string;
  /** Transaction-consistent mode: events read from the partition but held back (their transaction is not yet complete). */
  held?: TransactionCount[];
}

/** Transaction-consistent mode: `[transaction id, data collection ("schema.table"), events]`. */
export type TransactionCount = [string, string, number];

export type ControlEvent =
  | {
      type: "start-commit";
      sinkId: string;
      round: string;
      epoch: number;
      tsMs: number;
      /**
       * Transaction-consistent mode: the commit LSN up to which PostgreSQL transactions are complete
       * (every event of each is consumed by some worker); workers write only those, holding the rest.
       */
      frontier?: string;
      /**
       * Transaction-consistent mode: every data-written event below this control-topic offset is in the
       * tables (or known to be), so a worker that took over partitions may re-read its keys.
       */
      committedThrough?: string;
    }
  | {
      type: "data-written";
      sinkId: string;
      round: string;
      worker: string;
      table: TableIdentifier;
      dataFiles: StagedFile[];
      deleteFiles: StagedFile[];
      /** Committed data files the position deletes target (validated at commit). */
      referencedDataFiles: string[];
      /**
       * The deletes to use instead when a target was compacted away first (equality deletes of the
       * keys, plus the round-own position deletes); null when the round has none (e.g. a TRUNCATE).
       */
      equalityFallback: StagedFile[] | null;
    }
  | {
      type: "data-complete";
      sinkId: string;
      round: string;
      worker: string;
      /** Every partition the worker owns, with the offset its published files reach. */
      partitions: TopicPartitionOffset[];
      /** Transaction-consistent mode: the events of the transactions this publication wrote. */
      released?: TransactionCount[];
      /** Transaction-consistent mode: the worker waits for rounds published before its last rebalance. */
      waitingForRounds?: boolean;
    }
  | {
      type: "commit-complete";
      sinkId: string;
      epoch: number;
      /** Rounds some of whose files are now in the tables. */
      rounds: string[];
      tables: Array<{ table: TableIdentifier; snapshotId: string }>;
      /**
       * Exactly which workers' files went in: per table, the publications (`<round>/<worker>`) it
       * committed. A round's files can land in several commits (one worker's transaction was still
       * being read when the first began), so a worker waits for its own publication, not the round.
       */
      publications?: Array<{ table: TableIdentifier; ids: string[] }>;
      /**
       * Transaction-consistent mode: every transaction up to this commit LSN is now in the tables; the
       * transaction topic's END records are read again from `transactionOffset` by a new coordinator.
       */
      committed?: { lsn: string; transactionOffset: string };
    };

/** JSON with tagged bigints, byte arrays and maps (DataFile metrics and bounds). */
export function encodeControlEvent(event: ControlEvent): string {
  return JSON.stringify(event, function replacer(this: unknown, _key: string, value: unknown) {
    if (typeof value === "bigint") return { $n: value.toString() };
    if (value instanceof Map) return { $m: [...value.entries()] };
    if (value instanceof Uint8Array) return { $b: Buffer.from(value).toString("base64") };
    if (isSerializedBuffer(value)) return { $b: Buffer.from(value.data).toString("base64") };
    return value;
  });
}

export function decodeControlEvent(text: string, where: string): ControlEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text, (_key, value: unknown) => {
      if (value !== null && typeof value === "object" && !Array.isArray(value)) {
        const tagged = value as Record<string, unknown>;
        const keys = Object.keys(tagged);
        if (keys.length === 1) {
          if (typeof tagged.$n === "string") return BigInt(tagged.$n);
          if (Array.isArray(tagged.$m)) return new Map(tagged.$m as [unknown, unknown][]);
          if (typeof tagged.$b === "string") return new Uint8Array(Buffer.from(tagged.$b, "base64"));
        }
      }
      return value;
    });
  } catch (error) {
    throw new SinkError("CHANGE_INVALID", `control record ${where} is not JSON: ${(error as Error).message}`);
  }
  const type = (parsed as { type?: unknown } | null)?.type;
  if (
    type !== "start-commit" &&
    type !== "data-written" &&
    type !== "data-complete" &&
    type !== "commit-complete"
  ) {
    throw new SinkError("CHANGE_INVALID", `control record ${where} has unknown type ${JSON.stringify(type)}`);
  }
  return parsed as ControlEvent;
}

function isSerializedBuffer(value: unknown): value is { type: "Buffer"; data: number[] } {
  return (
    value !== null &&
    typeof value === "object" &&
    (value as { type?: unknown }).type === "Buffer" &&
    Array.isArray((value as { data?: unknown }).data)
  );
}

export function tableKey(table: TableIdentifier): string {
  return [...table.namespace, table.name].join(".");
}
